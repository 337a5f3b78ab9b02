package azure

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

// recorder notes every request sent, in order.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func (r *recorder) since(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs[n:]...)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// within runs f and fails the test if it does not return within a second
// of real time: on the frozen fake clock, a call that waited for the
// throttle would never return.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s waited for the throttle", what)
	}
}

// TestThrottleAnswersPeopleAtOnce: after a 429 with Retry-After 90 s, on a
// clock that does not move, a person's calls fail at once with the time
// the throttle ends, unsent (or, for a bare pool list, are answered from
// the last list), while the scheduler's and the watcher's calls wait; when
// the throttle lifts, the scheduler's change goes before the watcher's
// polls.
func TestThrottleAnswersPeopleAtOnce(t *testing.T) {
	fc := clock.NewFake(simStart)
	rec := &recorder{base: http.DefaultTransport}
	e := newEnv(t, sim.Faults{}, func(o *Options) {
		o.Clock = fc
		o.HTTPClient = &http.Client{Transport: rec}
	})
	people := WithUrgency(ctx(t), Interactive)
	if _, err := e.c.List(people, pool.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	before, err := e.c.Get(ctx(t), "linux-ci")
	if err != nil {
		t.Fatal(err)
	}

	// The watcher's poll meets a 429 with Retry-After 90 s and waits.
	e.sim.SetFaults(sim.Faults{Rate429: 1, RetryAfter: 90 * time.Second})
	watcher := make(chan error, 1)
	go func() {
		_, err := e.c.Nodes(WithUrgency(ctx(t), Background), "gpu-nightly")
		watcher <- err
	}()
	fc.WaitFor(1)
	e.sim.SetFaults(sim.Faults{})
	until := simStart.Add(90 * time.Second)
	if got := e.c.ThrottledUntil(); !got.Equal(until) {
		t.Fatalf("ThrottledUntil %v, want %v", got, until)
	}
	sent := rec.len()

	tests := []struct {
		name string
		call func(ctx context.Context) error
		ok   bool // answered from what poolbot knows
	}{
		{"a change", func(ctx context.Context) error {
			_, err := e.c.Update(ctx, pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(5)})
			return err
		}, false},
		{"a pool's status", func(ctx context.Context) error { _, err := e.c.Get(ctx, "linux-ci"); return err }, false},
		{"the list with nodes", func(ctx context.Context) error {
			_, err := e.c.List(ctx, pool.ListOptions{Nodes: true})
			return err
		}, false},
		{"the names (history linux-ci resolves its pool)", func(ctx context.Context) error {
			ps, err := e.c.List(ctx, pool.ListOptions{})
			if err == nil && len(ps) != 3 {
				t.Errorf("%d pools from the last list, want 3", len(ps))
			}
			return err
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			within(t, tt.name, func() { err = tt.call(people) })
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			pe := kindIs(t, err, pool.KindThrottled, "Azure DevOps is throttling poolbot until 09:01:30 UTC")
			if pe.RetryAfter != 90*time.Second {
				t.Errorf("RetryAfter %v, want 1m30s", pe.RetryAfter)
			}
		})
	}
	// A caller with no urgency waits up to a minute: 90 s is too long.
	within(t, "a normal call", func() {
		_, err := e.c.Nodes(ctx(t), "linux-ci")
		kindIs(t, err, pool.KindThrottled, "until 09:01:30 UTC")
	})
	if got := rec.since(sent); len(got) != 0 {
		t.Fatalf("requests sent during the throttle: %v", got)
	}
	if st := e.c.Stats().DevOps; st.Refused != 5 {
		t.Errorf("refused %d calls, want 5", st.Refused)
	}

	// The scheduler's change waits for the throttle, then goes first.
	sched := make(chan error, 1)
	go func() {
		_, err := e.c.Update(WithUrgency(ctx(t), Scheduled), pool.Pool{Name: "windows-ci"}, pool.Settings{Standby: pool.Int(0)})
		sched <- err
	}()
	fc.WaitFor(2)
	fc.Advance(90 * time.Second)
	if err := <-sched; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-watcher:
		t.Fatalf("the watcher's poll went (%v) right after the scheduler's change", err)
	case <-time.After(50 * time.Millisecond):
	}
	fc.WaitFor(1)
	fc.Advance(firstGap)
	if err := <-watcher; err != nil {
		t.Fatal(err)
	}
	after := rec.since(sent)
	patch, nodes := -1, -1
	for i, r := range after {
		if strings.HasPrefix(r, "PATCH ") && patch < 0 {
			patch = i
		}
		if strings.HasSuffix(r, "/nodes") && nodes < 0 {
			nodes = i
		}
	}
	if patch < 0 || nodes < 0 || patch > nodes {
		t.Errorf("after the throttle: %v; want the scheduler's PATCH before the watcher's node list", after)
	}
	if p, _ := e.c.Get(ctx(t), "linux-ci"); p.Standby != before.Standby {
		t.Errorf("linux-ci standby %d, want %d: a refused change went through", p.Standby, before.Standby)
	}
	if p, _ := e.c.Get(ctx(t), "windows-ci"); p.Standby != 0 {
		t.Errorf("windows-ci standby %d, want the scheduler's 0", p.Standby)
	}
}
