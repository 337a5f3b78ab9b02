package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"sync"
	"time"
)

// ErrNotYet is a pushed check's state before its first report.
var ErrNotYet = errors.New("not checked yet")

// checks are what /readyz asks: functions called per probe, and states
// pushed by the parts that know them (Slack connected, Azure DevOps's last
// poll).
type checks struct {
	mu     sync.Mutex
	funcs  map[string]func(context.Context) error
	states map[string]error
}

// AddCheck makes /readyz call check at every probe (with a short timeout);
// an error makes the replica not ready.
func (m *Metrics) AddCheck(name string, check func(context.Context) error) {
	c := &m.checks
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.funcs == nil {
		c.funcs = map[string]func(context.Context) error{}
	}
	c.funcs[name] = check
}

// Expect declares a check whose state is pushed with SetCheck; until the
// first SetCheck it fails with ErrNotYet.
func (m *Metrics) Expect(name string) { m.SetCheck(name, ErrNotYet) }

// SetCheck records the state of a pushed check: nil is healthy.
func (m *Metrics) SetCheck(name string, err error) {
	c := &m.checks
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.states == nil {
		c.states = map[string]error{}
	}
	c.states[name] = err
}

// CheckResult is one check as /readyz reports it.
type CheckResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Ready runs every check and reports whether all pass.
func (m *Metrics) Ready(ctx context.Context) (bool, []CheckResult) {
	c := &m.checks
	c.mu.Lock()
	funcs := make(map[string]func(context.Context) error, len(c.funcs))
	for k, v := range c.funcs {
		funcs[k] = v
	}
	var results []CheckResult
	for name, err := range c.states {
		results = append(results, result(name, err))
	}
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for name, f := range funcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := result(name, f(ctx))
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool { return results[i].Name < results[j].Name })
	ok := true
	for _, r := range results {
		ok = ok && r.OK
	}
	return ok, results
}

func result(name string, err error) CheckResult {
	if err == nil {
		return CheckResult{Name: name, OK: true}
	}
	// Checks report what failed; they are written never to carry secrets.
	return CheckResult{Name: name, Error: err.Error()}
}

// HealthHandler answers 200 while the process serves HTTP at all.
func (m *Metrics) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
}

// ReadyHandler answers 200 when every check passes, else 503; the body
// lists the checks as JSON, with the leader status.
func (m *Metrics) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, results := m.Ready(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(struct {
			Ready  bool          `json:"ready"`
			Leader bool          `json:"leader"`
			Checks []CheckResult `json:"checks"`
		}{ok, m.Leader(), results})
	})
}
