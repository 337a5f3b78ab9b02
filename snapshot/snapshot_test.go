package snapshot

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/pool/pooltest"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// counting returns a service whose Get answers standby = the number of
// Gets so far, after release is closed.
func counting(release <-chan struct{}) (*pooltest.Service, *atomic.Int32) {
	var n atomic.Int32
	return &pooltest.Service{
		GetFn: func(ctx context.Context, name string) (pool.Pool, error) {
			k := n.Add(1)
			<-release
			return pool.Pool{Name: name, Standby: int(k)}, nil
		},
		ListFn: func(ctx context.Context, o pool.ListOptions) ([]pool.Pool, error) {
			k := n.Add(1)
			<-release
			return []pool.Pool{{Name: "linux-ci", Standby: int(k)}}, nil
		},
		UpdateFn: func(ctx context.Context, cur pool.Pool, s pool.Settings) (pool.Pool, error) {
			return s.Apply(cur), nil
		},
	}, &n
}

func TestConcurrentReadsShareOneFetch(t *testing.T) {
	release := make(chan struct{})
	svc, n := counting(release)
	c := New(svc, clock.NewFake(t0), 0)
	const readers = 200
	var wg sync.WaitGroup
	got := make([]int, readers)
	for i := range readers {
		wg.Go(func() {
			p, err := c.Get(context.Background(), "linux-ci")
			if err != nil {
				t.Error(err)
			}
			got[i] = p.Standby
		})
	}
	// Let them all queue behind the first fetch, then answer it.
	for deadline := time.Now().Add(5 * time.Second); n.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	// Readers that arrived after the fetch ended are served its answer
	// from the snapshot: one fetch in all.
	if k := n.Load(); k != 1 {
		t.Errorf("%d readers made %d fetches, want 1", readers, k)
	}
	for i, s := range got {
		if s != 1 {
			t.Fatalf("reader %d got standby %d, want the one fetch's 1", i, s)
		}
	}
}

func TestSnapshotAgeAndExpiry(t *testing.T) {
	release := make(chan struct{})
	close(release)
	svc, n := counting(release)
	clk := clock.NewFake(t0)
	c := New(svc, clk, 5*time.Second)
	ctx := context.Background()
	if _, at, _ := c.GetAt(ctx, "linux-ci"); !at.Equal(t0) {
		t.Errorf("first read at %v, want %v", at, t0)
	}
	clk.Advance(4 * time.Second)
	p, at, _ := c.GetAt(ctx, "LINUX-CI")
	if p.Standby != 1 || !at.Equal(t0) || n.Load() != 1 {
		t.Errorf("4 s later: standby %d read at %v after %d fetches; want the snapshot of %v", p.Standby, at, n.Load(), t0)
	}
	clk.Advance(time.Second)
	p, at, _ = c.GetAt(ctx, "linux-ci")
	if p.Standby != 2 || !at.Equal(t0.Add(5*time.Second)) {
		t.Errorf("5 s later: standby %d read at %v; want a new fetch", p.Standby, at)
	}
}

func TestListServedFromAListWithMoreDetail(t *testing.T) {
	release := make(chan struct{})
	close(release)
	svc, n := counting(release)
	c := New(svc, clock.NewFake(t0), 0)
	ctx := context.Background()
	if _, err := c.List(ctx, pool.ListOptions{Nodes: true, Queue: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, pool.ListOptions{Nodes: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, pool.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if k := n.Load(); k != 1 {
		t.Errorf("lists with less detail made %d fetches, want 1", k)
	}
	if _, err := c.List(ctx, pool.ListOptions{ScaleSets: true}); err != nil {
		t.Fatal(err)
	}
	if k := n.Load(); k != 2 {
		t.Errorf("a list with scale sets made %d fetches in all, want 2", k)
	}
}

func TestChangeForgetsThePool(t *testing.T) {
	release := make(chan struct{})
	close(release)
	svc, n := counting(release)
	c := New(svc, clock.NewFake(t0), time.Minute)
	ctx := context.Background()
	c.Get(ctx, "linux-ci")
	c.List(ctx, pool.ListOptions{})
	if _, err := c.Update(ctx, pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(3)}); err != nil {
		t.Fatal(err)
	}
	p, _ := c.Get(ctx, "linux-ci")
	ps, _ := c.List(ctx, pool.ListOptions{})
	if n.Load() != 4 || p.Standby != 3 || ps[0].Standby != 4 {
		t.Errorf("after a change: %d fetches, get %d, list %d; want both read again", n.Load(), p.Standby, ps[0].Standby)
	}

	// A refused change forgets nothing.
	svc.UpdateFn = func(context.Context, pool.Pool, pool.Settings) (pool.Pool, error) {
		return pool.Pool{}, &pool.Error{Kind: pool.KindInvalid, Msg: "no"}
	}
	c.Update(ctx, pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(-1)})
	c.Get(ctx, "linux-ci")
	if n.Load() != 4 {
		t.Errorf("a refused change made the next read fetch (%d fetches)", n.Load())
	}
}

// A fetch that began before a change is not kept after it: the next read
// sees the change.
func TestFetchOverlappingAChangeIsNotKept(t *testing.T) {
	release := make(chan struct{})
	svc, n := counting(release)
	c := New(svc, clock.NewFake(t0), time.Minute)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Get(ctx, "linux-ci")
	}()
	for deadline := time.Now().Add(5 * time.Second); n.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	c.Invalidate("linux-ci") // a change returns while the fetch is out
	close(release)
	<-done
	p, _ := c.Get(ctx, "linux-ci")
	if p.Standby != 2 {
		t.Errorf("read after the change got the fetch that overlapped it (standby %d)", p.Standby)
	}
}

