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
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/cost"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/pool/pooltest"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
	"github.com/poolbot/poolbot/store/memstore"
	"github.com/poolbot/poolbot/store/sqlite"
	"github.com/poolbot/poolbot/watch"
)

// env is the real stack over loopback: the simulator behind an HTTP
// server, the Azure client, a SQLite store, the outbox sender and the
// Slack stub. Time is the simulator's. newFakeEnv makes one with fakes for
// Azure and the store instead, for the tests of the watcher's own logic.
type env struct {
	t      testing.TB
	ctx    context.Context
	sim    *sim.Sim // nil in a fake env
	clk    testClock
	url    string        // the simulator's base URL
	az     *azure.Client // nil in a fake env
	svc    pool.Service  // what the watcher reads: az, or a fake
	st     pool.Store
	path   string          // the SQLite file; "" in a fake env
	mem    *memstore.Store // the store of a fake env
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
	e := &env{t: t, ctx: ctx, sim: s, clk: s, url: srv.URL, az: az, svc: az, path: filepath.Join(t.TempDir(), "poolbot.db"), log: log}
	return e.start()
}

// testClock is the simulator's clock or a fake one.
type testClock interface {
	clock.Clock
	Advance(d time.Duration)
	Waiters() int
}

// fakeStart is when a fake env's clock starts: a Monday, 09:00 UTC.
var fakeStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// newFakeEnv is an env whose pools are held in memory by svc (its Nodes,
// Queue and JobHistory answer from the pools as given, with no jobs), with
// an in-memory store and a fake clock; the outbox sender and the Slack stub
// are the real ones.
func newFakeEnv(t testing.TB, svc *pooltest.Service) *env {
	t.Helper()
	return newFakeEnvOn(t, svc, clock.NewFake(fakeStart))
}

// newFakeEnvOn is newFakeEnv on the clock clk, which svc's functions may
// read.
func newFakeEnvOn(t testing.TB, svc *pooltest.Service, clk *clock.Fake) *env {
	t.Helper()
	if svc.NodesFn == nil {
		svc.NodesFn = func(ctx context.Context, name string) ([]pool.Node, error) {
			p, err := svc.Get(ctx, name)
			return p.Nodes, err
		}
	}
	if svc.QueueFn == nil {
		svc.QueueFn = func(context.Context, string) (int, error) { return 0, nil }
	}
	if svc.JobHistoryFn == nil {
		svc.JobHistoryFn = func(context.Context, string, pool.JobQuery) (pool.JobPage, error) { return pool.JobPage{}, nil }
	}
	e := &env{t: t, ctx: context.Background(), clk: clk, svc: svc, mem: memstore.New(clk), log: slog.New(slog.DiscardHandler)}
	return e.start()
}

// fakePools are the pools of a fake env: healthy, idle, and in the
// simulator's shapes.
func fakePools() *pooltest.Service {
	return pooltest.Pools(
		pool.Pool{ID: 1, Name: "linux-ci", Standby: 2, Max: 10, TTLMinutes: 30},
		pool.Pool{ID: 2, Name: "windows-ci", Standby: 1, Max: 6, TTLMinutes: 30},
		pool.Pool{ID: 3, Name: "gpu-nightly", Standby: 0, Max: 4, TTLMinutes: 15})
}

// steadyJobs answers JobHistory as a pool whose jobs arrive every five
// minutes and each wait wait for an agent, then run five minutes: the
// finished ones queued at or after the query's Since, newest first, read
// from two hours before the clock's start up to its now, and one queued two
// minutes ago still waiting.
func steadyJobs(clk clock.Clock, wait time.Duration) func(context.Context, string, pool.JobQuery) (pool.JobPage, error) {
	first := clk.Now().Add(-2 * time.Hour)
	return func(_ context.Context, name string, q pool.JobQuery) (pool.JobPage, error) {
		page := pool.JobPage{Calls: 1}
		now := clk.Now()
		for i := 0; ; i++ {
			queued := first.Add(time.Duration(i) * 5 * time.Minute)
			finished := queued.Add(wait + 5*time.Minute)
			if finished.After(now) {
				break
			}
			if queued.Before(q.Since) {
				continue
			}
			j := pool.Job{Pool: name, RequestID: uint64(i + 1), Queued: queued, Assigned: queued.Add(wait),
				Started: queued.Add(wait), Finished: finished, Result: "succeeded", Definition: "app-ci"}
			page.Jobs = append([]pool.Job{j}, page.Jobs...)
			page.Newest = queued
		}
		// One is waiting now: counted at what it has waited so far.
		queued := now.Add(-2 * time.Minute)
		if !queued.Before(q.Since) {
			page.Open = []pool.Job{{Pool: name, RequestID: 1 << 20, Queued: queued, Definition: "app-ci"}}
			if queued.After(page.Newest) {
				page.Newest = queued
			}
		}
		return page, nil
	}
}

func (e *env) start() *env {
	e.st = e.openStore()
	e.stub = slackstub.New()
	e.stub.SetNow(e.clk.Now)
	e.t.Cleanup(e.stub.Close)
	e.sender = e.newSender()
	return e
}

// openStore opens the env's store, again after a restart: the same SQLite
// file, or the same memory.
func (e *env) openStore() pool.Store {
	if e.mem != nil {
		e.mem = e.mem.Reopen()
		return e.mem
	}
	st, err := sqlite.Open(e.ctx, e.path, sqlite.WithClock(e.sim))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st
}

func (e *env) newSender() *bot.Sender {
	api := slack.New("xoxb-test", slack.OptionAPIURL(e.stub.APIURL()))
	return bot.NewSender(e.st, bot.NewPoster(api, e.clk, e.log), e.clk, e.log)
}

func (e *env) watcher(opt func(*watch.Options)) *watch.Watcher {
	o := watch.Options{Service: e.svc, Store: e.st, Clock: e.clk, Logger: e.log, DefaultChannel: "C-ALERTS", Owner: "replica-1",
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
			if e.clk.Waiters() > 0 {
				e.clk.Advance(100 * time.Millisecond)
			}
		}
	}
}

// minute runs one watcher cycle, sends what it queued and moves the
// simulator to the next minute.
func (e *env) minute(w *watch.Watcher) {
	e.t.Helper()
	start := e.clk.Now()
	if err := w.Cycle(e.ctx); err != nil {
		e.t.Fatalf("cycle at %s: %v", start, err)
	}
	e.flush()
	if next := start.Add(time.Minute); e.clk.Now().Before(next) {
		e.clk.Advance(next.Sub(e.clk.Now()))
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
