package change_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/store/postgres"
	"github.com/poolbot/poolbot/store/postgres/pgtest"
	"github.com/poolbot/poolbot/store/sqlite"
)

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// opener opens one more connection to the test's shared database, its
// clock clk, as another replica would.
type opener func(t *testing.T, clk clock.Clock) pool.Store

// onStores runs fn on one SQLite file and on PostgreSQL (skipped without
// POOLBOT_TEST_POSTGRES).
func onStores(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "shared.db")
		fn(t, func(t *testing.T, clk clock.Clock) pool.Store {
			st, err := sqlite.Open(context.Background(), path, sqlite.WithClock(clk))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		fn(t, func(t *testing.T, clk clock.Clock) pool.Store {
			st, err := postgres.Open(context.Background(), dsn, postgres.WithClock(clk))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

// replica is one poolbot process: a Changer on its own store connection.
type replica struct {
	st pool.Store
	ch *change.Changer
}

func newReplica(t *testing.T, open opener, clk clock.Clock, id string) replica {
	st := open(t, clk)
	return replica{st: st, ch: change.New(nil, st, clk, nil, change.WithReplica(id))}
}

var (
	ana = change.Actor{ID: "U-ana", Name: "ana", Channel: "C1", Source: "slack"}
	bob = change.Actor{ID: "U-bob", Name: "bob", Channel: "C1", Source: "slack"}
)

const anaBusy = `linux-ci is being changed by ana ("image linux-ci latest" since 09:00:00 UTC); try again when it is done`

func wantBusy(t *testing.T, err error, msg string) {
	t.Helper()
	if pool.KindOf(err) != pool.KindBusy || err.Error() != msg {
		t.Fatalf("err = %v (kind %v), want busy: %s", err, pool.KindOf(err), msg)
	}
}

func TestReplicasShareTheLock(t *testing.T) {
	onStores(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		clk := clock.NewFake(t0)
		a, b := newReplica(t, open, clk, "replica-a"), newReplica(t, open, clk, "replica-b")
		unlock, err := a.ch.Lock(ctx, "linux-ci", ana, "image linux-ci latest")
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(5 * time.Second)
		_, err = b.ch.Lock(ctx, "linux-ci", bob, "standby linux-ci 0")
		wantBusy(t, err, anaBusy)
		h, ok := b.ch.Holder(ctx, "linux-ci")
		if !ok || h.Actor != ana || h.Command != "image linux-ci latest" || !h.Since.Equal(t0) || h.Replica != "replica-a" {
			t.Fatalf("holder on the other replica: %+v, %t", h, ok)
		}
		if _, ok := b.ch.Holder(ctx, "windows-ci"); ok {
			t.Fatal("windows-ci has a holder")
		}
		unlockW, err := b.ch.Lock(ctx, "windows-ci", bob, "max windows-ci 4")
		if err != nil {
			t.Fatalf("another pool on the other replica: %v", err)
		}
		unlockW()
		unlock()
		unlock() // a second unlock must not free someone else's lock
		unlock, err = b.ch.Lock(ctx, "linux-ci", bob, "standby linux-ci 0")
		if err != nil {
			t.Fatalf("after unlock: %v", err)
		}
		defer unlock()
		if h, ok := a.ch.Holder(ctx, "linux-ci"); !ok || h.Actor.Name != "bob" {
			t.Fatalf("holder seen from a: %+v, %t", h, ok)
		}
		// ana's stale unlock, called again, leaves bob's lock alone.
		_, err = a.ch.Lock(ctx, "linux-ci", ana, "image linux-ci latest")
		if pool.KindOf(err) != pool.KindBusy || !strings.Contains(err.Error(), "bob") {
			t.Fatalf("a locked a pool bob holds: %v", err)
		}
	})
}

// A replica that stops renewing (here its store is gone, as for a replica
// killed or cut off) frees the pool once the TTL has passed, not before.
func TestLapsedLeaseIsTakenOver(t *testing.T) {
	onStores(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		clk := clock.NewFake(t0)
		a, b := newReplica(t, open, clk, "replica-a"), newReplica(t, open, clk, "replica-b")
		if _, err := a.ch.Lock(ctx, "linux-ci", ana, "image linux-ci latest"); err != nil {
			t.Fatal(err)
		}
		a.st.Close()
		clk.WaitFor(1) // a's renewer
		clk.Advance(change.DefaultLeaseTTL - time.Second)
		clk.WaitFor(1) // a's renewal failed and it waits again
		_, err := b.ch.Lock(ctx, "linux-ci", bob, "standby linux-ci 0")
		wantBusy(t, err, anaBusy)
		clk.Advance(time.Second)
		unlock, err := b.ch.Lock(ctx, "linux-ci", bob, "standby linux-ci 0")
		if err != nil {
			t.Fatalf("at the end of the TTL: %v", err)
		}
		unlock()
	})
}

// A change longer than the TTL keeps its pool: the holder renews the lease.
func TestRenewalOutlastsTheTTL(t *testing.T) {
	onStores(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		clk := clock.NewFake(t0)
		a, b := newReplica(t, open, clk, "replica-a"), newReplica(t, open, clk, "replica-b")
		unlock, err := a.ch.Lock(ctx, "linux-ci", ana, "image linux-ci latest")
		if err != nil {
			t.Fatal(err)
		}
		for range 3 * change.DefaultLeaseTTL / change.DefaultLeaseRenew {
			clk.WaitFor(1) // the renewer waits: the last renewal is done
			clk.Advance(change.DefaultLeaseRenew)
		}
		clk.WaitFor(1)
		l, err := b.st.CurrentLease(ctx, change.LeaseKey("linux-ci"))
		if err != nil || !l.Until.Equal(clk.Now().Add(change.DefaultLeaseTTL)) {
			t.Fatalf("lease %+v, %v at %v; want renewed to now + TTL", l, err, clk.Now())
		}
		_, err = b.ch.Lock(ctx, "linux-ci", bob, "standby linux-ci 0")
		wantBusy(t, err, anaBusy)
		unlock()
		if _, err := b.st.CurrentLease(ctx, change.LeaseKey("linux-ci")); !errors.Is(err, pool.ErrNotFound) {
			t.Fatalf("lease after unlock: %v, want none", err)
		}
		if unlock, err = b.ch.Lock(ctx, "linux-ci", bob, "standby linux-ci 0"); err != nil {
			t.Fatal(err)
		}
		unlock()
	})
}

// Many Locks at once across two replicas: exactly one wins each round, and
// every other is told it is busy.
func TestConcurrentLocksAcrossReplicas(t *testing.T) {
	onStores(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		clk := clock.NewFake(t0)
		rs := []replica{newReplica(t, open, clk, "replica-a"), newReplica(t, open, clk, "replica-b")}
		const n, rounds = 16, 5
		for r := range rounds {
			var wg sync.WaitGroup
			start := make(chan struct{})
			var mu sync.Mutex
			var unlocks []func()
			busy := 0
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					a := change.Actor{ID: fmt.Sprintf("U%d", i), Name: fmt.Sprintf("user%d", i)}
					unlock, err := rs[i%2].ch.Lock(ctx, "linux-ci", a, "standby linux-ci 1")
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						unlocks = append(unlocks, unlock)
					case pool.KindOf(err) == pool.KindBusy:
						busy++
					default:
						t.Errorf("round %d: %v", r, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if len(unlocks) != 1 || busy != n-1 {
				t.Fatalf("round %d: %d winners, %d busy; want 1 and %d", r, len(unlocks), busy, n-1)
			}
			unlocks[0]()
		}
	})
}

// With the store unreachable a change is refused, not made unlocked, and
// the refusal leaves no lock behind.
func TestStoreUnreachableRefuses(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gone.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	ch := change.New(e.svc, st, e.clk, nil, change.WithReplica("replica-a"))
	cur := e.cur(t, "linux-ci")
	e.sim.ResetCalls()
	for i := range 2 {
		_, _, err := ch.Update(ctx, ana, "standby linux-ci 0", cur, pool.Settings{Standby: pool.Int(0)})
		if pool.KindOf(err) != pool.KindUnavailable || !strings.Contains(err.Error(), "store did not answer") {
			t.Fatalf("try %d: err = %v, want unavailable", i, err)
		}
	}
	if calls := e.sim.Calls(); len(calls) != 0 {
		t.Fatalf("calls to Azure without the lock: %v", calls)
	}
	if _, ok := ch.Holder(ctx, "linux-ci"); ok {
		t.Fatal("a refused lock left a holder")
	}
}

// Without WithReplica the lock is the process's own, as before: nothing is
// written to the store.
func TestInProcessLockWritesNoLease(t *testing.T) {
	e := newMemEnv(t)
	ctx := context.Background()
	unlock, err := e.ch.Lock(ctx, "linux-ci", ana, "image linux-ci latest")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := e.store.CurrentLease(ctx, change.LeaseKey("linux-ci")); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("lease %v, want none", err)
	}
	if h, ok := e.ch.Holder(ctx, "linux-ci"); !ok || h.Actor != ana || h.Replica != "" {
		t.Fatalf("holder %+v, %t", h, ok)
	}
}

// BenchmarkLock: a Lock and its unlock, in-process only (the baseline) and
// shared through each store.
func BenchmarkLock(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, ch *change.Changer) {
		for i := 0; i < b.N; i++ {
			unlock, err := ch.Lock(ctx, "linux-ci", ana, "standby linux-ci 1")
			if err != nil {
				b.Fatal(err)
			}
			unlock()
		}
	}
	sq, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer sq.Close()
	b.Run("in-process(baseline)", func(b *testing.B) { run(b, change.New(nil, sq, nil, nil)) })
	b.Run("sqlite", func(b *testing.B) { run(b, change.New(nil, sq, nil, nil, change.WithReplica("r"))) })
	b.Run("postgres", func(b *testing.B) {
		pg, err := postgres.Open(ctx, pgtest.DSN(b))
		if err != nil {
			b.Fatal(err)
		}
		defer pg.Close()
		run(b, change.New(nil, pg, nil, nil, change.WithReplica("r")))
	})
}
