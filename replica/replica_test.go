package replica

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
	"github.com/poolbot/poolbot/store/postgres"
)

const (
	// speed runs the simulator, and the replicas' clocks with it, 100×:
	// the schedule's entries, 10 simulated minutes apart, come every 6 s.
	speed    = 100
	every    = 10 * time.Minute
	takeover = 15 * time.Second
)

// database creates a database of its own on the test server, so that the
// advisory lock and the tables are this test's alone.
func database(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("POOLBOT_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("POOLBOT_REQUIRE_POSTGRES") == "1" {
			t.Fatal("POOLBOT_TEST_POSTGRES is not set")
		}
		t.Skip("POOLBOT_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("poolbot_replica_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("the DSN is not a URL")
	}
	u.Path = "/" + name
	return u.String()
}

// build compiles poolbot once.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "poolbot")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/poolbot")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type replica struct {
	name string
	cmd  *exec.Cmd
	addr chan string
	base string
	done chan struct{}

	mu   sync.Mutex
	logs []string
}

func (r *replica) metrics() (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(r.base + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (r *replica) leads() bool {
	m, err := r.metrics()
	return err == nil && strings.Contains(m, "\npoolbot_leader 1\n")
}

func (r *replica) alive() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

func (r *replica) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.logs, "\n")
}

func start(t *testing.T, bin, config, name string, simStart time.Time, epoch time.Time) *replica {
	t.Helper()
	r := &replica{name: name, addr: make(chan string, 1), done: make(chan struct{})}
	r.cmd = exec.Command(bin, "serve", "--config", config, "--replica", name,
		"--clock-start", simStart.Format(time.RFC3339Nano), "--clock-epoch", fmt.Sprint(epoch.UnixMilli()),
		"--clock-speed", fmt.Sprint(speed))
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			r.logs = append(r.logs, line)
			r.mu.Unlock()
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
				r.addr <- l.Addr
			}
		}
		r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		if r.alive() {
			r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("logs of %s:\n%s", r.name, r.log())
		}
	})
	select {
	case a := <-r.addr:
		r.base = "http://" + a
	case <-r.done:
		t.Fatalf("%s exited at start:\n%s", name, r.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start listening:\n%s", name, r.log())
	}
	return r
}

