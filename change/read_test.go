package change_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/snapshot"
)

// adoCalls is the simulator's Azure DevOps calls since its last reset.
func (e *env) adoCalls() string {
	calls := map[string]int{}
	for k, v := range e.sim.Calls() {
		if strings.HasPrefix(k, "ado.") || strings.HasPrefix(k, "arm.") {
			calls[k] = v
		}
	}
	return fmt.Sprint(calls)
}

// A change takes the caller's pool list as its one read when that list was
// read after the pool last changed through any replica; a list read before
// another replica's change is not taken, and the pool is read anew.
func TestChangeTakesAReadMadeSinceTheLastChange(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cacheA, cacheB := snapshot.New(e.svc, e.sim, 5*time.Second), snapshot.New(e.svc, e.sim, 5*time.Second)
	a := change.New(cacheA, e.store, e.sim, nil, change.WithReplica("a"))
	b := change.New(cacheB, e.store, e.sim, nil, change.WithReplica("b"))
	list := func(c *snapshot.Cache) pool.Pool {
		t.Helper()
		ps, err := c.List(ctx, pool.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Name == "linux-ci" {
				return p
			}
		}
		t.Fatal("no linux-ci")
		return pool.Pool{}
	}

	// b reads; then a changes the pool: b's read predates it.
	curB := list(cacheB)
	e.sim.Advance(3 * time.Second)
	if _, _, err := a.Update(ctx, alice, "standby linux-ci 3", list(cacheA), pool.Settings{Standby: pool.Int(3)}); err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCalls()
	before, after, err := b.Update(ctx, alice, "max linux-ci 9", curB, pool.Settings{Max: pool.Int(9)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.adoCalls(), "map[ado.elasticpools.list:1 ado.elasticpools.update:1]"; got != want {
		t.Errorf("a change after another replica's made %s, want %s", got, want)
	}
	if before.Standby != 3 || after.Standby != 3 || after.Max != 9 {
		t.Errorf("before standby %d, after standby %d max %d: want the other replica's standby 3 read anew", before.Standby, after.Standby, after.Max)
	}

	// Nothing changed since b's next read: that read is the change's one.
	e.sim.Advance(3 * time.Second)
	curB = list(cacheB)
	e.sim.ResetCalls()
	if before, _, err = b.Update(ctx, alice, "standby linux-ci 1", curB, pool.Settings{Standby: pool.Int(1)}); err != nil {
		t.Fatal(err)
	}
	if got, want := e.adoCalls(), "map[ado.elasticpools.update:1]"; got != want {
		t.Errorf("a change with a read made since the last one made %s, want %s", got, want)
	}
	if before.Standby != 3 || before.Max != 9 {
		t.Errorf("before %+v", before)
	}
	if now, _ := e.sim.Settings("linux-ci"); *now.Standby != 1 || *now.Max != 9 {
		t.Errorf("the simulator has %s", now)
	}

	// The record of a change is in the store, for every replica.
	if v, err := e.store.Get(ctx, change.ChangedKey("linux-ci")); err != nil || v == "" {
		t.Errorf("changed at %q, %v", v, err)
	}
}
