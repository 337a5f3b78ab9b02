package crashtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poolbot/poolbot/bot"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
	_ "github.com/poolbot/poolbot/store/sqlite" // the sqlite driver, to read the store
)

// poolbot is the binary the trials run, built once as the Dockerfile
// builds it (and as CI's build step does, so its build cache serves it);
// the trials run it as `poolbot serve` on a simulated clock that keeps the
// simulator's time.
func build(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "poolbot")
	began := time.Now()
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/poolbot/poolbot/cmd/poolbot")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build poolbot: %v\n%s", err, out)
	}
	t.Logf("built poolbot in %s", time.Since(began).Round(time.Millisecond))
	return bin
}

const (
	speed   = 120 // simulated seconds per real second
	secret  = "crash-signing-secret"
	channel = "C0CRASH"
	cmdPool = "linux-ci"   // changed by /pool standby
	imgPool = "image-ci"   // its image swapped by /pool image
	schPool = "windows-ci" // changed by its schedule, every simulated minute
)

var imageVersions = [2]string{"1.1.0", "1.2.0"}

func imageID(version string) string {
	return "/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup +
		"/providers/Microsoft.Compute/galleries/" + sim.Gallery + "/images/ubuntu22/versions/" + version
}

// lanes is how many worlds run trials at once. A trial mostly waits (for
// a restart to settle, for the change it kills, for the next simulated
// minute), so two worlds, each with its own simulator, Slack, store and
// process, take about half the time of one; every trial is the same.
const lanes = 2

// TestCrash: at least 100 trials of SIGKILL at a random moment of a
// command, an image swap or a scheduled change, each followed by a restart
// on the same store, split among the lanes.
func TestCrash(t *testing.T) {
	trials := 100
	if testing.Short() {
		trials = 20
	}
	if v, err := strconv.Atoi(os.Getenv("POOLBOT_CRASH_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	bin := build(t)
	results := make([]laneResult, lanes)
	t.Run("lanes", func(t *testing.T) {
		for l := range lanes {
			n := trials / lanes
			if l < trials%lanes {
				n++
			}
			t.Run(fmt.Sprintf("lane%d", l), func(t *testing.T) {
				t.Parallel()
				results[l] = runLane(t, bin, n, uint64(l))
			})
		}
	})
	var sum laneResult
	for _, r := range results {
		sum.trials += r.trials
		sum.changes += r.changes
		sum.swaps += r.swaps
		sum.scheduled += r.scheduled
		sum.settled += r.settled
		sum.mismatches += r.mismatches
		sum.worst = max(sum.worst, r.worst)
	}
	t.Logf("crash test: %d trials (SIGKILL at random moments) in %d lanes, %d changes reached Azure (%d settings by command, %d image swaps, %d scheduled), "+
		"%d swaps interrupted and settled, %d mismatches, worst time to recover %s",
		sum.trials, lanes, sum.changes+sum.swaps+sum.scheduled, sum.changes, sum.swaps, sum.scheduled, sum.settled, sum.mismatches, sum.worst.Round(time.Millisecond))
	fmt.Printf("crash test: trials %d, changes %d, mismatches %d, worst time to recover %s\n",
		sum.trials, sum.changes+sum.swaps+sum.scheduled, sum.mismatches, sum.worst.Round(time.Millisecond))
}

// laneResult is what one lane's trials did.
type laneResult struct {
	trials, changes, swaps, scheduled, settled, mismatches int
	worst                                                  time.Duration
}

// runLane runs trials on a world of its own: calibration, then each trial
// a restart, a check and a change killed at a random moment; then the last
// restart, a check and a clean stop.
func runLane(t *testing.T, bin string, trials int, lane uint64) laneResult {
	w := newWorld(t, bin)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15+lane))
	if _, err := w.start(-1); err != nil {
		t.Fatal(err)
	}
	w.calibrate(t)
	w.kill()
	var worst time.Duration
	var mismatches []string
	for i := range trials {
		rec, err := w.start(i)
		if err != nil {
			t.Fatalf("trial %d: %v", i, err)
		}
		worst = max(worst, rec)
		if probs := w.check(i); len(probs) > 0 {
			mismatches = append(mismatches, probs...)
			for _, p := range probs {
				t.Errorf("trial %d: %s", i, p)
			}
			if len(mismatches) > 20 {
				t.Fatalf("too many mismatches; logs in %s", w.dir)
			}
		}
		kind := []string{"command", "swap", "schedule"}[i%3]
		w.act(t, i, kind, rng)
		w.kill()
	}
	// The last trial's restart, then a clean stop.
	rec, err := w.start(trials)
	if err != nil {
		t.Fatal(err)
	}
	worst = max(worst, rec)
	last := w.check(trials)
	for _, p := range last {
		t.Errorf("after the last trial: %s", p)
	}
	mismatches = append(mismatches, last...)
	w.stop()
	changes, swaps, scheduled := w.changes()
	t.Logf("%d trials, %d changes reached Azure (%d settings by command, %d image swaps, %d scheduled), "+
		"%d swaps interrupted and settled, %d mismatches, worst time to recover %s",
		trials, changes+swaps+scheduled, changes, swaps, scheduled, w.settledSwaps(), len(mismatches), worst.Round(time.Millisecond))
	if changes == 0 || swaps == 0 || scheduled == 0 {
		t.Errorf("a kind of change never reached Azure: %d commands, %d swaps, %d scheduled", changes, swaps, scheduled)
	}
	return laneResult{trials: trials, changes: changes, swaps: swaps, scheduled: scheduled, settled: w.settledSwaps(),
		mismatches: len(mismatches), worst: worst}
}

