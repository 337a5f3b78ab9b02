package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/app"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
)

// loadConfig is what `poolbot load` serves with: the simulator's pools,
// a local Slack, a response_url receiver and an SQLite store, with
// everything else (workers, queue, snapshot age, timeouts) at its default.
const loadConfig = `
[azure_devops]
organization_url = "{{SIM}}/contoso"
auth = "pat"
pat = "load"

[azure]
resource_manager_url = "{{SIM}}/"
retail_prices_url = "{{SIM}}/api/retail/prices"
subscription = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-agents"
auth = "static"
static_token = "load"

[slack]
mode = "http"
signing_secret = "{{SECRET}}"
bot_token = "xoxb-load"
api_url = "{{SLACK}}"
response_url_hosts = ["{{RECEIVER}}"]
channel = "` + loadChannel + `"
{{SLACKEXTRA}}
[[roles]]
name = "viewer"
channels = ["` + loadChannel + `"]

[store]
path = "{{DB}}"

[server]
listen = "127.0.0.1:0"
`

const loadChannel = "C0LOAD"

// loadOptions are a load run's settings.
type loadOptions struct {
	rate     int           // commands per second, each side
	duration time.Duration // of each side's leg
	warmUp   time.Duration // at rate, each side, not counted
	rounds   int           // legs of each side, order alternating
	text     string        // the command's text
	workers  int           // [slack] workers; 0: the default
	queue    int           // [slack] queue; 0: the default
}

