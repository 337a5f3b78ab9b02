// Package metrics is poolbot's Prometheus registry and its /metrics,
// /healthz and /readyz handlers. The rest of the bot reports to it through
// small methods (ObserveCommand, SetPools, SetLeader, …); figures that other
// parts already count (Azure calls) are read from them at scrape time.
package metrics

import (
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/poolbot/poolbot/pool"
)

// The APIs whose calls are counted.
const (
	DevOps = "devops"
	ARM    = "arm"
	Slack  = "slack"
)

// APIStats are the cumulative figures of one API's calls.
type APIStats struct {
	Calls, Errors, Throttled, Retries int64
}

// Metrics holds every figure poolbot exports.
type Metrics struct {
	reg *prometheus.Registry

	commands        *prometheus.CounterVec
	commandSeconds  *prometheus.HistogramVec
	scheduleApplied *prometheus.CounterVec
	leader          prometheus.Gauge
	leading         atomic.Bool

	mu       sync.Mutex
	pools    map[string]poolFigures
	cost     map[string]float64
	currency string
	apiFuncs map[string]func() APIStats
	apiOwn   map[string]*apiCounters
	firing   func() []pool.Alert

	checks checks
}

type poolFigures struct {
	p       pool.Pool
	counts  pool.Counts
	counted bool // nodes were fetched at least once
}

type apiCounters struct {
	calls, errors, throttled, retries atomic.Int64
}

// New returns a registry with poolbot's figures, the Go runtime's and the
// process's.
func New() *Metrics {
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		pools:    map[string]poolFigures{},
		cost:     map[string]float64{},
		currency: "USD",
		apiFuncs: map[string]func() APIStats{},
		apiOwn:   map[string]*apiCounters{},
	}
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poolbot_commands_total", Help: "Commands handled, by command and result.",
	}, []string{"command", "result"})
	m.commandSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "poolbot_command_duration_seconds", Help: "Time to handle a command, by command.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"command"})
	m.scheduleApplied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poolbot_schedule_changes_applied_total", Help: "Scheduled changes applied, by pool and result.",
	}, []string{"pool", "result"})
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "poolbot_leader", Help: "1 while this replica is the leader (runs the scheduler, the watcher and the outbox sender).",
	})
	m.reg.MustRegister(m.commands, m.commandSeconds, m.scheduleApplied, m.leader,
		prometheus.CollectorFunc(m.collectPools), prometheus.CollectorFunc(m.collectAPIs),
		prometheus.CollectorFunc(m.collectAlerts), prometheus.CollectorFunc(m.collectHealth),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the underlying registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveCommand counts one command and its latency. Its signature is
// commands.Options.Observe's.
func (m *Metrics) ObserveCommand(command, result string, d time.Duration) {
	if command == "" {
		command = "unknown"
	}
	m.commands.WithLabelValues(command, result).Inc()
	m.commandSeconds.WithLabelValues(command).Observe(d.Seconds())
}

// ScheduleApplied counts a scheduled change; result is "ok" or "error".
func (m *Metrics) ScheduleApplied(poolName, result string) {
	m.scheduleApplied.WithLabelValues(poolName, result).Inc()
}

// SetLeader records whether this replica leads.
func (m *Metrics) SetLeader(leading bool) {
	m.leading.Store(leading)
	if leading {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

// Leader reports what SetLeader last recorded.
func (m *Metrics) Leader() bool { return m.leading.Load() }

// SetPools replaces the set of known pools and their settings. Agent counts
// are taken from pools whose nodes were fetched; the others keep the counts
// last seen.
func (m *Metrics) SetPools(pools []pool.Pool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[string]poolFigures, len(pools))
	for _, p := range pools {
		f := m.pools[p.Name]
		f.p = p
		if p.Nodes != nil || p.Counts.Total() > 0 {
			f.counts, f.counted = p.Counts, true
			if p.Nodes != nil {
				f.counts = pool.Count(p.Nodes)
			}
		}
		f.p.Nodes = nil // keep no node slices alive between scrapes
		next[p.Name] = f
	}
	m.pools = next
	for name := range m.cost {
		if _, ok := next[name]; !ok {
			delete(m.cost, name)
		}
	}
}

// SetNodes records a pool's agents by state.
func (m *Metrics) SetNodes(poolName string, nodes []pool.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.pools[poolName]
	if !ok {
		f.p = pool.Pool{Name: poolName, Standby: -1, Max: -1}
	}
	f.counts, f.counted = pool.Count(nodes), true
	m.pools[poolName] = f
}

// SetCost records a pool's estimated cost so far today.
func (m *Metrics) SetCost(poolName string, amount float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cost[poolName] = amount
}

// SetCurrency names the currency of the cost figures (default USD).
func (m *Metrics) SetCurrency(c string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c != "" {
		m.currency = c
	}
}

// TrackAPI reads an API's cumulative figures from f at every scrape, added
// to what was counted here (Transport, Retried).
func (m *Metrics) TrackAPI(api string, f func() APIStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apiFuncs[api] = f
}

// Retried counts a retry of a call to api made outside a tracked client
// (the outbox retrying a Slack message).
func (m *Metrics) Retried(api string) { m.own(api).retries.Add(1) }

func (m *Metrics) own(api string) *apiCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.apiOwn[api]
	if !ok {
		c = &apiCounters{}
		m.apiOwn[api] = c
	}
	return c
}

// Transport counts the calls made through base as calls to api: a
// transport error or a 5xx is an error, a 429 is throttling.
func (m *Metrics) Transport(api string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &countingTransport{base: base, c: m.own(api)}
}

type countingTransport struct {
	base http.RoundTripper
	c    *apiCounters
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.c.calls.Add(1)
	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil:
		t.c.errors.Add(1)
	case resp.StatusCode == http.StatusTooManyRequests:
		t.c.throttled.Add(1)
	case resp.StatusCode >= 500:
		t.c.errors.Add(1)
	}
	return resp, err
}

