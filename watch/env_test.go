package watch_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/bot"
	"github.com/poolbot/poolbot/cost"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
	"github.com/poolbot/poolbot/store/sqlite"
	"github.com/poolbot/poolbot/watch"
)

// env is the real stack over loopback: the simulator behind an HTTP
// server, the Azure client, a SQLite store, the outbox sender and the
// Slack stub. Time is the simulator's.
type env struct {
	t      testing.TB
	ctx    context.Context
	sim    *sim.Sim
	url    string // the simulator's base URL
	az     *azure.Client
	st     *sqlite.Store
	path   string
	stub   *slackstub.Stub
	sender *bot.Sender
	log    *slog.Logger
}

func newEnv(t testing.TB, o sim.Options) *env {
	t.Helper()
	ctx := context.Background()
	s := sim.New(o)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	log := slog.New(slog.DiscardHandler)
	az, err := azure.New(ctx, azure.Options{OrganizationURL: srv.URL + "/contoso", PAT: "x", ResourceManagerURL: srv.URL,
		ARMCredential: azure.StaticCredential("t"), Subscription: sim.Subscription, ResourceGroup: sim.ResourceGroup, Clock: s, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, sim: s, url: srv.URL, az: az, path: filepath.Join(t.TempDir(), "poolbot.db"), log: log}
	e.st = e.openStore()
	e.stub = slackstub.New()
	e.stub.SetNow(s.Now)
	t.Cleanup(e.stub.Close)
	e.sender = e.newSender()
	return e
}

func (e *env) openStore() *sqlite.Store {
	st, err := sqlite.Open(e.ctx, e.path, sqlite.WithClock(e.sim))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st
}

func (e *env) newSender() *bot.Sender {
	api := slack.New("xoxb-test", slack.OptionAPIURL(e.stub.APIURL()))
	return bot.NewSender(e.st, bot.NewPoster(api, e.sim, e.log), e.sim, e.log)
}

func (e *env) watcher(opt func(*watch.Options)) *watch.Watcher {
	o := watch.Options{Service: e.az, Store: e.st, Clock: e.sim, Logger: e.log, DefaultChannel: "C-ALERTS", Owner: "replica-1",
		Alerts: watch.Alerts{Routes: []watch.Route{{Pools: []string{"windows-*"}, Channel: "C-WIN"}}},
		PoolURL: func(p pool.Pool) string {
			return fmt.Sprintf("https://dev.azure.com/contoso/_settings/agentpools?poolId=%d", p.ID)
		}}
	if opt != nil {
		opt(&o)
	}
	return watch.New(o)
}

// flush sends the outbox to the stub, moving simulated time while the
// poster paces messages (one a second per channel) or waits out a 429.
func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.sender.Flush(ctx) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				e.t.Fatal(err)
			}
			return
		case <-time.After(time.Millisecond):
			if e.sim.Waiters() > 0 {
				e.sim.Advance(100 * time.Millisecond)
			}
		}
	}
}

// minute runs one watcher cycle, sends what it queued and moves the
// simulator to the next minute.
func (e *env) minute(w *watch.Watcher) {
	e.t.Helper()
	start := e.sim.Now()
	if err := w.Cycle(e.ctx); err != nil {
		e.t.Fatalf("cycle at %s: %v", start, err)
	}
	e.flush()
	if next := start.Add(time.Minute); e.sim.Now().Before(next) {
		e.sim.Advance(next.Sub(e.sim.Now()))
	}
}

// alerts returns the top-level alert messages of the stub whose text names pool.
func (e *env) posts(pool string) []slackstub.Message {
	var out []slackstub.Message
	for _, m := range e.stub.Messages() {
		if m.ThreadTS == "" && strings.Contains(m.Text, "] "+pool) {
			out = append(out, m)
		}
	}
	return out
}

func (e *env) replies(ts string) []slackstub.Message {
	var out []slackstub.Message
	for _, m := range e.stub.Messages() {
		if m.ThreadTS == ts {
			out = append(out, m)
		}
	}
	return out
}

func (e *env) updates(ts string) []slackstub.Update {
	var out []slackstub.Update
	for _, u := range e.stub.Updates() {
		if u.TS == ts {
			out = append(out, u)
		}
	}
	return out
}

// tracker returns a cost tracker on the simulator's prices and Cost
// Management.
func (e *env) tracker(cfg cost.Settings) *cost.Tracker {
	m, err := cost.NewManagement(cost.ManagementOptions{Credential: e.az.ARMCredential(), Client: e.az.ARMOptions(),
		Subscription: sim.Subscription, Clock: e.sim})
	if err != nil {
		e.t.Fatal(err)
	}
	return cost.NewTracker(cost.TrackerOptions{Service: e.az, Store: e.st, Clock: e.sim, Logger: e.log, Settings: cfg, Owner: "replica-1", MaxGap: time.Hour,
		Prices: cost.NewPrices(sim.PricesURL(e.url), nil, cfg.Prices, cfg.Currency, e.sim), Management: m})
}
