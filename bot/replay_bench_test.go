package bot

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/poolbot/poolbot/slackstub"
	"github.com/poolbot/poolbot/store/sqlite"
)

// BenchmarkAckReplayStore is BenchmarkAck with the replay check poolbot
// runs in production: every signed request is remembered in an SQLite store
// before it is acknowledged. Each round's requests are new (their trigger
// ids carry the round), so none is a replay. Run with -benchtime 30x.
func BenchmarkAckReplayStore(b *testing.B) {
	const (
		secret  = "bench-signing-secret"
		conc    = 16
		perLeg  = 2000
		workers = 8
		queue   = 64
	)
	stub := slackstub.New()
	defer stub.Close()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "poolbot.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := &statusHandler{}
	pb := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: workers, Queue: queue, Logger: discardLog,
		ResponseURLHosts: stubHosts(stub), Replays: st})
	poolSrv := labelledServer("poolbot", pb)
	defer poolSrv.Close()
	bareSrv := labelledServer("bare", bareHandler(secret))
	defer bareSrv.Close()
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
	legs := 0
	poolLegs, bareLegs := pairedRounds(b, pb.Workers(), nil, func(poolbot bool) legResult {
		// New requests for every leg, signed now, untimed.
		b.StopTimer()
		legs++
		for i := range gen.bodies {
			gen.bodies[i] = url.Values{"command": {"/pool"}, "text": {"status linux-ci"}, "user_id": {"U1"},
				"user_name": {"ann"}, "channel_id": {"C1"}, "team_id": {"T1"}, "response_url": {gen.responseURL},
				"trigger_id": {strconv.Itoa(legs) + "." + strconv.Itoa(i) + ".abc"}}.Encode()
		}
		gen.sign()
		b.StartTimer()
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
