// Package watch polls the agent pools and tells Slack when they fail or cost
// too much: conditions are evaluated per pool, grouped per pool and condition
// as Alertmanager does, and posted, updated in place, threaded, repeated and
// resolved through the store's outbox.
package watch

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"path"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/cost"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/scheduler"
)

// Polling cadence of a quiet pool, in cycles. A pool whose list entry
// changed, whose nodes are in transition or failed, or that has an alert
// firing is polled every cycle instead.
const (
	nodesEvery      = 3  // a pool with agents
	emptyNodesEvery = 10 // a pool with no agents (desired size 0)
	logsEvery       = 6
	scheduleEvery   = 5 // the scheduler's failure record, from the store
	costEvery       = 5 // cost conditions
	fetchers        = 8 // pools fetched at once
)

const (
	// errorWindow is how long a new error log entry keeps error-logs firing.
	errorWindow = 15 * time.Minute
	// defaultResolveAfter is how long a condition must stay clear before its
	// alert is resolved, so that a pool whose VMs fail one after another
	// keeps one alert rather than a new one per VM.
	defaultResolveAfter = 10 * time.Minute
	// maxDetailLines bounds the detail lines remembered per alert.
	maxDetailLines = 100
)

// Store is what the watcher keeps: the alerts and mutes, claims that make
// each alert go out once across replicas, its log cursors, the messages it
// queues and the job history it reads into the store. Implementations are
// safe for concurrent use.
type Store interface {
	pool.AlertStore
	pool.Claims
	pool.KV
	pool.Enqueuer
	pool.JobStore
}

// Options configures a Watcher.
type Options struct {
	Service        pool.Service
	Store          Store
	Clock          clock.Clock
	Logger         *slog.Logger
	Alerts         Alerts
	DefaultChannel string
	PoolURL        func(p pool.Pool) string // nil: no "open" button
	Cost           *cost.Tracker            // nil: no cost tracking or cost alerts
	Owner          string                   // this replica, for Store.Claim
	// Schedules says whether it is working hours for a pool now; nil when
	// no schedule is known.
	Schedules func(pool string) (working bool)
	// ResolveAfter is how long a condition stays clear before its alert is
	// resolved (default 10m).
	ResolveAfter time.Duration
	// Retention is how long finished jobs are kept in the store (default
	// 90 days); a pool's first history read goes back as far.
	Retention time.Duration
	// Images tells when images were published, for the image-age
	// condition; nil: no such condition.
	Images ImageDates
}

// Alerts are the watcher's conditions and where their alerts go: the
// [alerts] section. Zero durations take the defaults.
type Alerts struct {
	Interval       time.Duration // poll interval, default 60s
	RepeatInterval time.Duration // default 4h
	StuckAfter     time.Duration // nodes creating/starting longer, default 20m
	OfflineAfter   time.Duration // agents offline longer, default 15m
	SaturatedAfter time.Duration // jobs waiting at max longer, default 10m
	Routes         []Route
	// WaitP95 is every pool's wait objective: alert when the last hour's
	// p95 queue wait exceeds it. Zero: none. Waits override it per pool.
	WaitP95 time.Duration
	Waits   []WaitObjective
	// ImageMaxAge: alert when a pool's agents run a compute gallery image
	// version published longer ago than this. Zero: none. ImageAges
	// override it per pool.
	ImageMaxAge time.Duration
	ImageAges   []ImageAge
	// AgentUpdateAfter: alert when idle agents report an agent version
	// older than the newest any pool runs for longer than this. Zero: none.
	AgentUpdateAfter time.Duration
}

// ImageAge is how old an image some pools' agents may run; zero switches
// the alert off for them.
type ImageAge struct {
	Pools  []string
	MaxAge time.Duration
}