func TestErrorsAreNotKept(t *testing.T) {
	calls := 0
	svc := &pooltest.Service{LogsFn: func(context.Context, string, uint64) ([]pool.LogEntry, error) {
		calls++
		if calls == 1 {
			return nil, errors.New("boom")
		}
		return []pool.LogEntry{{ID: 1}}, nil
	}}
	c := New(svc, clock.NewFake(t0), time.Minute)
	if _, err := c.Logs(context.Background(), "linux-ci", 0); err == nil {
		t.Fatal("the failure was not returned")
	}
	l, err := c.Logs(context.Background(), "linux-ci", 0)
	if err != nil || len(l) != 1 {
		t.Errorf("after a failure: %v, %v; want a new fetch", l, err)
	}
}

// One caller giving up does not fail the others waiting on the same fetch.
func TestCallerCancellationDoesNotFailOthers(t *testing.T) {
	release := make(chan struct{})
	svc, n := counting(release)
	c := New(svc, clock.NewFake(t0), time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := c.Get(ctx, "linux-ci"); first <- err }()
	for deadline := time.Now().Add(5 * time.Second); n.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() { _, err := c.Get(context.Background(), "linux-ci"); second <- err }()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled caller got %v", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Errorf("the other caller got %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d fetches, want 1", n.Load())
	}
}

// A read marked Fresh fetches anew, and what it read serves the next reads.
func TestFreshReadFetchesAnew(t *testing.T) {
	release := make(chan struct{})
	close(release)
	svc, n := counting(release)
	c := New(svc, clock.NewFake(t0), time.Minute)
	ctx := context.Background()
	c.List(ctx, pool.ListOptions{})
	ps, err := c.List(Fresh(ctx), pool.ListOptions{})
	if err != nil || ps[0].Standby != 2 || n.Load() != 2 {
		t.Fatalf("fresh read: %v, %v after %d fetches; want a second fetch", ps, err, n.Load())
	}
	ps, _ = c.List(ctx, pool.ListOptions{})
	if ps[0].Standby != 2 || n.Load() != 2 {
		t.Errorf("the read after a fresh one got %v after %d fetches; want the fresh one's answer", ps, n.Load())
	}
}

// Reads in different partitions never share a fetch: one in a hurry does not
// wait on another's.
func TestPartitionsDoNotShareFetches(t *testing.T) {
	slow := make(chan struct{})
	var n atomic.Int32
	svc := &pooltest.Service{GetFn: func(ctx context.Context, name string) (pool.Pool, error) {
		if n.Add(1) == 1 {
			<-slow // the first, the scheduler's, waits out a throttle
		}
		return pool.Pool{Name: name}, nil
	}}
	type part struct{}
	c := New(svc, clock.NewFake(t0), time.Minute, WithPartition(func(ctx context.Context) string {
		v, _ := ctx.Value(part{}).(string)
		return v
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Get(context.WithValue(context.Background(), part{}, "scheduled"), "linux-ci")
	}()
	for deadline := time.Now().Add(5 * time.Second); n.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	got := make(chan error, 1)
	go func() {
		_, err := c.Get(context.WithValue(context.Background(), part{}, "interactive"), "linux-ci")
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read in another partition waited on the first one's fetch")
	}
	close(slow)
	<-done
}
