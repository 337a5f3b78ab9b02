package change_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/pool/pooltest"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/store/memstore"
	"github.com/poolbot/poolbot/store/sqlite"
)

// env is a Changer on the real stack over loopback (the simulator behind
// an HTTP server, the Azure client, a SQLite store) or, from newMemEnv, on
// fakes: the pools and the store in memory.
type env struct {
	sim   *sim.Sim // nil on fakes
	clk   testClock
	svc   pool.Service
	store store
	ch    *change.Changer
}

// store is what the tests read and a dying process's store wraps: a
// pool.Store that keeps intents.
type store interface {
	pool.Store
	pool.IntentStore
}

// testClock is the simulator's clock or a fake one: tests move either.
type testClock interface {
	clock.Clock
	Advance(d time.Duration)
}

// newMemEnv is the env on fakes, with the simulator's pools (linux-ci:
// standby 2, max 10, ttl 30; windows-ci: standby 1, max 6; gpu-nightly:
// max 2) and a fake clock at the simulator's start.
func newMemEnv(t testing.TB) *env {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	svc := pooltest.Pools(
		pool.Pool{ID: 1, Name: "linux-ci", OS: pool.Linux, State: pool.StateOnline, Standby: 2, Max: 10, TTLMinutes: 30, Queue: -1},
		pool.Pool{ID: 2, Name: "windows-ci", OS: pool.Windows, State: pool.StateOnline, Standby: 1, Max: 6, TTLMinutes: 30, Queue: -1},
		pool.Pool{ID: 3, Name: "gpu-nightly", OS: pool.Linux, State: pool.StateOnline, Standby: 0, Max: 2, TTLMinutes: 30, Queue: -1})
	st := memstore.New(clk)
	return &env{clk: clk, svc: svc, store: st, ch: change.New(svc, st, clk, nil)}
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	s := sim.New(sim.Options{Start: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), Seed: 1})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	svc, err := azure.New(ctx, azure.Options{OrganizationURL: srv.URL + "/contoso", PAT: "x", ResourceManagerURL: srv.URL,
		ARMCredential: azure.StaticCredential("t"), Subscription: sim.Subscription, ResourceGroup: sim.ResourceGroup, Clock: s})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.WithClock(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{sim: s, clk: s, svc: svc, store: st, ch: change.New(svc, st, s, nil)}
}

// cur reads the pool as a command or the scheduler does before a change.
func (e *env) cur(t testing.TB, name string) pool.Pool {
	t.Helper()
	p, err := e.ch.Current(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// One change is one read and one PATCH: the Changer's fresh read of the
// list under the pool's lock (the intent's before and target are what Azure
// DevOps has, not the caller's snapshot), then a PATCH of the settings the
// change sets, sent against that read. The caller's cur may be stale: a
// setting changed meanwhile outside poolbot is in the audit's before and is
// kept.
func TestUpdateReadsAnewAndPatchesOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cur := e.cur(t, "linux-ci") // standby 2 max 10
	// Someone changes max in the portal after the caller read the pool.
	if _, err := e.svc.Update(ctx, cur, pool.Settings{Max: pool.Int(8)}); err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCalls()
	before, after, err := e.ch.Update(ctx, alice, "standby linux-ci 3", cur, pool.Settings{Standby: pool.Int(3)})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for k, v := range e.sim.Calls() {
		if strings.HasPrefix(k, "ado.") || strings.HasPrefix(k, "arm.") {
			calls[k] = v
		}
	}
	want := map[string]int{"ado.elasticpools.list": 1, "ado.elasticpools.update": 1}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("one change made %v, want %v", calls, want)
	}
	if before.Max != 8 || after.Standby != 3 || after.Max != 8 {
		t.Errorf("change returned max %d → standby %d max %d, want max 8 read under the lock → standby 3 max 8", before.Max, after.Standby, after.Max)
	}
	if now, _ := e.sim.Settings("linux-ci"); *now.Standby != 3 || *now.Max != 8 {
		t.Errorf("the simulator has %s, want standby 3 and the portal's max 8", now)
	}
	recs, err := e.store.Audit(ctx, pool.AuditQuery{Pool: "linux-ci"})
	if err != nil || len(recs) != 1 || recs[0].Before != "standby=2 max=8 ttl=30 recycle=false" || recs[0].After != "standby=3 max=8 ttl=30 recycle=false" {
		t.Fatalf("audit %+v (%v), want before as read under the lock", recs, err)
	}
}

var alice = change.Actor{ID: "U1", Name: "alice", Channel: "C1", Source: "slack", RequestID: "r1"}

func TestUpdateAppliesAndAudits(t *testing.T) {
	ctx := context.Background()
	e := newMemEnv(t)
	before, after, err := e.ch.Update(ctx, alice, "standby linux-ci 0", e.cur(t, "linux-ci"), pool.Settings{Standby: pool.Int(0)})
	if err != nil {
		t.Fatal(err)
	}
	if before.Standby != 2 || after.Standby != 0 {
		t.Fatalf("standby %d → %d, want 2 → 0", before.Standby, after.Standby)
	}
	cur, err := e.ch.Current(ctx, "linux-ci")
	if err != nil || cur.Standby != 0 {
		t.Fatalf("Azure DevOps has standby %d (err %v), want 0", cur.Standby, err)
	}
	got, err := e.store.Audit(ctx, pool.AuditQuery{Pool: "linux-ci"})
	if err != nil || len(got) != 1 {
		t.Fatalf("audit: %v, %d records", err, len(got))
	}
	a := got[0]
	if a.Actor != "U1" || a.Result != "ok" || !strings.Contains(a.Before, "standby=2") || !strings.Contains(a.After, "standby=0") || a.RequestID != "r1" {
		t.Fatalf("audit record %+v", a)
	}
}

func TestInvalidChangeChangesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cur := e.cur(t, "linux-ci")
	e.sim.ResetCalls()
	tests := []struct {
		name string
		s    pool.Settings
		want string
	}{
		{"standby above max", pool.Settings{Standby: pool.Int(11)}, "cannot be more than max"},
		{"negative standby", pool.Settings{Standby: pool.Int(-1)}, "0 or more"},
		{"max below standby", pool.Settings{Max: pool.Int(1)}, "cannot be more than max"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.ch.Update(ctx, alice, "x", cur, tc.s)
			if pool.KindOf(err) != pool.KindInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want KindInvalid with %q", err, tc.want)
			}
		})
	}
	for route, n := range e.sim.Calls() {
		if strings.Contains(strings.ToLower(route), "patch") || strings.Contains(strings.ToLower(route), "update") {
			t.Errorf("an invalid change made %d call(s) to %s", n, route)
		}
	}
	cur, _ = e.ch.Current(ctx, "linux-ci")
	if cur.Standby != 2 || cur.Max != 10 {
		t.Fatalf("pool changed to standby %d max %d", cur.Standby, cur.Max)
	}
}

func TestUnknownPool(t *testing.T) {
	e := newMemEnv(t)
	// A pool read before it was deleted.
	gone := pool.Pool{Name: "nope", Standby: 1, Max: 10}
	_, _, err := e.ch.Update(context.Background(), alice, "x", gone, pool.Settings{Standby: pool.Int(1)})
	if pool.KindOf(err) != pool.KindNotFound {
		t.Fatalf("err = %v, want KindNotFound", err)
	}
}

func TestLockNamesHolder(t *testing.T) {
	e := newMemEnv(t)
	unlock, err := e.ch.Lock(context.Background(), "linux-ci", alice, "image linux-ci latest")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.ch.Update(context.Background(), change.Actor{ID: "scheduler"}, "schedule", e.cur(t, "linux-ci"), pool.Settings{Standby: pool.Int(0)})
	if pool.KindOf(err) != pool.KindBusy || !strings.Contains(err.Error(), "alice") || !strings.Contains(err.Error(), "image linux-ci latest") {
		t.Fatalf("err = %v, want busy naming alice and her command", err)
	}
	if _, err := e.ch.Lock(context.Background(), "windows-ci", alice, "x"); err != nil {
		t.Fatalf("another pool is not locked: %v", err)
	}
	unlock()
	unlock() // a second unlock must not free someone else's lock
	if _, _, err := e.ch.Update(context.Background(), alice, "standby", e.cur(t, "linux-ci"), pool.Settings{Standby: pool.Int(1)}); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

func TestConcurrentChangesOneAtATime(t *testing.T) {
	e := newMemEnv(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, busy int
	cur := e.cur(t, "linux-ci")
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := e.ch.Update(context.Background(), alice, "standby", cur, pool.Settings{Standby: pool.Int(i % 3)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case pool.KindOf(err) == pool.KindBusy:
				busy++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	recs, _ := e.store.Audit(context.Background(), pool.AuditQuery{Pool: "linux-ci", Limit: 100})
	if ok == 0 || ok+busy != 8 || len(recs) != ok {
		t.Fatalf("%d applied, %d busy, %d audit records", ok, busy, len(recs))
	}
}

func TestSetImageRemembersPrevious(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	img, _ := pool.ParseImage("/subscriptions/" + sim.Subscription + "/resourceGroups/rg-agents/providers/Microsoft.Compute/galleries/poolbotgallery/images/ubuntu22")
	before, after, err := e.ch.SetImage(ctx, alice, "image linux-ci latest", "linux-ci", img)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(before.ID, "1.1.0") || !strings.HasSuffix(after.ID, "1.2.0") {
		t.Fatalf("image %s → %s, want 1.1.0 → 1.2.0", before.Short(), after.Short())
	}
	prev, err := e.ch.PreviousImage(ctx, "linux-ci")
	if err != nil || prev != before {
		t.Fatalf("previous image %v (err %v), want %v", prev, err, before)
	}
	if _, err := e.ch.PreviousImage(ctx, "windows-ci"); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("windows-ci previous image err = %v, want ErrNotFound", err)
	}
}

func TestNodesAudited(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.clk.Advance(30 * time.Minute)
	nodes, err := e.svc.Nodes(ctx, "linux-ci")
	if err != nil || len(nodes) == 0 {
		t.Fatalf("nodes: %v (%d)", err, len(nodes))
	}
	if err := e.ch.Nodes(ctx, alice, "node reimage", "linux-ci", "reimage", []int{nodes[0].ID}); err != nil {
		t.Fatal(err)
	}
	if err := e.ch.Nodes(ctx, alice, "node frob", "linux-ci", "frob", []int{nodes[0].ID}); err == nil {
		t.Fatal("unknown node operation accepted")
	}
	recs, _ := e.store.Audit(ctx, pool.AuditQuery{Pool: "linux-ci"})
	if len(recs) != 1 || !strings.Contains(recs[0].After, "reimage nodes") {
		t.Fatalf("audit %+v", recs)
	}
}