// ImageMaxAgeFor returns how long ago the image a pool's agents run may
// have been published: the first of ImageAges whose globs match it, else
// ImageMaxAge; zero when no age is set.
func (a Alerts) ImageMaxAgeFor(pool string) time.Duration {
	for _, ia := range a.ImageAges {
		for _, g := range ia.Pools {
			if ok, _ := path.Match(g, pool); ok {
				return ia.MaxAge
			}
		}
	}
	return a.ImageMaxAge
}

// Route sends the alerts of some pools (names or globs) to a channel.
type Route struct {
	Pools   []string
	Channel string
}

// WaitObjective is the p95 queue wait some pools should stay under; zero
// switches the objective off for them.
type WaitObjective struct {
	Pools []string
	P95   time.Duration
}

// WaitObjectiveFor returns the pool's wait objective: the first of Waits
// whose globs match it, else WaitP95; zero when it has none.
func (a Alerts) WaitObjectiveFor(pool string) time.Duration {
	for _, w := range a.Waits {
		for _, g := range w.Pools {
			if ok, _ := path.Match(g, pool); ok {
				return w.P95
			}
		}
	}
	return a.WaitP95
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Watcher polls pools and keeps their alerts.
type Watcher struct {
	o                                                     Options
	interval, repeat, stuck, offline, saturated, resolveA time.Duration
	agentUpdate                                           time.Duration // zero: no agent-update condition
	dates                                                 published
	newestAgent                                           string // the newest agent version any pool's agents run

	mu     sync.Mutex // one cycle at a time; guards the maps
	cycle  int
	pools  map[string]*poolState
	alerts map[string]*pool.Alert // by Key
	loaded bool
	pruned time.Time // jobs past retention last deleted
}

// New returns a Watcher; defaults fill unset durations.
func New(o Options) *Watcher {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Owner == "" {
		o.Owner = "poolbot"
	}
	w := &Watcher{
		o:         o,
		interval:  or(o.Alerts.Interval, 60*time.Second),
		repeat:    or(o.Alerts.RepeatInterval, 4*time.Hour),
		stuck:     or(o.Alerts.StuckAfter, 20*time.Minute),
		offline:   or(o.Alerts.OfflineAfter, 15*time.Minute),
		saturated: or(o.Alerts.SaturatedAfter, 10*time.Minute),
		resolveA:  o.ResolveAfter,

		agentUpdate: o.Alerts.AgentUpdateAfter,
		pools:       map[string]*poolState{},
		alerts:      map[string]*pool.Alert{},
	}
	if w.resolveA <= 0 {
		w.resolveA = defaultResolveAfter
	}
	return w
}

// Run polls every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	for {
		if err := w.Cycle(ctx); err != nil && ctx.Err() == nil {
			w.o.Logger.Warn("watch cycle", "err", err)
		}
		select {
		case <-ctx.Done():
			if w.o.Cost != nil {
				// A fresh context: the totals must outlive the cancelled one.
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := w.o.Cost.Flush(fctx); err != nil {
					w.o.Logger.Warn("save cost totals", "err", err)
				}
				cancel()
			}
			return nil
		case <-w.o.Clock.After(w.interval):
		}
	}
}

