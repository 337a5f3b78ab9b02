package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrNotYet is a pushed check's state before its first report.
var ErrNotYet = errors.New("not checked yet")

// checks are what /readyz asks: functions called per probe, and states
// pushed by the parts that know them (Slack connected, Azure DevOps's last
// poll). An advisory check is reported in the body and in
// poolbot_ready_check but never makes the replica unready: readiness tracks
// what this replica needs to serve, not every service it talks to (an
// outage of Slack's Web API must not take every replica out of the
// Service).
type checks struct {
	mu       sync.Mutex
	funcs    map[string]func(context.Context) error
	states   map[string]error
	advisory map[string]bool
	last     []CheckResult // the last probe's results, for /metrics

	refusedTotal atomic.Int64 // outbox messages set aside as refused
	refusedNow   atomic.Int64 // refused messages kept now, as the outbox check saw them
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

// AddAdvisory is AddCheck for a check that is reported but never makes the
// replica unready.
func (m *Metrics) AddAdvisory(name string, check func(context.Context) error) {
	m.AddCheck(name, check)
	m.SetAdvisory(name, true)
}

// SetAdvisory makes the check name advisory (reported, never failing
// readiness) or required again.
func (m *Metrics) SetAdvisory(name string, advisory bool) {
	c := &m.checks
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.advisory == nil {
		c.advisory = map[string]bool{}
	}
	c.advisory[name] = advisory
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
	// Advisory checks are reported but do not make the replica unready.
	Advisory bool `json:"advisory,omitempty"`
}

// Ready runs every check and reports whether all pass.
func (m *Metrics) Ready(ctx context.Context) (bool, []CheckResult) {
	c := &m.checks
	c.mu.Lock()
	funcs := make(map[string]func(context.Context) error, len(c.funcs))
	for k, v := range c.funcs {
		funcs[k] = v
	}
	advisory := make(map[string]bool, len(c.advisory))
	for k, v := range c.advisory {
		advisory[k] = v
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
	for i := range results {
		results[i].Advisory = advisory[results[i].Name]
		ok = ok && (results[i].OK || results[i].Advisory)
	}
	c.mu.Lock()
	c.last = results
	c.mu.Unlock()
	return ok, results
}

// Refused counts an outbox message set aside because Slack refused it for
// good (bot.Sender's OnRefused).
func (m *Metrics) Refused() { m.checks.refusedTotal.Add(1) }

// SetRefusedKept records how many refused messages the store keeps now
// (the outbox check's count), for poolbot_outbox_refused_messages.
func (m *Metrics) SetRefusedKept(n int) { m.checks.refusedNow.Store(int64(n)) }

var (
	descRefusedKept = prometheus.NewDesc("poolbot_outbox_refused_messages",
		"Messages Slack refused for good that are kept until /pool outbox retry, as the last /readyz probe counted them.", nil, nil)
	descCheck = prometheus.NewDesc("poolbot_ready_check",
		"1 when a readiness check passed at the last /readyz probe, else 0; advisory checks do not make the replica unready.",
		[]string{"check", "advisory"}, nil)
	descRefused = prometheus.NewDesc("poolbot_outbox_refused_total",
		"Outbox messages Slack refused for good, kept as refused (see /pool outbox).", nil, nil)
)

func (m *Metrics) collectHealth(ch chan<- prometheus.Metric) {
	c := &m.checks
	c.mu.Lock()
	last := append([]CheckResult(nil), c.last...)
	c.mu.Unlock()
	for _, r := range last {
		v := 0.0
		if r.OK {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descCheck, prometheus.GaugeValue, v, r.Name, strconv.FormatBool(r.Advisory))
	}
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(c.refusedTotal.Load()))
	ch <- prometheus.MustNewConstMetric(descRefusedKept, prometheus.GaugeValue, float64(c.refusedNow.Load()))
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

// ReadyHandler answers 200 when every required check passes, else 503; the
// body lists the checks as JSON (advisory ones marked), with the leader
// status.
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
