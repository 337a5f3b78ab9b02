package commands

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/snapshot"
)

// apiCalls sums the simulator's Azure DevOps and ARM requests.
func apiCalls(s *sim.Sim) (devops, arm int) {
	for k, v := range s.Calls() {
		switch {
		case strings.HasPrefix(k, "ado."):
			devops += v
		case strings.HasPrefix(k, "arm."):
			arm += v
		}
	}
	return devops, arm
}

// newCachedStack is the stack with reads and changes through a snapshot
// cache, as app wires it.
func newCachedStack(t testing.TB, maxAge time.Duration) (*stack, *snapshot.Cache) {
	var cache *snapshot.Cache
	s := newStack(t, func(o *Options) {
		cache = snapshot.New(o.Service, o.Clock, maxAge)
		o.Service = cache
		o.Changer = change.New(cache, o.Store.(change.Store), o.Clock, nil)
	})
	s.ch = s.opts.Changer
	return s, cache
}

// statusBurst runs n `/pool status linux-ci` at once and returns their
// replies' texts.
func statusBurst(t testing.TB, s *stack, n int) []string {
	texts := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec := &replies{}
			if err := s.h.Handle(context.Background(), req("U-viewer", "status linux-ci"), rec); err != nil {
				t.Error(err)
			}
			texts[i] = plainOf(rec.last())
		})
	}
	wg.Wait()
	return texts
}

func TestStatusBurstCostsAtMostTwoRefreshes(t *testing.T) {
	s, cache := newCachedStack(t, 5*time.Second)
	// One refresh: what one status costs with nothing cached.
	s.run(req("U-viewer", "status linux-ci")) // the client's start-up calls
	cache.Invalidate("")
	s.sim.ResetCalls()
	s.run(req("U-viewer", "status linux-ci"))
	oneDevOps, oneARM := apiCalls(s.sim)
	if oneDevOps == 0 {
		t.Fatal("a status with nothing cached made no Azure DevOps call")
	}

	cache.Invalidate("")
	s.sim.ResetCalls()
	const n = 500
	texts := statusBurst(t, s, n)
	devops, arm := apiCalls(s.sim)
	t.Logf("one status: %d Azure DevOps + %d ARM calls; %d at once: %d + %d", oneDevOps, oneARM, n, devops, arm)
	if devops > 2*oneDevOps || arm > 2*oneARM {
		t.Errorf("%d concurrent statuses cost %d Azure DevOps and %d ARM calls; 2 refreshes are %d and %d",
			n, devops, arm, 2*oneDevOps, 2*oneARM)
	}
	for i, txt := range texts {
		if !strings.HasPrefix(txt, "linux-ci (elastic pool): ") || !strings.Contains(txt, "standby") {
			t.Fatalf("status %d answered %q", i, txt)
		}
	}
}

func TestCachedStatusShowsItsAgeAndAChangeRefreshesIt(t *testing.T) {
	s, _ := newCachedStack(t, 5*time.Second)
	first := plainOf(s.run(req("U-viewer", "status linux-ci")).last())
	if strings.Contains(first, "as of") {
		t.Errorf("a fresh read shows an age: %q", first)
	}
	s.clk.Advance(3 * time.Second)
	s.sim.ResetCalls()
	second := plainOf(s.run(req("U-viewer", "status linux-ci")).last())
	if d, a := apiCalls(s.sim); d+a != 0 {
		t.Errorf("a read 3 s later made %d Azure DevOps and %d ARM calls; want it served from the snapshot", d, a)
	}
	if !strings.Contains(second, "as of 3 s ago") {
		t.Errorf("a snapshot 3 s old does not say so: %q", second)
	}
	before := s.settings("linux-ci").Standby
	s.run(req("U-operator", "standby linux-ci "+strconv.Itoa(before+1)))
	after := plainOf(s.run(req("U-viewer", "status linux-ci")).last())
	if strings.Contains(after, "as of") || !strings.Contains(after, "standby "+strconv.Itoa(before+1)+",") {
		t.Errorf("status after a change through poolbot is not read again: %q", after)
	}

	s.clk.Advance(5 * time.Second)
	s.sim.ResetCalls()
	s.run(req("U-viewer", "status linux-ci"))
	if d, _ := apiCalls(s.sim); d == 0 {
		t.Error("a snapshot 5 s old was served again")
	}
}

// routeCalls is the simulator's Azure requests by route.
func routeCalls(s *sim.Sim) map[string]int {
	m := map[string]int{}
	for k, v := range s.Calls() {
		if strings.HasPrefix(k, "ado.") || strings.HasPrefix(k, "arm.") {
			m[k] = v
		}
	}
	return m
}

// A change of one pool is one read and one PATCH. With nothing cached, the
// command's read of the list resolves the name and, begun after the pool's
// last change, is also the Changer's read under the lock (the intent it
// writes before the call records it); then a PATCH of what the change sets,
// sent against that read. After the pool's last change the Changer reads
// anew unless the snapshot's read began later than it (with the store's
// clock margin).
func TestChangeReadsAnewOnceAndPatchesOnce(t *testing.T) {
	s, cache := newCachedStack(t, 5*time.Second)
	s.run(req("U-viewer", "status linux-ci")) // the client's start-up calls

	cache.Invalidate("")
	s.sim.ResetCalls()
	s.run(req("U-operator", "standby linux-ci 3"))
	want := map[string]int{"ado.elasticpools.list": 1, "ado.elasticpools.update": 1}
	if got := routeCalls(s.sim); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("a change with nothing cached made %v, want %v", got, want)
	}

	// Someone looks, then changes: the name resolves from the snapshot.
	s.run(req("U-viewer", "status linux-ci"))
	s.sim.ResetCalls()
	rep := plainOf(s.run(req("U-operator", "standby linux-ci 1")).last())
	want = map[string]int{"ado.elasticpools.list": 1, "ado.elasticpools.update": 1}
	if got := routeCalls(s.sim); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("a change after a status made %v, want %v", got, want)
	}
	if !strings.Contains(rep, "standby 3 → 1") {
		t.Errorf("reply %q", rep)
	}
}