// Firing returns the alerts firing now, by key.
func (w *Watcher) Firing() []pool.Alert {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []pool.Alert
	for _, a := range w.alerts {
		if a.Firing {
			out = append(out, *a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// poolState is what the watcher remembers of a pool between cycles.
type poolState struct {
	name  string
	phase int
	fp    string // the list entry's fingerprint

	nodes     []pool.Node
	counts    pool.Counts
	haveNodes bool
	reqs      map[uint64]bool // jobs running at the last look
	jobs      int             // jobs seen starting since the last cost sample

	queue    int
	satSince time.Time

	cursor      uint64
	cursorKnown bool
	cursorDirty bool
	newErrors   []pool.LogEntry // not yet evaluated
	lastError   time.Time
	errorCount  int

	schedFailure string

	costFindings []cost.Finding

	// job history (jobs.go)
	jobCursor   *jobCursor           // as stored; nil until read
	cursorJSON  string               // the cursor as this watcher last wrote it
	stored      map[uint64]time.Time // jobs written at or after the watermark: id → queued
	jobsToken   bool                 // a read goes on from its token next cycle
	jobsRead    bool                 // a read reached the watermark since the start
	jobsIdle    bool                 // the last complete read found no new request
	open        []pool.Job           // requests open at the last complete read
	walkOpen    []pool.Job           // … of the read in progress
	waitFinding *finding             // the wait objective, judged at each complete read

	// drift (drift.go)
	drift     []pool.Node       // nodes with images and agent versions, as last read
	haveDrift bool              // read since the start
	behind    map[int]time.Time // node id → first seen idle on an agent older than the newest
	driftRead time.Time         // when drift was read this cycle; zero once noted

	clearSince map[string]time.Time // condition → first cycle seen clear

	// this cycle's plan and outcome
	wantNodes, wantLogs, wantQueue, wantSched, wantJobs, wantDrift bool
	fetchErr                                                       error
}

func phaseOf(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % 1024)
}

func fingerprint(p pool.Pool) string {
	return fmt.Sprintf("%s|%d|%d|%d|%d|%d", p.State, p.DesiredSize, p.SizingAttempts, p.OfflineSince.Unix(), p.Standby, p.Max)
}

// Cycle polls once: the pool list, then for each pool what its plan says,
// evaluates the conditions and brings the alerts up to date.
func (w *Watcher) Cycle(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.o.Clock.Now()
	w.cycle++
	if !w.loaded {
		as, err := w.o.Store.Alerts(ctx)
		if err != nil {
			return fmt.Errorf("read alerts: %w", err)
		}
		for i := range as {
			a := as[i]
			w.alerts[a.Key] = &a
		}
		w.loaded = true
	}
	pools, err := w.o.Service.List(ctx, pool.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pools: %w", err)
	}
	mutes, err := w.o.Store.Mutes(ctx)
	if err != nil {
		w.o.Logger.Warn("read mutes", "err", err)
	}

	// Plan and fetch.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchers)
	seen := make(map[string]bool, len(pools))
	for i := range pools {
		p := &pools[i]
		seen[p.Name] = true
		ps := w.pools[p.Name]
		if ps == nil {
			ps = &poolState{name: p.Name, phase: phaseOf(p.Name), queue: -1, clearSince: map[string]time.Time{}}
			w.pools[p.Name] = ps
		}
		w.plan(p, ps)
		if ps.wantNodes || ps.wantLogs || ps.wantQueue || ps.wantSched || ps.wantJobs || ps.wantDrift {
			g.Go(func() error {
				ps.fetchErr = w.fetch(gctx, now, p, ps)
				return nil
			})
		}
	}
	g.Wait()
	w.pruneJobs(ctx, now)

	if err := ctx.Err(); err != nil {
		// Stopping (shutdown, a lost lead): what was fetched is partial, and
		// alerts judged on it could resolve wrongly.
		return err
	}
	var errs []error
	for i := range pools {
		p := &pools[i]
		ps := w.pools[p.Name]
		if ps.fetchErr != nil {
			if pool.KindOf(ps.fetchErr) == pool.KindNotFound {
				continue // deleted since the list
			}
			w.o.Logger.Warn("poll pool", "pool", p.Name, "err", ps.fetchErr)
		}
		p.Nodes, p.Counts, p.Queue = ps.nodes, ps.counts, ps.queue
	}

	// Cost accrues from what was seen, before its conditions are read.
	if w.o.Cost != nil {
		samples := make([]cost.Sample, 0, len(pools))
		for i := range pools {
			ps := w.pools[pools[i].Name]
			s := cost.Sample{Pool: pools[i], Jobs: ps.jobs}
			if w.o.Schedules != nil {
				s.OffHours = !w.o.Schedules(pools[i].Name)
			}
			ps.jobs = 0
			samples = append(samples, s)
		}
		w.o.Cost.Observe(ctx, now, samples)
	}

	w.noteAgents()
	for i := range pools {
		p := &pools[i]
		ps := w.pools[p.Name]
		if w.o.Cost != nil && (w.cycle+ps.phase)%costEvery == 0 {
			ps.costFindings = w.o.Cost.Conditions(ctx, *p, now)
		}
		active := w.evaluate(now, p, ps)
		if err := w.reconcile(ctx, now, *p, ps, active, mutes); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := w.saveCursor(ctx, ps); err != nil {
			errs = append(errs, err)
		}
	}

	// A pool that is gone resolves its alerts.
	for name, ps := range w.pools {
		if seen[name] {
			continue
		}
		if err := w.reconcile(ctx, now, pool.Pool{Name: name}, ps, nil, mutes); err != nil {
			errs = append(errs, err)
		}
		if !w.hasFiring(name) {
			delete(w.pools, name)
		}
	}

	if w.o.Cost != nil {
		if err := w.o.Cost.Tick(ctx); err != nil && ctx.Err() == nil {
			w.o.Logger.Warn("cost", "err", err)
		}
	}
	return errors.Join(errs...)
}

func (w *Watcher) hasFiring(name string) bool {
	for _, a := range w.alerts {
		if a.Pool == name && a.Firing {
			return true
		}
	}
	return false
}

// nodeConditions are the conditions read from nodes: while one fires, the
// pool's nodes are read every cycle.
var nodeConditions = []string{"pool-state", "failed-nodes", "stuck-nodes", "agents-offline", "saturated"}

// plan decides what to fetch of p this cycle: a quiet pool costs well under
// one Azure DevOps call a cycle, a pool that changed or is failing is read
// every cycle.
func (w *Watcher) plan(p *pool.Pool, ps *poolState) {
	fp := fingerprint(*p)
	changed := fp != ps.fp
	ps.fp = fp
	c := ps.counts
	unsettled := ps.haveNodes && c.Starting+c.Offline+c.Failed+c.Going > 0
	firing := false
	for _, cond := range nodeConditions {
		if a := w.alerts[p.Name+"/"+cond]; a != nil && a.Firing {
			firing = true
			break
		}
	}
	errorsFiring := false
	if a := w.alerts[p.Name+"/error-logs"]; a != nil && a.Firing {
		errorsFiring = true
	}
	unhealthy := p.State != pool.StateOnline && p.State != ""
	hot := changed || unsettled || firing || unhealthy || !ps.haveNodes
	tick := w.cycle + ps.phase
	every := nodesEvery
	if p.DesiredSize == 0 && c.Total() == 0 {
		every = emptyNodesEvery
	}
	ps.wantNodes = hot || tick%every == 0
	ps.wantLogs = changed || unhealthy || errorsFiring || c.Failed > 0 || !ps.cursorKnown || tick%logsEvery == 0
	// Saturation needs the queue only when every agent is busy at max.
	ps.wantQueue = ps.haveNodes && p.Max > 0 && c.Busy >= p.Max
	ps.wantSched = tick%scheduleEvery == 0 || ps.schedFailure != ""
	// Job history: every few cycles, seldom for a pool with nothing to
	// run jobs on and nothing open, every cycle while a long read goes on.
	jobsEv := jobsEvery
	switch {
	case ps.haveNodes && c.Total() == 0 && p.DesiredSize == 0 && len(ps.open) == 0 && ps.jobsRead:
		jobsEv = quietJobsEvery
	case ps.jobsIdle && ps.haveNodes && c.Busy == 0 && ps.queue <= 0:
		jobsEv = idleJobsEvery
	}
	ps.wantJobs = ps.jobsToken || tick%jobsEv == 0
	ps.wantDrift = w.wantDrift(p.Name, ps, tick)
	ps.fetchErr = nil
}

// fetch reads what the plan asks. It touches only ps.
func (w *Watcher) fetch(ctx context.Context, now time.Time, p *pool.Pool, ps *poolState) error {
	var errs []error
	if ps.wantNodes {
		nodes, err := w.o.Service.Nodes(ctx, p.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("nodes: %w", err))
		} else {
			ps.setNodes(nodes)
		}
	}
	if ps.wantQueue {
		q, err := w.o.Service.Queue(ctx, p.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("queue: %w", err))
		} else {
			ps.queue = q
		}
	} else {
		ps.queue = 0
	}
	if ps.wantLogs {
		if err := w.fetchLogs(ctx, now, p, ps); err != nil {
			errs = append(errs, err)
		}
	}
	if ps.wantJobs {
		if err := w.readJobs(ctx, now, p, ps); err != nil {
			errs = append(errs, err)
		}
	}
	if ps.wantDrift {
		if err := w.fetchDrift(ctx, now, p.Name, ps); err != nil {
			errs = append(errs, err)
		}
	}
	if ps.wantSched {
		v, err := scheduler.Failure(ctx, w.o.Store, p.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("read schedule failure: %w", err))
		} else {
			ps.schedFailure = v
		}
	}
	return errors.Join(errs...)
}