// APIStats returns api's figures as /metrics shows them.
func (m *Metrics) APIStats(api string) APIStats {
	m.mu.Lock()
	f, c := m.apiFuncs[api], m.apiOwn[api]
	m.mu.Unlock()
	var s APIStats
	if f != nil {
		s = f()
	}
	if c != nil {
		s.Calls += c.calls.Load()
		s.Errors += c.errors.Load()
		s.Throttled += c.throttled.Load()
		s.Retries += c.retries.Load()
	}
	return s
}

// TrackAlerts reads the alerts firing from f at every scrape (the watcher's
// Firing). Pass nil when this replica stops watching.
func (m *Metrics) TrackAlerts(f func() []pool.Alert) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.firing = f
}

var (
	descAgents  = prometheus.NewDesc("poolbot_pool_agents", "Agents of a pool by state (idle, busy, starting, offline, failed, going).", []string{"pool", "state"}, nil)
	descStandby = prometheus.NewDesc("poolbot_pool_standby", "A pool's standby agents setting (desiredIdle).", []string{"pool"}, nil)
	descMax     = prometheus.NewDesc("poolbot_pool_max", "A pool's maximum agents (maxCapacity).", []string{"pool"}, nil)
	descOnline  = prometheus.NewDesc("poolbot_pool_online", "1 when Azure DevOps reports the pool online.", []string{"pool"}, nil)
	descCost    = prometheus.NewDesc("poolbot_pool_estimated_cost_today", "A pool's estimated cost so far today.", []string{"pool", "currency"}, nil)

	descCalls     = prometheus.NewDesc("poolbot_api_calls_total", "Calls made to an API (devops, arm, slack).", []string{"api"}, nil)
	descErrors    = prometheus.NewDesc("poolbot_api_errors_total", "Calls to an API that failed.", []string{"api"}, nil)
	descThrottled = prometheus.NewDesc("poolbot_api_throttled_total", "Calls to an API answered 429 (or slowed for its rate limit).", []string{"api"}, nil)
	descRetries   = prometheus.NewDesc("poolbot_api_retries_total", "Calls to an API retried.", []string{"api"}, nil)

	descFiring = prometheus.NewDesc("poolbot_alerts_firing", "Alerts firing, by pool, condition and severity.", []string{"pool", "condition", "severity"}, nil)
)

func (m *Metrics) collectPools(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	names := make([]string, 0, len(m.pools))
	for n := range m.pools {
		names = append(names, n)
	}
	sort.Strings(names)
	figs := make([]poolFigures, len(names))
	for i, n := range names {
		figs[i] = m.pools[n]
	}
	cost := make(map[string]float64, len(m.cost))
	for k, v := range m.cost {
		cost[k] = v
	}
	currency := m.currency
	m.mu.Unlock()

	for _, f := range figs {
		n := f.p.Name
		if f.counted {
			c := f.counts
			for _, s := range []struct {
				class pool.Class
				v     int
			}{{pool.ClassIdle, c.Idle}, {pool.ClassBusy, c.Busy}, {pool.ClassStarting, c.Starting},
				{pool.ClassOffline, c.Offline}, {pool.ClassFailed, c.Failed}, {pool.ClassGoing, c.Going}} {
				ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(s.v), n, string(s.class))
			}
		}
		if f.p.Max >= 0 {
			ch <- prometheus.MustNewConstMetric(descStandby, prometheus.GaugeValue, float64(f.p.Standby), n)
			ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(f.p.Max), n)
			online := 0.0
			if f.p.State == pool.StateOnline {
				online = 1
			}
			ch <- prometheus.MustNewConstMetric(descOnline, prometheus.GaugeValue, online, n)
		}
		if v, ok := cost[n]; ok {
			ch <- prometheus.MustNewConstMetric(descCost, prometheus.GaugeValue, v, n, currency)
		}
	}
}

func (m *Metrics) collectAPIs(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	apis := map[string]bool{DevOps: true, ARM: true, Slack: true}
	for a := range m.apiFuncs {
		apis[a] = true
	}
	for a := range m.apiOwn {
		apis[a] = true
	}
	m.mu.Unlock()
	for a := range apis {
		s := m.APIStats(a)
		ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(s.Calls), a)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.Errors), a)
		ch <- prometheus.MustNewConstMetric(descThrottled, prometheus.CounterValue, float64(s.Throttled), a)
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(s.Retries), a)
	}
}

func (m *Metrics) collectAlerts(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	f := m.firing
	m.mu.Unlock()
	if f == nil {
		return
	}
	type key struct{ pool, cond, sev string }
	n := map[key]int{}
	for _, a := range f() {
		if a.Firing {
			n[key{a.Pool, a.Condition, a.Severity}]++
		}
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(descFiring, prometheus.GaugeValue, float64(v), k.pool, k.cond, k.sev)
	}
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Register adds /metrics, /healthz and /readyz to mux.
func (m *Metrics) Register(mux *http.ServeMux) {
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("GET /healthz", m.HealthHandler())
	mux.Handle("GET /readyz", m.ReadyHandler())
}