// Three replicas on one PostgreSQL and the simulator. The leader is killed
// with SIGKILL; another takes its schedule and alerts over within 15 s; no
// scheduled change is applied twice and none is missed, and the alert is
// posted once and kept up to date.
func TestKillTheLeader(t *testing.T) {
	dsn := database(t)
	bin := build(t)

	// Sunday 23:00 UTC: gpu-nightly's jobs (00:00–05:00 Paris) start, and
	// fail: with this seed its first agent fails at 23:08 (with seed 1, at
	// 23:28, 12 s later in real time, all of it spent waiting).
	simStart := time.Date(2026, 1, 4, 23, 0, 0, 0, time.UTC)
	s := sim.New(sim.Options{Seed: 2, Start: simStart})
	simSrv := httptest.NewServer(s)
	defer simSrv.Close()
	stub := slackstub.New()
	defer stub.Close()

	dir := t.TempDir()
	config := filepath.Join(dir, "config.toml")
	text := fmt.Sprintf(`
[azure_devops]
organization_url = "%[1]s/contoso"
auth = "pat"
pat = "replica-test"

[azure]
resource_manager_url = "%[1]s/"
retail_prices_url = "%[1]s/api/retail/prices"
subscription = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-agents"
auth = "static"
static_token = "replica-test"

[slack]
mode = "http"
signing_secret = "replica-test-secret"
bot_token = "xoxb-replica"
api_url = "%[2]s"
channel = "C0OPS"

# linux-ci alternates every 10 simulated minutes between standby 3 and 1,
# from 23:05: two changes (the catch-up of 22:55, then 23:05) before the
# alert, and two more soon after the takeover.
[[schedules]]
name = "flip"
pools = ["linux-ci"]
timezone = "UTC"
channel = "C0OPS"

[[schedules.entries]]
cron = "5,25,45 * * * *"
standby = 3

[[schedules.entries]]
cron = "15,35,55 * * * *"
standby = 1

[alerts]
interval = "60s"

[cost.prices]
Standard_D4s_v5 = 0.192
Standard_NC4as_T4_v3 = 0.526

[store]
driver = "postgres"
dsn = "${POOLBOT_REPLICA_DSN}"

[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"

[log]
format = "json"
level = "info"
`, simSrv.URL, stub.APIURL())
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POOLBOT_REPLICA_DSN", dsn)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	epoch := time.Now()
	go s.Run(ctx, speed)

	var replicas []*replica
	for i := 1; i <= 3; i++ {
		replicas = append(replicas, start(t, bin, config, fmt.Sprintf("r%d", i), simStart, epoch))
	}

	leaderOf := func(rs []*replica) []*replica {
		var l []*replica
		for _, r := range rs {
			if r.alive() && r.leads() {
				l = append(l, r)
			}
		}
		return l
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) time.Duration {
		t.Helper()
		t0 := time.Now()
		for !cond() {
			if time.Since(t0) > limit {
				t.Fatalf("%s: not within %s", what, limit)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(t0)
	}
	scheduled := func() int {
		n := 0
		for _, m := range stub.Messages() {
			if strings.Contains(m.Text, "linux-ci") && strings.Contains(m.Text, "flip") {
				n++
			}
		}
		return n
	}
	alertPosts := func() int {
		n := 0
		for _, m := range stub.Messages() {
			if m.ThreadTS == "" && strings.Contains(m.Text, "gpu-nightly") && strings.Contains(m.Text, "failed") {
				n++
			}
		}
		return n
	}

	var first *replica
	waitFor("a leader", takeover, func() bool {
		l := leaderOf(replicas)
		if len(l) > 1 {
			t.Fatalf("%d leaders at once", len(l))
		}
		if len(l) == 1 {
			first = l[0]
		}
		return first != nil
	})
	waitFor("two scheduled changes and the gpu-nightly alert from the first leader", 40*time.Second, func() bool {
		return scheduled() >= 2 && alertPosts() >= 1
	})
	before, updatesBefore := scheduled(), len(stub.Updates())
	killedAt := s.Now()
	t.Logf("killing the leader %s at %s (simulated), after %d scheduled changes", first.name, killedAt.Format("15:04"), before)
	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.done

	var second *replica
	took := waitFor("another leader", takeover, func() bool {
		l := leaderOf(replicas)
		if len(l) > 1 {
			t.Fatalf("%d leaders at once", len(l))
		}
		if len(l) == 1 {
			second = l[0]
		}
		return second != nil
	})
	t.Logf("%s took over %s after the kill", second.name, took.Round(10*time.Millisecond))
	waitFor("two more scheduled changes from the new leader", 40*time.Second, func() bool { return scheduled() >= before+2 })
	waitFor("the alert kept up to date by the new leader", 30*time.Second, func() bool { return len(stub.Updates()) > updatesBefore })

	// Stop the rest gracefully.
	for _, r := range replicas {
		if r.alive() {
			r.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, r := range replicas {
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Fatalf("%s did not stop on SIGTERM", r.name)
		}
		if code := r.cmd.ProcessState.ExitCode(); r != first && code != 0 {
			t.Errorf("%s exited with %d", r.name, code)
		}
	}
	end := s.Now()

	// Every entry between the first applied and the end was applied once.
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT claim_key, owner FROM claims WHERE claim_key LIKE 'schedule/linux-ci/%' ORDER BY claim_key`)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	var keys []string
	for rows.Next() {
		var k, o string
		if err := rows.Scan(&k, &o); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		owners[k] = o
	}
	rows.Close()
	if len(keys) < 4 {
		t.Fatalf("claims %v: want at least 4 scheduled changes", keys)
	}
	var instants []time.Time
	for _, k := range keys {
		at, err := time.Parse(time.RFC3339, strings.TrimPrefix(k, "schedule/linux-ci/"))
		if err != nil {
			t.Fatalf("claim key %q: %v", k, err)
		}
		instants = append(instants, at)
	}
	sort.Slice(instants, func(i, j int) bool { return instants[i].Before(instants[j]) })
	// The first claim may be the catch-up of the entry before the start.
	for at := instants[0].Add(every); !at.After(end.Add(-time.Minute)); at = at.Add(every) {
		if _, ok := owners["schedule/linux-ci/"+at.UTC().Format(time.RFC3339)]; !ok {
			t.Errorf("the entry at %s was never applied (claims %v)", at.Format("15:04"), keys)
		}
	}
	byOwner := map[string]int{}
	for _, o := range owners {
		byOwner[o]++
	}
	if byOwner[first.name] == 0 || byOwner[second.name] == 0 {
		t.Errorf("changes by replica %v: want some by the first leader (%s) and some by the second (%s)", byOwner, first.name, second.name)
	}

	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	audit, err := st.Audit(context.Background(), pool.AuditQuery{Pool: "linux-ci", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, e := range audit {
		if e.Actor == "scheduler" && e.Result == "ok" {
			applied++
		}
	}
	if applied != len(keys) {
		t.Errorf("%d scheduled changes audited for %d claimed entries: a change was applied twice or not at all", applied, len(keys))
	}
	if n := scheduled(); n != len(keys) {
		t.Errorf("%d scheduled changes posted to Slack for %d claimed entries", n, len(keys))
	}
	if n := alertPosts(); n != 1 {
		t.Errorf("the gpu-nightly alert was posted %d times, want once (then updated)", n)
	}
	t.Logf("%d scheduled changes (%v by replica), takeover in %s, alert posted once and updated %d times",
		len(keys), byOwner, took.Round(10*time.Millisecond), len(stub.Updates()))
}
