package bot

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/slackstub"
)

// bareHandler is the baseline: what any slack-go app must do before it can
// answer, and nothing more.
func bareHandler(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sv, err := slack.NewSecretsVerifier(r.Header, secret)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(io.TeeReader(r.Body, &sv))
		if err != nil || sv.Ensure() != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if _, err := slack.SlashCommandParse(r); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// statusHandler plays `/pool status`: waits on "Azure" for 40 ms, builds a
// Block Kit reply and posts it through response_url.
type statusHandler struct{ done atomic.Int64 }

func (h *statusHandler) Handle(ctx context.Context, req commands.Request, resp commands.Responder) error {
	select {
	case <-time.After(40 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	var blocks []slack.Block
	blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject("plain_text", "linux-ci", false, false)))
	for i := range 6 {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn",
			fmt.Sprintf("*agents* %d idle · %d busy · 0 failed", i, 2*i), false, false), nil, nil))
	}
	err := resp.Respond(ctx, commands.Reply{Text: "linux-ci: online, 3 idle, 4 busy", Blocks: blocks})
	h.done.Add(1)
	return err
}

// labelledServer serves h with every connection's goroutine labelled
// side=name, so that a -cpuprofile of the benchmark splits by side
// everything the server does (reading, routing, writing), not only h.
func labelledServer(name string, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	labels := pprof.WithLabels(context.Background(), pprof.Labels("side", name))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		// StateActive is reported from the connection's own goroutine.
		if s == http.StateActive {
			pprof.SetGoroutineLabels(labels)
		}
	}
	srv.Start()
	return srv
}

// ackLoad is the one load generator both sides get: the same signed
// `/pool status` requests, built once before anything is timed, sent by the
// same code with the same concurrency. What it allocates per request (the
// http.Request, the client's own buffers) is the same for both sides.
type ackLoad struct {
	secret, responseURL string
	conc                int
	bodies              []string
	headers             []http.Header // read-only once built; the client never writes them
	signed              time.Time
}

func newAckLoad(secret, responseURL string, n, conc int) *ackLoad {
	l := &ackLoad{secret: secret, responseURL: responseURL, conc: conc,
		bodies: make([]string, n), headers: make([]http.Header, n)}
	for i := range n {
		l.bodies[i] = url.Values{"command": {"/pool"}, "text": {"status linux-ci"}, "user_id": {"U1"},
			"user_name": {"ann"}, "channel_id": {"C1"}, "team_id": {"T1"}, "response_url": {responseURL},
			"trigger_id": {strconv.Itoa(i) + ".1.abc"}}.Encode()
	}
	l.sign()
	return l
}

// sign (re)signs every request at the current time, so that a long run stays
// inside the 5-minute window.
func (l *ackLoad) sign() {
	l.signed = time.Now()
	for i, body := range l.bodies {
		ts, sig := Sign(l.secret, l.signed, []byte(body))
		l.headers[i] = http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
			"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {sig}}
	}
}

// legResult is one side's share of a round.
type legResult struct {
	p50, p99 time.Duration
	rps      float64
	refused  int // answered "busy, try again"
}

// run sends every request once to u; lat is filled and sorted.
func (l *ackLoad) run(b *testing.B, client *http.Client, u *url.URL, lat []time.Duration) legResult {
	var next, refused atomic.Int64
	var wg sync.WaitGroup
	n := len(l.bodies)
	start := time.Now()
	for range l.conc {
		wg.Go(func() {
			buf := make([]byte, 512)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req := &http.Request{Method: http.MethodPost, URL: u, Host: u.Host, Header: l.headers[i],
					Body: io.NopCloser(strings.NewReader(l.bodies[i])), ContentLength: int64(len(l.bodies[i]))}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				m, _ := io.ReadFull(resp.Body, buf)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				if strings.Contains(string(buf[:m]), busyText) {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return legResult{p50: percentile(lat, 0.50), p99: percentile(lat, 0.99),
		rps: float64(n) / elapsed.Seconds(), refused: int(refused.Load())}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(float64(len(sorted))*p), len(sorted)-1)]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func TestMedianPercentile(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Millisecond
	}
	if p50, p99 := percentile(lat, 0.5), percentile(lat, 0.99); p50 != 51*time.Millisecond || p99 != 100*time.Millisecond {
		t.Errorf("p50 %v p99 %v, want 51ms 100ms", p50, p99)
	}
}

// BenchmarkAck measures the acknowledgement latency and throughput of signed
// `/pool status` requests over loopback: poolbot's HTTP endpoint, its
// workers busy with the commands it acknowledged, against a bare slack-go
// handler that only verifies and parses.
//
// One op is one round: the same requests sent to each side in turn, the
// order alternating (A B, B A, …) so that drift in the machine's load hits
// both. Each leg starts from a collected heap, so neither side pays for the
// other's garbage, and poolbot's workers finish the commands of its leg
// before the bare handler's leg starts, so their work is charged to
// poolbot. Figures are medians over rounds; ratios are the medians of each
// round's ratio. Run with -benchtime 30x for 30 rounds.
func BenchmarkAck(b *testing.B) {
	const (
		secret  = "bench-signing-secret"
		conc    = 16
		perLeg  = 2000
		workers = 8
		queue   = 64
	)
	stub := slackstub.New()
	defer stub.Close()
	h := &statusHandler{}
	pb := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: workers, Queue: queue, Logger: discardLog,
		ResponseURLHosts: stubHosts(stub)})
	poolSrv := labelledServer("poolbot", pb)
	defer poolSrv.Close()
	bareSrv := labelledServer("bare", bareHandler(secret))
	defer bareSrv.Close()
	// One transport per side, configured alike, so that neither side's
	// connections are evicted from a shared idle pool by the other's.
	newClient := func() *http.Client {
		return &http.Client{Transport: &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc}}
	}
	poolClient, bareClient := newClient(), newClient()
	defer poolClient.CloseIdleConnections()
	defer bareClient.CloseIdleConnections()
	poolURL, _ := url.Parse(poolSrv.URL + "/slack/commands")
	bareURL, _ := url.Parse(bareSrv.URL + "/slack/commands")

	gen := newAckLoad(secret, stub.ResponseURL("bench"), perLeg, conc)
	lat := make([]time.Duration, perLeg)
	poolLegs, bareLegs := pairedRounds(b, pb.Workers(), func(r int) {
		if time.Since(gen.signed) > time.Minute {
			gen.sign()
		}
	}, func(poolbot bool) legResult {
		if poolbot {
			return gen.run(b, poolClient, poolURL, lat)
		}
		return gen.run(b, bareClient, bareURL, lat)
	})
	if err := pb.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	reportPaired(b, poolLegs, bareLegs, perLeg, time.Millisecond, "ms", "req/s")
	b.ReportMetric(float64(h.done.Load()), "commands-run")
}

