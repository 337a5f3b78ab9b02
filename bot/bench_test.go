package bot

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
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

type loadResult struct {
	lat     []time.Duration
	elapsed time.Duration
	busy    int
}

// load sends n signed `/pool status` requests to u from conc goroutines.
func load(b *testing.B, client *http.Client, u, secret, responseURL string, n, conc int) loadResult {
	bodies := make([]string, n)
	sigs := make([][2]string, n)
	now := time.Now()
	for i := range bodies {
		bodies[i] = url.Values{"command": {"/pool"}, "text": {"status linux-ci"}, "user_id": {"U1"},
			"user_name": {"ann"}, "channel_id": {"C1"}, "team_id": {"T1"}, "response_url": {responseURL},
			"trigger_id": {fmt.Sprintf("%d.1.abc", i)}}.Encode()
		ts, sig := Sign(secret, now, []byte(bodies[i]))
		sigs[i] = [2]string{ts, sig}
	}
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var busy atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Slack-Request-Timestamp", sigs[i][0])
				req.Header.Set("X-Slack-Signature", sigs[i][1])
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				if strings.Contains(string(body), busyText) {
					busy.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return loadResult{lat: lat, elapsed: time.Since(start), busy: int(busy.Load())}
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
	return s[len(s)/2]
}

// BenchmarkAck measures the acknowledgement latency and throughput of signed
// `/pool status` requests over loopback: poolbot's HTTP endpoint (its
// workers busy with what it acknowledged) against a bare slack-go handler,
// alternating in the same run.
func BenchmarkAck(b *testing.B) {
	const secret = "bench-signing-secret"
	const conc = 16
	stub := slackstub.New()
	defer stub.Close()
	h := &statusHandler{}
	pb := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 8, Queue: 64, Logger: discardLog})
	poolSrv := httptest.NewServer(pb)
	defer poolSrv.Close()
	bareSrv := httptest.NewServer(bareHandler(secret))
	defer bareSrv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * conc, MaxIdleConnsPerHost: 2 * conc}}
	defer client.CloseIdleConnections()
	responseURL := stub.ResponseURL("bench")

	// Warm both servers and the connection pool.
	load(b, client, poolSrv.URL+"/slack/commands", secret, responseURL, 200, conc)
	load(b, client, bareSrv.URL+"/slack/commands", secret, responseURL, 200, conc)

	// Many short alternating rounds: the machine's load drifts, and each
	// round's pair sees the same drift. The median of the per-round ratios
	// is the figure least moved by it.
	const rounds = 20
	per := max(b.N/rounds, 200)
	var pl, bl []time.Duration
	var pt, bt time.Duration
	var p99Ratios, rpsRatios []float64
	busy, total := 0, 0
	b.ResetTimer()
	for r := range rounds {
		// Alternate which goes first so drift in the machine's load hits both.
		order := []bool{true, false}
		if r%2 == 1 {
			order = []bool{false, true}
		}
		var pr, br loadResult
		for _, poolbot := range order {
			if poolbot {
				pr = load(b, client, poolSrv.URL+"/slack/commands", secret, responseURL, per, conc)
				pl, pt = append(pl, pr.lat...), pt+pr.elapsed
				busy += pr.busy
				total += per
			} else {
				br = load(b, client, bareSrv.URL+"/slack/commands", secret, responseURL, per, conc)
				bl, bt = append(bl, br.lat...), bt+br.elapsed
			}
		}
		slices.Sort(pr.lat)
		slices.Sort(br.lat)
		p99Ratios = append(p99Ratios, float64(percentile(pr.lat, 0.99))/float64(percentile(br.lat, 0.99)))
		rpsRatios = append(rpsRatios, br.elapsed.Seconds()/pr.elapsed.Seconds())
	}
	b.StopTimer()
	if err := pb.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	slices.Sort(pl)
	slices.Sort(bl)
	pRPS := float64(len(pl)) / pt.Seconds()
	bRPS := float64(len(bl)) / bt.Seconds()
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(percentile(pl, 0.50)), "poolbot-p50-µs")
	b.ReportMetric(us(percentile(pl, 0.99)), "poolbot-p99-µs")
	b.ReportMetric(us(percentile(bl, 0.50)), "bare-p50-µs")
	b.ReportMetric(us(percentile(bl, 0.99)), "bare-p99-µs")
	b.ReportMetric(pRPS, "poolbot-req/s")
	b.ReportMetric(bRPS, "bare-req/s")
	b.ReportMetric(us(percentile(pl, 0.99))/us(percentile(bl, 0.99)), "p99-ratio")
	b.ReportMetric(pRPS/bRPS, "throughput-ratio")
	b.ReportMetric(median(p99Ratios), "p99-ratio-median")
	b.ReportMetric(median(rpsRatios), "throughput-ratio-median")
	b.ReportMetric(float64(total-busy)/float64(total), "accepted-fraction")
	b.ReportMetric(float64(h.done.Load()), "commands-run")
}