func runLoad(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadOptions
	fs.IntVar(&o.rate, "rate", 500, "signed commands per `second` sent to each side, on a fixed schedule")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "how long each side's leg sends")
	fs.DurationVar(&o.warmUp, "warm-up", time.Second, "a leg of each side at the same rate before the first, not counted")
	fs.IntVar(&o.rounds, "rounds", 1, "rounds of one leg each side, the order alternating")
	fs.StringVar(&o.text, "text", "status linux-ci", "the `text` of each /pool command")
	fs.IntVar(&o.workers, "workers", 0, "poolbot's [slack] workers (default its own default)")
	fs.IntVar(&o.queue, "queue", 0, "poolbot's [slack] queue (default its own default)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the counted legs (both sides, every part in this one process) to `file`")
	logPath := fs.String("log", "", "write poolbot's JSON log to `file` (default: formatted, then discarded)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: poolbot load [--rate 500] [--duration 5s] [--rounds 1] [--text "status linux-ci"] [--cpuprofile FILE]

Measures poolbot's Slack acknowledgement under open-loop load, in one process
on loopback: poolbot as `+"`poolbot serve`"+` runs it (its HTTP server, an SQLite store)
against the simulator over HTTP, and beside it a bare slack-go handler that only
verifies the signature, parses the command and answers 200. Each leg sends
signed /pool commands to one side on a fixed schedule (--rate a second for
--duration), whatever the answers; a command's acknowledgement latency counts
from its scheduled send, so a stall is charged to every command it delays.
poolbot's replies are received on a local response_url.

Reports, per round, each side's acknowledgement p50 and p99, their ratio
(target p99 at most 1.5x the bare handler's), the commands answered through
their response_url (target every one) and the reply latency from the
acknowledgement to the response_url post (target p99 at most 50 ms). It fails
when a command went unanswered.`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case o.rate <= 0 || o.rate > 100_000:
		return fmt.Errorf("--rate %d: want 1 to 100000", o.rate)
	case o.duration <= 0 || o.duration > 10*time.Minute:
		return fmt.Errorf("--duration %s: want above 0 and at most 10m", o.duration)
	case o.warmUp < 0:
		return fmt.Errorf("--warm-up %s: must not be negative", o.warmUp)
	case o.rounds <= 0:
		return fmt.Errorf("--rounds %d: want at least 1", o.rounds)
	case o.workers < 0 || o.queue < 0:
		return fmt.Errorf("--workers and --queue must not be negative")
	case strings.TrimSpace(o.text) == "":
		return errors.New("--text: empty")
	}
	logOut := io.Discard
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		logOut = f
	}
	rig, err := startLoadRig(ctx, o, logOut)
	if err != nil {
		return err
	}
	defer rig.close()

	fmt.Fprintf(stdout, "poolbot load: %d signed \"/pool %s\" a second for %s to each side, open loop, %d round(s); %d CPUs, GOMAXPROCS %d\n",
		o.rate, o.text, o.duration, o.rounds, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if o.warmUp > 0 {
		for _, s := range []*loadSide{rig.poolbot, rig.bare} {
			if _, err := rig.leg(ctx, s, -1, o.warmUp); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var rounds []loadRound
	for r := range o.rounds {
		order := []*loadSide{rig.poolbot, rig.bare}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		var round loadRound
		for _, s := range order {
			res, err := rig.leg(ctx, s, r, o.duration)
			if err != nil {
				return err
			}
			if s == rig.poolbot {
				round.poolbot = res
			} else {
				round.bare = res
			}
		}
		printRound(stdout, r+1, round)
		rounds = append(rounds, round)
	}
	if len(rounds) > 1 {
		printSummary(stdout, rounds)
	}
	for _, r := range rounds {
		if p := r.poolbot; p.answered < p.sent || p.failed > 0 || p.bad > 0 {
			return fmt.Errorf("%d of %d commands answered through their response_url (%d refused as busy, %d failed or unexpected answers, %d acknowledgements not 200)",
				p.answered, p.sent, p.refused, p.failed, p.bad)
		}
	}
	return nil
}

// loadSide is one endpoint under load: poolbot's or the bare handler's.
type loadSide struct {
	name   string
	url    *url.URL
	client *http.Client
}

// loadRig is everything a load run starts, on loopback.
type loadRig struct {
	o           loadOptions
	secret      string
	poolbot     *loadSide
	bare        *loadSide
	receiver    *replyReceiver
	metrics     string // poolbot's /metrics
	receiverURL string
	simCalls    atomic.Int64
	replyConns  atomic.Int64 // connections poolbot opened to the response_url receiver
	closers     []func()
}

func (r *loadRig) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// serveLoopback serves h on a new loopback port until the rig closes.
// conns, when set, counts the connections it accepts.
func (r *loadRig) serveLoopback(h http.Handler, conns *atomic.Int64) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if conns != nil {
		srv.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
	}
	go func() { _ = srv.Serve(ln) }()
	r.closers = append(r.closers, func() { _ = srv.Close() })
	return ln.Addr().String(), nil
}

func startLoadRig(ctx context.Context, o loadOptions, logOut io.Writer) (_ *loadRig, err error) {
	r := &loadRig{o: o, secret: randomSecret()}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	// The simulator over HTTP, its calls counted.
	s := sim.New(sim.Options{Seed: 1})
	simAddr, err := r.serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.simCalls.Add(1)
		s.ServeHTTP(w, req)
	}), nil)
	if err != nil {
		return nil, err
	}
	sctx, stopSim := context.WithCancel(ctx)
	simDone := make(chan struct{})
	go func() { _ = s.Run(sctx, 1); close(simDone) }()
	r.closers = append(r.closers, func() { stopSim(); <-simDone })

	stub := slackstub.New() // the Web API: auth.test, usergroups.list
	r.closers = append(r.closers, stub.Close)
	r.receiver = newReplyReceiver()
	recvAddr, err := r.serveLoopback(r.receiver, &r.replyConns)
	if err != nil {
		return nil, err
	}
	r.receiverURL = "http://" + recvAddr

	dir, err := os.MkdirTemp("", "poolbot-load-")
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { _ = os.RemoveAll(dir) })
	var extra []string
	if o.workers > 0 {
		extra = append(extra, "workers = "+strconv.Itoa(o.workers))
	}
	if o.queue > 0 {
		extra = append(extra, "queue = "+strconv.Itoa(o.queue))
	}
	text := strings.NewReplacer("{{SIM}}", "http://"+simAddr, "{{SLACK}}", stub.APIURL(), "{{SECRET}}", r.secret,
		"{{RECEIVER}}", recvAddr, "{{DB}}", filepath.Join(dir, "poolbot.db"),
		"{{SLACKEXTRA}}", strings.Join(extra, "\n")).Replace(loadConfig)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("load's configuration: %w", err)
	}
	log, err := app.NewLogger(logOut, cfg.Log, "json")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: log, Owner: "load", Listener: ln})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	actx, stopApp := context.WithCancel(ctx)
	appDone := make(chan error, 1)
	go func() { appDone <- a.Run(actx) }()
	r.closers = append(r.closers, func() { stopApp(); <-appDone })

	bareAddr, err := r.serveLoopback(bareSlackHandler(r.secret), nil)
	if err != nil {
		return nil, err
	}
	r.metrics = "http://" + a.Addr().String() + "/metrics"
	r.poolbot = newLoadSide("poolbot", "http://"+a.Addr().String()+"/slack/commands")
	r.bare = newLoadSide("bare", "http://"+bareAddr+"/slack/commands")
	for _, s := range []*loadSide{r.poolbot, r.bare} {
		r.closers = append(r.closers, s.client.CloseIdleConnections)
	}
	return r, r.waitReady(ctx, "http://"+a.Addr().String()+"/readyz", appDone)
}

// newLoadSide is a side with a client of its own, the same for both, so
// that neither side's connections are evicted by the other's.
func newLoadSide(name, u string) *loadSide {
	p, _ := url.Parse(u)
	t := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	return &loadSide{name: name, url: p, client: &http.Client{Transport: t, Timeout: 30 * time.Second}}
}

// waitReady waits for poolbot's /readyz (the store, Azure DevOps and Slack
// checked) for up to 30 s.
func (r *loadRig) waitReady(ctx context.Context, u string, appDone <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-appDone:
			return fmt.Errorf("poolbot stopped before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("poolbot not ready after 30 s")
		}
	}
}

func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// bareSlackHandler is the baseline: what any slack-go app does before it
// can acknowledge a slash command, and nothing more.
func bareSlackHandler(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sv, err := slack.NewSecretsVerifier(r.Header, secret)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(io.TeeReader(r.Body, &sv))
		if _, err := slack.SlashCommandParse(r); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if sv.Ensure() != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// loadLeg is what one side's leg measured.
type loadLeg struct {
	sent, acked, refused, bad int             // bad: an error or a status other than 200
	ack                       []time.Duration // sorted; from each command's scheduled send
	answered, failed          int             // poolbot only: replies through response_url
	reply                     []time.Duration // sorted; acknowledgement to the response_url post
	replySent                 []time.Duration // sorted; scheduled send to the response_url post
	simCalls                  int64
	replyConns                int64         // connections opened to the response_url receiver
	cpu                       time.Duration // the process's, from the first send to the last answer
	late                      time.Duration // the most the sender was behind its schedule
}

type loadRound struct{ poolbot, bare loadLeg }

// leg sends rate commands a second for d to s, each at its scheduled
// instant whatever the answers so far, and waits for the acknowledgements
// and (poolbot's) replies. round < 0 is a warm-up.
func (r *loadRig) leg(ctx context.Context, s *loadSide, round int, d time.Duration) (_ loadLeg, err error) {
	n := max(int(d.Seconds()*float64(r.o.rate)), 1)
	interval := time.Second / time.Duration(r.o.rate)
	tag := s.name + "-" + strconv.Itoa(round+1)
	replies := r.receiver.expect(tag, n)
	defer r.receiver.forget(tag)
	// Signed ahead, as a body is written before it is sent: the sender's
	// only work on schedule is the send.
	bodies := make([]string, n)
	headers := make([]http.Header, n)
	now := time.Now()
	for i := range n {
		bodies[i] = url.Values{"command": {"/pool"}, "text": {r.o.text}, "user_id": {"U0LOAD"}, "user_name": {"load"},
			"channel_id": {loadChannel}, "team_id": {"T0LOAD"}, "trigger_id": {tag + "." + strconv.Itoa(i)},
			"response_url": {r.receiverURL + "/r/" + tag + "/" + strconv.Itoa(i)}}.Encode()
		ts, sig := slackstub.Sign(r.secret, now, []byte(bodies[i]))
		headers[i] = http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
			"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {sig}}
	}
	ack := make([]time.Duration, n)
	ackAt := make([]time.Time, n)
	var refused, bad atomic.Int64
	var wg sync.WaitGroup
	runtime.GC() // each leg from a collected heap: neither side pays for the other's garbage
	calls0, cpu0, conns0 := r.simCalls.Load(), clock.ProcessCPU(), r.replyConns.Load()
	var notOK0, total0 int
	if s == r.poolbot {
		if total0, notOK0, err = r.commandsCounted(ctx); err != nil {
			return loadLeg{}, err
		}
	}
	start := time.Now().Add(10 * time.Millisecond)
	var late time.Duration
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		} else {
			late = max(late, -wait)
		}
		if ctx.Err() != nil {
			wg.Wait()
			return loadLeg{}, ctx.Err()
		}
		wg.Go(func() {
			req := &http.Request{Method: http.MethodPost, URL: s.url, Host: s.url.Host, Header: headers[i],
				Body: io.NopCloser(strings.NewReader(bodies[i])), ContentLength: int64(len(bodies[i]))}
			resp, err := s.client.Do(req.WithContext(ctx))
			if err != nil {
				bad.Add(1)
				return
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			ackAt[i] = time.Now()
			ack[i] = ackAt[i].Sub(at)
			switch {
			case resp.StatusCode != http.StatusOK:
				bad.Add(1)
			case strings.Contains(string(body), "busy"):
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	res := loadLeg{sent: n, refused: int(refused.Load()), bad: int(bad.Load()), late: late}
	res.acked = n - res.bad
	res.ack = slices.DeleteFunc(ack, func(d time.Duration) bool { return d == 0 })
	slices.Sort(res.ack)
	if s == r.poolbot {
		// Every accepted command is answered; wait for the last.
		want := n - res.refused - res.bad
		deadline := time.Now().Add(30 * time.Second)
		for replies.count() < want && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		// A command is counted in the metrics after its answer is
		// posted: wait until every answered one is.
		var total, notOK int
		for {
			if total, notOK, err = r.commandsCounted(ctx); err != nil {
				return loadLeg{}, err
			}
			if total-total0 >= replies.count() || !time.Now().Before(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		res.answered, res.failed = replies.count(), max(replies.failed(), notOK-notOK0)
		for i, at := range replies.first() {
			if at.IsZero() || ackAt[i].IsZero() {
				continue
			}
			res.replySent = append(res.replySent, at.Sub(start.Add(time.Duration(i)*interval)))
			// A reply may land a hair before the client has read the
			// acknowledgement the server wrote first: that is 0.
			res.reply = append(res.reply, max(at.Sub(ackAt[i]), 0))
		}
		slices.Sort(res.reply)
		slices.Sort(res.replySent)
	}
	res.simCalls = r.simCalls.Load() - calls0
	res.replyConns = r.replyConns.Load() - conns0
	res.cpu = clock.ProcessCPU() - cpu0
	return res, nil
}

// commandsCounted counts the commands poolbot's /metrics records: all of
// them, and those with a result other than ok (denied, invalid, error…).
func (r *loadRig) commandsCounted(ctx context.Context) (total, notOK int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.metrics, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("read poolbot's metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("read poolbot's metrics: %w", err)
	}
	total, notOK = countCommands(string(b))
	return total, notOK, nil
}

// countCommands sums poolbot_commands_total in a Prometheus text
// exposition: over all results, and over results other than ok.
func countCommands(text string) (total, notOK int) {
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, "poolbot_commands_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		total += int(v)
		if !strings.Contains(line, `result="ok"`) {
			notOK += int(v)
		}
	}
	return total, notOK
}

// replyReceiver is the response_url side of Slack: it notes when each
// command's first reply arrives. Paths are /r/TAG/INDEX.
type replyReceiver struct {
	mu   sync.Mutex
	legs map[string]*legReplies
}

type legReplies struct {
	mu    sync.Mutex
	at    []time.Time
	n     int
	bad   int
	extra int // replies beyond a command's first
}

func newReplyReceiver() *replyReceiver { return &replyReceiver{legs: map[string]*legReplies{}} }

func (rr *replyReceiver) expect(tag string, n int) *legReplies {
	l := &legReplies{at: make([]time.Time, n)}
	rr.mu.Lock()
	rr.legs[tag] = l
	rr.mu.Unlock()
	return l
}

func (rr *replyReceiver) forget(tag string) {
	rr.mu.Lock()
	delete(rr.legs, tag)
	rr.mu.Unlock()
}

// failedReply marks an answer that is not a command's own: poolbot's
// apology for a failure, or a refusal.
// (A command that answered with its own error counts in poolbot's
// metrics, which the leg reads.)
var failedReply = []string{"Sorry, something went wrong", "poolbot is busy", "could not check that this request", "shutting down"}

func (rr *replyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	tag, idx, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/r/"), "/")
	i, err := strconv.Atoi(idx)
	rr.mu.Lock()
	l := rr.legs[tag]
	rr.mu.Unlock()
	if !ok || err != nil || l == nil || i < 0 || i >= len(l.at) {
		http.Error(w, "no such response_url", http.StatusNotFound)
		return
	}
	l.mu.Lock()
	if l.at[i].IsZero() {
		l.at[i] = now
		l.n++
		for _, f := range failedReply {
			if strings.Contains(string(body), f) {
				l.bad++
				break
			}
		}
	} else {
		l.extra++
	}
	l.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (l *legReplies) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *legReplies) failed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bad
}

func (l *legReplies) first() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.at)
}

// quantile is the nearest-rank quantile q of sorted.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(float64(len(sorted))*q), len(sorted)-1)]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + " ms" }

func (r loadRound) ratio() float64 {
	b := quantile(r.bare.ack, 0.99)
	if b == 0 {
		return 0
	}
	return float64(quantile(r.poolbot.ack, 0.99)) / float64(b)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func printRound(w io.Writer, n int, r loadRound) {
	fmt.Fprintf(w, "\nround %d\n", n)
	fmt.Fprintf(w, "  %-8s %6s %6s %8s %10s %10s %10s %12s\n", "side", "sent", "acked", "refused", "ack p50", "ack p99", "ack max", "sender late")
	for _, l := range []struct {
		name string
		leg  loadLeg
	}{{"poolbot", r.poolbot}, {"bare", r.bare}} {
		fmt.Fprintf(w, "  %-8s %6d %6d %8d %10s %10s %10s %12s\n", l.name, l.leg.sent, l.leg.acked, l.leg.refused,
			ms(quantile(l.leg.ack, 0.5)), ms(quantile(l.leg.ack, 0.99)), ms(quantile(l.leg.ack, 1)), ms(l.leg.late))
	}
	p := r.poolbot
	fmt.Fprintf(w, "  ack p99 ratio %.2fx (target at most 1.5x: %s)\n", r.ratio(), verdict(r.ratio() <= 1.5))
	fmt.Fprintf(w, "  answered through response_url %d of %d, %d failed (target every one: %s)\n",
		p.answered, p.sent, p.failed, verdict(p.answered == p.sent && p.failed == 0))
	rp99 := quantile(p.reply, 0.99)
	fmt.Fprintf(w, "  reply after ack p50 %s, p99 %s, max %s (target p99 at most 50 ms: %s)\n",
		ms(quantile(p.reply, 0.5)), ms(rp99), ms(quantile(p.reply, 1)), verdict(rp99 <= 50*time.Millisecond))
	fmt.Fprintf(w, "  reply after the scheduled send p50 %s, p99 %s, max %s\n",
		ms(quantile(p.replySent, 0.5)), ms(quantile(p.replySent, 0.99)), ms(quantile(p.replySent, 1)))
	fmt.Fprintf(w, "  during poolbot's leg: %d simulator calls, %d new connections to the response_url receiver\n", p.simCalls, p.replyConns)
	if b := r.bare; b.cpu > 0 {
		per := func(l loadLeg) time.Duration { return l.cpu / time.Duration(l.sent) }
		fmt.Fprintf(w, "  CPU per command, this whole process (sender and receivers included): poolbot %s, bare %s (%.2fx)\n",
			per(p).Round(time.Microsecond), per(b).Round(time.Microsecond), float64(p.cpu)/float64(b.cpu))
	}
}

func printSummary(w io.Writer, rounds []loadRound) {
	var ratios, replies []float64
	for _, r := range rounds {
		ratios = append(ratios, r.ratio())
		replies = append(replies, float64(quantile(r.poolbot.reply, 0.99))/1e6)
	}
	slices.Sort(ratios)
	slices.Sort(replies)
	mid := func(v []float64) float64 {
		if len(v)%2 == 0 {
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return v[len(v)/2]
	}
	fmt.Fprintf(w, "\n%d rounds, min / median / max: ack p99 ratio %.2f / %.2f / %.2fx, reply p99 %.1f / %.1f / %.1f ms\n",
		len(rounds), ratios[0], mid(ratios), ratios[len(ratios)-1], replies[0], mid(replies), replies[len(replies)-1])
}
