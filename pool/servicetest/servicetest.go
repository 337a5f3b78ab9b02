// Package servicetest is the conformance suite every pool.Service passes:
// the scale-set (elastic) client and the Managed DevOps Pools client, each
// against the simulator over real HTTP.
package servicetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// Env is a service and one of its pools that the suite may change.
type Env struct {
	Service pool.Service
	// Pool has max of at least 3.
	Pool string
	// Image is an image Pool may be set to; Missing one that does not exist.
	Image, Missing pool.Image
	// Advance moves the simulated time, so that agents come and go.
	Advance func(time.Duration)
}

// Open returns a fresh environment for t.
type Open func(t *testing.T) Env

// Run runs every test of the suite against environments made by open.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, e Env)
	}{
		{"ListAndGetAgree", testListAndGet},
		{"NotFound", testNotFound},
		{"Update", testUpdate},
		{"UpdateInvalidChangesNothing", testUpdateInvalid},
		{"UpdateSendsOnlyItsSettings", testUpdateSendsOnlyItsSettings},
		{"AgentsFollowStandby", testAgentsFollowStandby},
		{"SetImage", testSetImage},
		{"SetMissingImageChangesNothing", testSetMissingImage},
		{"Concurrent", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func get(t *testing.T, e Env) pool.Pool {
	t.Helper()
	p, err := e.Service.Get(ctx(t), e.Pool)
	if err != nil {
		t.Fatalf("Get(%s): %v", e.Pool, err)
	}
	return p
}

func kind(t *testing.T, err error, want pool.Kind, what string) {
	t.Helper()
	var pe *pool.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: error %v (%T) is not a *pool.Error", what, err, err)
	}
	if pe.Kind != want {
		t.Errorf("%s: kind %d (%v), want %d", what, pe.Kind, pe, want)
	}
	if pe.Error() == "" {
		t.Errorf("%s: an error without words", what)
	}
}

func testListAndGet(t *testing.T, e Env) {
	ps, err := e.Service.List(ctx(t), pool.ListOptions{Nodes: true})
	if err != nil {
		t.Fatal(err)
	}
	var listed *pool.Pool
	for i := range ps {
		if ps[i].Name == e.Pool {
			listed = &ps[i]
		}
		if got := pool.Count(ps[i].Nodes); got != ps[i].Counts {
			t.Errorf("%s: Counts %+v, but its nodes count %+v", ps[i].Name, ps[i].Counts, got)
		}
	}
	if listed == nil {
		t.Fatalf("List does not hold %s", e.Pool)
	}
	p := get(t, e)
	if p.Name != e.Pool || p.Max != listed.Max || p.Standby != listed.Standby || p.Max < 1 {
		t.Errorf("Get = %s max %d standby %d, List = max %d standby %d", p.Name, p.Max, p.Standby, listed.Max, listed.Standby)
	}
	if p.ScaleSet == nil || p.ScaleSet.Region == "" || p.ScaleSet.SKU == "" || p.ScaleSet.Image.IsZero() {
		t.Errorf("Get has no Azure side: %+v", p.ScaleSet)
	}
	if p.ScaleSetID == "" {
		t.Error("Get has no resource id for cost")
	}
}

func testNotFound(t *testing.T, e Env) {
	_, err := e.Service.Get(ctx(t), "no-such-pool")
	kind(t, err, pool.KindNotFound, "Get")
	_, err = e.Service.Nodes(ctx(t), "no-such-pool")
	kind(t, err, pool.KindNotFound, "Nodes")
	_, err = e.Service.Update(ctx(t), pool.Pool{Name: "no-such-pool"}, pool.Settings{Max: pool.Int(2)})
	kind(t, err, pool.KindNotFound, "Update")
}

func testUpdate(t *testing.T, e Env) {
	before := get(t, e)
	after, err := e.Service.Update(ctx(t), before, pool.Settings{Standby: pool.Int(1), Max: pool.Int(3)})
	if err != nil {
		t.Fatal(err)
	}
	if after.Name != e.Pool || after.Standby != 1 || after.Max != 3 {
		t.Errorf("Update returned %s standby %d max %d, want %s, 1 and 3", after.Name, after.Standby, after.Max, e.Pool)
	}
	p := get(t, e)
	if p.Standby != 1 || p.Max != 3 {
		t.Errorf("after Update, Get: standby %d max %d, want 1 and 3", p.Standby, p.Max)
	}
	if p.TTLMinutes != before.TTLMinutes || p.Recycle != before.Recycle {
		t.Errorf("Update of standby and max changed ttl %d→%d recycle %t→%t", before.TTLMinutes, p.TTLMinutes, before.Recycle, p.Recycle)
	}
	// By name alone, as the pool was read before: only standby is sent.
	if _, err := e.Service.Update(ctx(t), pool.Pool{Name: e.Pool}, pool.Settings{Standby: pool.Int(0)}); err != nil {
		t.Fatal(err)
	}
	if p := get(t, e); p.Standby != 0 || p.Max != 3 {
		t.Errorf("after standby 0: standby %d max %d, want 0 and 3", p.Standby, p.Max)
	}
}

// testUpdateSendsOnlyItsSettings: an Update made with a pool read before
// another change keeps that other change; it sends only what it sets.
func testUpdateSendsOnlyItsSettings(t *testing.T, e Env) {
	old := get(t, e)
	if _, err := e.Service.Update(ctx(t), old, pool.Settings{Standby: pool.Int(0), Max: pool.Int(3)}); err != nil {
		t.Fatal(err)
	}
	stale := old // as read before the change above
	after, err := e.Service.Update(ctx(t), stale, pool.Settings{Standby: pool.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	if after.Standby != 2 || after.Max != 3 {
		t.Errorf("Update of standby with a stale read returned standby %d max %d, want 2 and 3", after.Standby, after.Max)
	}
	if p := get(t, e); p.Standby != 2 || p.Max != 3 {
		t.Errorf("Update of standby with a stale read left standby %d max %d, want 2 and 3 (max kept)", p.Standby, p.Max)
	}
}

func testUpdateInvalid(t *testing.T, e Env) {
	before := get(t, e)
	_, err := e.Service.Update(ctx(t), before, pool.Settings{Standby: pool.Int(before.Max + 1)})
	kind(t, err, pool.KindInvalid, "standby over max")
	_, err = e.Service.Update(ctx(t), before, pool.Settings{Max: pool.Int(0)})
	kind(t, err, pool.KindInvalid, "max 0")
	if _, err := e.Service.Update(ctx(t), before, pool.Settings{Standby: pool.Int(2), Max: pool.Int(3)}); err != nil {
		t.Fatal(err)
	}
	before = get(t, e)
	_, err = e.Service.Update(ctx(t), before, pool.Settings{Max: pool.Int(1)})
	kind(t, err, pool.KindInvalid, "max under standby")
	after := get(t, e)
	if after.Standby != before.Standby || after.Max != before.Max {
		t.Errorf("refused updates changed the pool: standby %d→%d max %d→%d", before.Standby, after.Standby, before.Max, after.Max)
	}
}

func testAgentsFollowStandby(t *testing.T, e Env) {
	if _, err := e.Service.Update(ctx(t), get(t, e), pool.Settings{Standby: pool.Int(2), Max: pool.Int(3)}); err != nil {
		t.Fatal(err)
	}
	e.Advance(30 * time.Minute)
	nodes, err := e.Service.Nodes(ctx(t), e.Pool)
	if err != nil {
		t.Fatal(err)
	}
	c := pool.Count(nodes)
	if up := c.Idle + c.Busy + c.Starting; up < 2 || c.Total() > 3+c.Going {
		t.Errorf("standby 2 max 3 after 30 min: %+v", c)
	}
	for _, n := range nodes {
		if n.Name == "" || n.State == "" {
			t.Errorf("node without name or state: %+v", n)
		}
	}
}

func testSetImage(t *testing.T, e Env) {
	before := get(t, e).ScaleSet.Image
	was, now, err := e.Service.SetImage(ctx(t), e.Pool, e.Image)
	if err != nil {
		t.Fatal(err)
	}
	if was != before || now != e.Image {
		t.Errorf("SetImage = %v → %v, want %v → %v", was, now, before, e.Image)
	}
	if got := get(t, e).ScaleSet.Image; got != e.Image {
		t.Errorf("after SetImage, Get: %v, want %v", got, e.Image)
	}
}

func testSetMissingImage(t *testing.T, e Env) {
	before := get(t, e).ScaleSet.Image
	_, _, err := e.Service.SetImage(ctx(t), e.Pool, e.Missing)
	if err == nil {
		t.Fatal("SetImage to a missing image succeeded")
	}
	kind(t, err, pool.KindNotFound, "missing image")
	if got := get(t, e).ScaleSet.Image; got != before {
		t.Errorf("a refused image changed the pool: %v → %v", before, got)
	}
}

func testConcurrent(t *testing.T, e Env) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := e.Service.List(ctx(t), pool.ListOptions{Nodes: true})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := e.Service.Get(ctx(t), e.Pool)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