// world is the simulator, the Slack stub, the store and the poolbot
// process the trials run on.
type world struct {
	t        *testing.T
	dir      string
	bin      string
	sim      *sim.Sim
	rec      *recorder
	stub     *slackstub.Stub
	cfgPath  string
	db       *sql.DB
	epoch    time.Time
	simStart time.Time

	cmd      *exec.Cmd
	base     string    // the process's HTTP address
	startSim time.Time // simulated time at the process's start
	stderr   *os.File
	sent     []string // response ids of the standby commands sent

	stale []string // leases of a dead process found live once the restart served

	// How long a command and a swap take unhurt: kills are drawn within.
	cmdTook, swapTook time.Duration
}

// calibrate times commands and swaps that are not killed (the slowest of
// three of each, once warm).
func (w *world) calibrate(t *testing.T) {
	for i := range 4 {
		id := fmt.Sprintf("calibrate-cmd-%d", i)
		w.sent = append(w.sent, id)
		began := time.Now()
		w.command(fmt.Sprintf("standby %s %d", cmdPool, 3+i%2), id)
		if _, err := w.stub.WaitForResponses(id, 1, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			w.cmdTook = max(w.cmdTook, time.Since(began))
		}
		id = fmt.Sprintf("calibrate-swap-%d", i)
		w.command(fmt.Sprintf("image %s %s", imgPool, imageID(imageVersions[1-i%2])), id)
		rs, err := w.stub.WaitForResponses(id, 1, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		began = time.Now()
		w.press(uuidRE.FindString(string(rs[0].Blocks)), id+"-press")
		if _, err := w.stub.WaitForResponses(id+"-press", 2, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			w.swapTook = max(w.swapTook, time.Since(began))
		}
	}
	t.Logf("unhurt: a command takes %s, a swap %s (slowest of three)", w.cmdTook, w.swapTook)
}

// within draws a delay in [0.2 d, 1.2 d]: the whole of an operation,
// little of the time before the request is even read.
func within(rng *rand.Rand, d time.Duration) time.Duration {
	return d/5 + time.Duration(rng.Int64N(int64(d)+1))
}

func newWorld(t *testing.T, bin string) *world {
	dir := t.TempDir()
	start := time.Date(2026, 1, 6, 8, 0, 0, 0, time.UTC) // a Tuesday morning
	s := sim.New(sim.Options{Seed: 15, Start: start, Pools: []sim.PoolSpec{
		{Name: cmdPool, OS: pool.Linux, Max: 10, Standby: 2, TTLMinutes: 30, SKU: "Standard_D4s_v5", Region: sim.Region, JobsPerHour: 1},
		{Name: schPool, OS: pool.Linux, Max: 10, Standby: 1, TTLMinutes: 30, SKU: "Standard_D4s_v5", Region: sim.Region, JobsPerHour: 1},
		{Name: imgPool, OS: pool.Linux, Max: 4, Standby: 0, TTLMinutes: 30, SKU: "Standard_D4s_v5", Region: sim.Region, JobsPerHour: 1},
	}})
	w := &world{t: t, dir: dir, bin: bin, sim: s, stub: slackstub.New()}
	t.Cleanup(w.stub.Close)
	w.rec = newRecorder(s)
	srv := httptest.NewServer(w.rec)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w.epoch, w.simStart = time.Now(), s.Now()
	go func() { s.Run(ctx, speed); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	dbPath := filepath.Join(dir, "poolbot.db")
	text := fmt.Sprintf(`
[azure_devops]
organization_url = "%[1]s/contoso"
auth = "pat"
pat = "crash-pat"

[azure]
resource_manager_url = "%[1]s/"
retail_prices_url = "%[1]s/api/retail/prices"
subscription = "%[2]s"
resource_group = "%[3]s"
auth = "static"
static_token = "crash-token"

[slack]
mode = "http"
signing_secret = "%[4]s"
bot_token = "xoxb-crash"
api_url = "%[5]s"
channel = "%[6]s"
response_url_hosts = ["%[9]s"]

[[roles]]
name = "admin"
users = ["U1"]

[[schedules]]
name = "flip"
pools = ["%[7]s"]
timezone = "UTC"
channel = "%[6]s"

[[schedules.entries]]
cron = "*/2 * * * *"
standby = 1

[[schedules.entries]]
cron = "1-59/2 * * * *"
standby = 2

[alerts]
interval = "1h"

[cost.prices]
Standard_D4s_v5 = 0.192

[store]
path = "%[8]s"

[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"

[log]
level = "info"
`, srv.URL, sim.Subscription, sim.ResourceGroup, secret, w.stub.APIURL(), channel, schPool, dbPath, stubHost(w.stub))
	w.cfgPath = filepath.Join(dir, "config.toml")
	if err := os.WriteFile(w.cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if w.cmd != nil {
			w.kill()
		}
		if w.db != nil {
			w.db.Close()
		}
	})
	return w
}

// start runs a new poolbot process on the store, as a restart does, and
// waits until what the previous one left is settled: no open change, no
// change untold, no message unsent, no lease of the dead process. It
// returns how long that took from the start of the process.
func (w *world) start(trial int) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	cfg, err := os.ReadFile(w.cfgPath)
	if err != nil {
		return 0, err
	}
	re := regexp.MustCompile(`listen = "[^"]*"`)
	path := filepath.Join(w.dir, fmt.Sprintf("config-%d.toml", trial))
	os.WriteFile(path, re.ReplaceAll(cfg, []byte(fmt.Sprintf(`listen = "127.0.0.1:%d"`, port))), 0o600)
	w.stderr, err = os.Create(filepath.Join(w.dir, fmt.Sprintf("poolbot-%d.log", trial)))
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(w.bin, "serve", "--config", path, "--clock-start", w.simStart.Format(time.RFC3339),
		"--clock-epoch", strconv.FormatInt(w.epoch.UnixMilli(), 10), "--clock-speed", strconv.Itoa(speed))
	cmd.Stdout, cmd.Stderr = w.stderr, w.stderr
	began := time.Now()
	w.startSim = w.sim.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	w.cmd = cmd
	w.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	if w.db == nil {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(w.dir, "poolbot.db")+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			return 0, err
		}
		w.db = db
	}
	deadline := time.Now().Add(20 * time.Second)
	checked := false
	for time.Now().Before(deadline) {
		if !checked && w.healthy() {
			// Serving: the leases the killed process held must be gone, not
			// left to lapse.
			checked = true
			w.stale = w.staleLeases()
		}
		if checked && w.settled() {
			took := time.Since(began)
			// A read warms the process's connections, as a replica that has
			// been serving has them warm.
			id := fmt.Sprintf("warm-%d", trial)
			w.command("list", id)
			w.stub.WaitForResponses(id, 1, 5*time.Second)
			return took, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("not settled within 20 s of the restart; log %s", w.stderr.Name())
}

// staleLeases returns the live leases taken before this process started.
func (w *world) staleLeases() []string {
	now := w.sim.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	rows, err := w.db.Query(`SELECT lease_key, info FROM leases WHERE until_at > ?`, now)
	if err != nil {
		return []string{err.Error()}
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var key, info string
		if rows.Scan(&key, &info) != nil {
			continue
		}
		var in struct {
			Since time.Time `json:"since"`
		}
		if json.Unmarshal([]byte(info), &in) == nil && in.Since.Before(w.startSim.Add(-time.Second)) {
			out = append(out, key+" held since "+in.Since.Format(time.RFC3339))
		}
	}
	return out
}

func (w *world) healthy() bool {
	resp, err := http.Get(w.base + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// settled reports whether the store holds nothing left to do: no open
// change, no finished change untold, no message unsent, no live lease
// taken before this process started.
func (w *world) settled() bool {
	var open, pending, stale int
	q := func(query string, dst *int, args ...any) bool {
		return w.db.QueryRow(query, args...).Scan(dst) == nil
	}
	now := w.sim.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	return q(`SELECT COUNT(*) FROM intents WHERE state = 'open' OR reported = 0`, &open) && open == 0 &&
		q(`SELECT COUNT(*) FROM outbox`, &pending) && pending == 0 &&
		q(`SELECT COUNT(*) FROM leases WHERE until_at > ?`, &stale, now) && stale == 0
}

// kill ends the process with SIGKILL.
func (w *world) kill() {
	w.cmd.Process.Signal(syscall.SIGKILL)
	w.cmd.Wait()
	w.cmd = nil
	w.stderr.Close()
}

// stop ends the process with SIGTERM.
func (w *world) stop() {
	w.cmd.Process.Signal(syscall.SIGTERM)
	w.cmd.Wait()
	w.cmd = nil
	w.stderr.Close()
}

// act starts one change and kills the process at a random moment of it:
// after a random delay within the time the change takes, or as its call
// reaches Azure (before Azure's answer reaches poolbot, or just after).
func (w *world) act(t *testing.T, trial int, kind string, rng *rand.Rand) {
	target := map[string]string{"command": cmdPool, "swap": imgPool, "schedule": schPool}[kind]
	mode := rng.IntN(3)
	fired := make(chan struct{})
	var once sync.Once
	if mode > 0 {
		jitter := time.Duration(rng.IntN(3000)) * time.Microsecond
		w.rec.setHook(func(name string, answered bool) {
			if name != target || answered != (mode == 2) {
				return
			}
			once.Do(func() {
				if answered {
					time.Sleep(jitter)
				}
				w.cmd.Process.Signal(syscall.SIGKILL)
				close(fired)
			})
		})
		defer w.rec.setHook(nil)
	}
	wait := func(random time.Duration) {
		if mode == 0 {
			time.Sleep(random)
			return
		}
		select {
		case <-fired:
		case <-time.After(2 * time.Second):
			t.Logf("trial %d: %s never reached Azure; killed after 2 s", trial, kind)
		}
	}
	switch kind {
	case "command":
		cur, _ := w.sim.Settings(cmdPool)
		n := 1 + rng.IntN(5)
		if cur.Standby != nil && *cur.Standby == n {
			n = n%5 + 1
		}
		id := fmt.Sprintf("cmd-%d", trial)
		w.sent = append(w.sent, id)
		w.command(fmt.Sprintf("standby %s %d", cmdPool, n), id)
		wait(within(rng, w.cmdTook))
	case "swap":
		id := fmt.Sprintf("swap-%d", trial)
		img := imageID(imageVersions[0])
		if strings.EqualFold(w.rec.image(imgPool), img) {
			img = imageID(imageVersions[1])
		}
		w.command(fmt.Sprintf("image %s %s", imgPool, img), id)
		rs, err := w.stub.WaitForResponses(id, 1, 5*time.Second)
		if err != nil {
			return
		}
		m := uuidRE.FindString(string(rs[0].Blocks))
		if m == "" {
			t.Logf("trial %d: no confirmation: %q", trial, rs[0].Text)
			return
		}
		w.press(m, id+"-press")
		wait(within(rng, w.swapTook))
	case "schedule":
		// The schedule changes schPool at every simulated minute: kill
		// around the next one.
		now := w.sim.Now()
		next := now.Truncate(time.Minute).Add(time.Minute)
		d := time.Duration(float64(next.Sub(now))/speed) - 10*time.Millisecond
		wait(d + within(rng, 40*time.Millisecond))
	}
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func (w *world) command(text, responseID string) {
	form := url.Values{"command": {"/pool"}, "text": {text}, "user_id": {"U1"}, "user_name": {"ann"},
		"channel_id": {channel}, "team_id": {"T1"}, "response_url": {w.stub.ResponseURLIn(responseID, channel)}}
	w.post("/slack/commands", form.Encode())
}

func (w *world) press(value, responseID string) {
	payload := fmt.Sprintf(`{"type":"block_actions","user":{"id":"U1","name":"ann"},"channel":{"id":%q},"team":{"id":"T1"},`+
		`"response_url":%q,"trigger_id":"t","actions":[{"action_id":"confirm","block_id":"confirm-%s","value":%q,"type":"button"}]}`,
		channel, w.stub.ResponseURL(responseID), value, value)
	w.post("/slack/interactivity", url.Values{"payload": {payload}}.Encode())
}

func (w *world) post(path, body string) {
	ts, sig := bot.Sign(secret, time.Now(), []byte(body))
	req, _ := http.NewRequest("POST", w.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// check compares what reached Azure with the audit trail and Slack. The
// process runs meanwhile (the schedule goes on), so it reads a consistent
// snapshot: nothing open, nothing unsent, and no new call to Azure while it
// read.
func (w *world) check(trial int) []string {
	for try := 0; ; try++ {
		before := w.rec.len()
		if !w.settled() {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		audit, err := w.audit()
		if err != nil {
			return []string{err.Error()}
		}
		msgs, updates := w.stub.Messages(), w.stub.Updates()
		responses := map[string][]slackstub.Response{}
		for _, id := range w.sent {
			responses[id] = w.stub.Responses(id)
		}
		calls := w.rec.calls()
		if len(calls) != before || !w.settled() {
			if try > 400 {
				return []string{"no quiet moment to check in"}
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		probs := compare(calls, audit, msgs, updates, responses)
		for _, l := range w.stale {
			probs = append(probs, "the restart still found the killed process's lease on "+l)
		}
		return probs
	}
}

func (w *world) audit() ([]pool.AuditEntry, error) {
	rows, err := w.db.Query(`SELECT pool, command, before_value, after_value, result FROM audit ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pool.AuditEntry
	for rows.Next() {
		var e pool.AuditEntry
		if err := rows.Scan(&e.Pool, &e.Command, &e.Before, &e.After, &e.Result); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// compare holds the crash test's promises: every change that reached Azure
// has exactly one audit row and one Slack line; no change is applied twice;
// every swap's message ends done or not changed.
func compare(calls []call, audit []pool.AuditEntry, msgs []slackstub.Message, updates []slackstub.Update,
	responses map[string][]slackstub.Response) []string {
	var probs []string
	applied := map[string]int{}
	for _, c := range calls {
		if !c.changed {
			probs = append(probs, fmt.Sprintf("%s: a call to Azure changed nothing (applied twice?): %s", c.pool, c.what))
			continue
		}
		applied[c.pool]++
	}
	audited := map[string]int{}
	for _, e := range audit {
		if !strings.HasPrefix(e.Result, "ok") || e.Before == e.After || strings.HasPrefix(e.After, "reimage") {
			continue
		}
		audited[e.Pool]++
	}
	told := map[string]int{}
	lines := map[string][]string{}
	for id, rs := range responses {
		for _, r := range rs {
			if r.ResponseType == "in_channel" && strings.Contains(r.Text, cmdPool+" standby") {
				told[cmdPool]++
				lines[cmdPool] = append(lines[cmdPool], id+": "+r.Text)
			}
		}
	}
	final := map[string]string{} // the swap messages' latest text, by ts
	for _, m := range msgs {
		switch {
		case strings.Contains(m.Text, "was applied to "+cmdPool):
			told[cmdPool]++
			lines[cmdPool] = append(lines[cmdPool], "posted: "+m.Text)
		case strings.HasPrefix(m.Text, "⏰ "+schPool+":"):
			told[schPool]++
		case strings.Contains(m.Text, "changing the image of *"+imgPool+"*"), strings.Contains(m.Text, "the image of *"+imgPool+"*"):
			final[m.TS] = m.Text
		}
	}
	for _, u := range updates {
		if _, ok := final[u.TS]; ok {
			final[u.TS] = u.Text
		}
	}
	for ts, text := range final {
		switch {
		case strings.HasPrefix(text, "✅"):
			told[imgPool]++
			lines[imgPool] = append(lines[imgPool], ts+": "+text)
		case strings.HasPrefix(text, "✖"):
		default:
			probs = append(probs, fmt.Sprintf("swap message %s never ended: %q", ts, text))
		}
	}
	for _, p := range []string{cmdPool, imgPool, schPool} {
		if applied[p] != audited[p] || applied[p] != told[p] {
			probs = append(probs, fmt.Sprintf("%s: %d changes reached Azure, %d audited, %d told in Slack %q", p, applied[p], audited[p], told[p], lines[p]))
		}
	}
	return probs
}

// changes counts the changes that reached Azure, by kind.
func (w *world) changes() (commands, swaps, scheduled int) {
	for _, c := range w.rec.calls() {
		if !c.changed {
			continue
		}
		switch c.pool {
		case cmdPool:
			commands++
		case imgPool:
			swaps++
		case schPool:
			scheduled++
		}
	}
	return
}

// settledSwaps counts the swaps a restart finished or declared not done.
func (w *world) settledSwaps() int {
	n := 0
	for _, u := range w.stub.Updates() {
		if strings.Contains(u.Text, "finished after poolbot restarted") || strings.Contains(u.Text, "was not changed: poolbot stopped") {
			n++
		}
	}
	return n
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// call is a change request that reached the simulator.
type call struct {
	pool    string
	what    string
	changed bool // it changed the pool; false: it asked for what was there
}

// recorder serves the simulator and records every request that changes a
// pool's settings or a scale set's image, with whether it changed anything.
type recorder struct {
	sim *sim.Sim
	mu  sync.Mutex // one change at a time, so that before and after are its own
	rmu sync.Mutex
	log []call
	img map[string]string // scale set name → image id, as last set

	hmu  sync.Mutex
	hook func(pool string, answered bool) // told of each change before and after its answer
}

// setHook makes the recorder call f with each change's pool, before its
// answer is written (answered false) and after; nil stops it.
func (r *recorder) setHook(f func(pool string, answered bool)) {
	r.hmu.Lock()
	r.hook = f
	r.hmu.Unlock()
}

func (r *recorder) fire(name string, answered bool) {
	r.hmu.Lock()
	f := r.hook
	r.hmu.Unlock()
	if f != nil {
		f(name, answered)
	}
}

func newRecorder(s *sim.Sim) *recorder {
	return &recorder{sim: s, img: map[string]string{imgPool: imageID("1.1.0")}}
}

var imageRefRE = regexp.MustCompile(`"imageReference":\{"id":"([^"]+)"`)

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		r.sim.ServeHTTP(w, req)
		return
	}
	path := strings.ToLower(req.URL.Path)
	switch {
	case strings.Contains(path, "/elasticpools/"):
		r.mu.Lock()
		defer r.mu.Unlock()
		before := r.settings()
		rw := httptest.NewRecorder()
		r.sim.ServeHTTP(rw, req)
		if rw.Code >= 300 {
			answer(w, rw)
			return
		}
		after := r.settings()
		changed := ""
		for name, s := range after {
			if s != before[name] {
				r.add(call{pool: name, what: before[name] + " → " + s, changed: true})
				changed = name
			}
		}
		if changed == "" {
			r.add(call{pool: "unknown", what: "PATCH " + req.URL.Path + " changed nothing"})
		}
		r.fire(changed, false)
		answer(w, rw)
		r.fire(changed, true)
	case strings.Contains(path, "/virtualmachinescalesets/") && (req.Method == http.MethodPut || req.Method == http.MethodPatch) &&
		!strings.Contains(path, "/reimage") && !strings.Contains(path, "/delete"):
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.mu.Lock()
		defer r.mu.Unlock()
		rw := httptest.NewRecorder()
		r.sim.ServeHTTP(rw, req)
		m := imageRefRE.FindSubmatch(bytes.ReplaceAll(body, []byte(" "), nil))
		if rw.Code >= 300 || m == nil {
			answer(w, rw)
			return
		}
		name := path[strings.LastIndex(path, "/")+1:]
		want := string(m[1])
		if strings.EqualFold(r.img[name], want) {
			r.add(call{pool: name, what: "image set again to " + want})
		} else {
			r.add(call{pool: name, what: r.img[name] + " → " + want, changed: true})
			r.img[name] = want
		}
		r.fire(name, false)
		answer(w, rw)
		r.fire(name, true)
	default:
		r.sim.ServeHTTP(w, req)
	}
}

// answer copies a recorded answer to w.
func answer(w http.ResponseWriter, rw *httptest.ResponseRecorder) {
	for k, v := range rw.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rw.Code)
	w.Write(rw.Body.Bytes())
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) settings() map[string]string {
	out := map[string]string{}
	for _, n := range r.sim.PoolNames() {
		s, _ := r.sim.Settings(n)
		out[n] = s.String()
	}
	return out
}

// image is the image last set on the scale set.
func (r *recorder) image(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.img[name]
}

func (r *recorder) add(c call) {
	r.rmu.Lock()
	r.log = append(r.log, c)
	r.rmu.Unlock()
}

func (r *recorder) len() int {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return len(r.log)
}

func (r *recorder) calls() []call {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return slices.Clone(r.log)
}

// stubHost is the local Slack's host:port, which its response_urls name.
func stubHost(s *slackstub.Stub) string {
	u, err := url.Parse(s.APIURL())
	if err != nil {
		panic(err)
	}
	return u.Host
}