func (ps *poolState) setNodes(nodes []pool.Node) {
	ps.nodes, ps.counts, ps.haveNodes = nodes, pool.Count(nodes), true
	reqs := make(map[uint64]bool, len(nodes))
	for _, n := range nodes {
		if n.RequestID == 0 || n.State.Class() != pool.ClassBusy {
			continue
		}
		reqs[n.RequestID] = true
		// On the first look what runs started before: not counted.
		if ps.reqs != nil && !ps.reqs[n.RequestID] {
			ps.jobs++
		}
	}
	ps.reqs = reqs
}

// logCursorKey holds the id of the last log entry of pool name the watcher
// read.
func logCursorKey(name string) string { return "logcursor/" + name }

// fetchLogs reads the Diagnostics entries after the pool's cursor. The
// cursor is kept in the store so a restart neither misses nor repeats
// entries; on the very first read only recent errors count.
func (w *Watcher) fetchLogs(ctx context.Context, now time.Time, p *pool.Pool, ps *poolState) error {
	first := false
	if !ps.cursorKnown {
		v, err := w.o.Store.Get(ctx, logCursorKey(p.Name))
		switch {
		case err == nil:
			if _, err := fmt.Sscan(v, &ps.cursor); err != nil {
				ps.cursor = 0
				first = true
			}
		case errors.Is(err, pool.ErrNotFound):
			first = true
		default:
			return fmt.Errorf("read log cursor: %w", err)
		}
	}
	entries, err := w.o.Service.Logs(ctx, p.Name, ps.cursor)
	if err != nil {
		return fmt.Errorf("logs: %w", err)
	}
	ps.cursorKnown = true
	cursor := ps.cursor
	for _, e := range entries {
		if e.ID > cursor {
			cursor = e.ID
		}
		if e.ID <= ps.cursor || e.Level != "error" {
			continue
		}
		if first && now.Sub(e.Time) > errorWindow {
			continue
		}
		ps.newErrors = append(ps.newErrors, e)
	}
	if cursor != ps.cursor || first {
		// Saved after the alerts are queued (saveCursor), so that a crash
		// in between reads the entries again rather than losing them.
		ps.cursor, ps.cursorDirty = cursor, true
	}
	return nil
}

func (w *Watcher) saveCursor(ctx context.Context, ps *poolState) error {
	if !ps.cursorDirty {
		return nil
	}
	if err := w.o.Store.Put(ctx, logCursorKey(ps.name), fmt.Sprint(ps.cursor)); err != nil {
		return fmt.Errorf("save log cursor of %s: %w", ps.name, err)
	}
	ps.cursorDirty = false
	return nil
}