// pairedRounds runs a warm-up round (not counted), then b.N rounds of a
// poolbot leg and a bare leg, order alternating. Each leg starts from a
// collected heap; after poolbot's, its workers finish the leg's commands
// (w drained) before the next leg starts, so their work is charged to
// poolbot. before, when set, runs ahead of each round, untimed.
func pairedRounds(b *testing.B, w *Workers, before func(round int), leg func(poolbot bool) legResult) (poolLegs, bareLegs []legResult) {
	one := func(poolbot bool) {
		runtime.GC()
		b.StartTimer()
		r := leg(poolbot)
		b.StopTimer()
		if poolbot {
			poolLegs = append(poolLegs, r)
			drainWorkers(w)
		} else {
			bareLegs = append(bareLegs, r)
		}
	}
	b.StopTimer()
	one(true)
	one(false)
	poolLegs, bareLegs = poolLegs[:0], bareLegs[:0]
	b.ResetTimer()
	for r := range b.N {
		if before != nil {
			before(r)
		}
		one(r%2 == 0)
		one(r%2 == 1)
	}
	return poolLegs, bareLegs
}

// drainWorkers waits until w has nothing running or queued. Busy and
// Queued can both read 0 for the instant between a worker taking a job and
// starting it; two quiet looks in a row rule it out.
func drainWorkers(w *Workers) {
	for quiet := 0; quiet < 2; {
		if w.Busy() == 0 && w.Queued() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// reportPaired reports the medians over rounds of each side's p50, p99 (in
// unit, named unitName) and rate (named rateName), the medians of each
// round's ratios, and the fraction of poolbot's commands it accepted.
func reportPaired(b *testing.B, poolLegs, bareLegs []legResult, perLeg int, unit time.Duration, unitName, rateName string) {
	in := func(d time.Duration) float64 { return float64(d) / float64(unit) }
	var pp50, pp99, prps, bp50, bp99, brps, r50, r99, rrps []float64
	refused := 0
	for i := range poolLegs {
		p, q := poolLegs[i], bareLegs[i]
		pp50, pp99, prps = append(pp50, in(p.p50)), append(pp99, in(p.p99)), append(prps, p.rps)
		bp50, bp99, brps = append(bp50, in(q.p50)), append(bp99, in(q.p99)), append(brps, q.rps)
		r50 = append(r50, float64(p.p50)/float64(q.p50))
		r99 = append(r99, float64(p.p99)/float64(q.p99))
		rrps = append(rrps, p.rps/q.rps)
		refused += p.refused
	}
	b.ReportMetric(median(pp50), "poolbot-p50_"+unitName)
	b.ReportMetric(median(pp99), "poolbot-p99_"+unitName)
	b.ReportMetric(median(prps), "poolbot-"+rateName)
	b.ReportMetric(median(bp50), "bare-p50_"+unitName)
	b.ReportMetric(median(bp99), "bare-p99_"+unitName)
	b.ReportMetric(median(brps), "bare-"+rateName)
	b.ReportMetric(median(r50), "p50-ratio")
	b.ReportMetric(median(r99), "p99-ratio")
	b.ReportMetric(median(rrps), "throughput-ratio")
	b.ReportMetric(1-float64(refused)/float64(max(len(poolLegs)*perLeg, 1)), "accepted-fraction")
}
