// Package whatif replays a job trace on the simulator under each standby
// policy — the pools' own settings, the configured schedules, the autopilot
// at each preference — and measures idle VM-hours, cost and job waits. The
// simulator runs on its own clock as fast as it can, and policies set its
// pools directly, without HTTP: what is measured is the policy, not the
// path to Azure DevOps (the scheduler's tests cover that).
package whatif

import (
	"context"
	"errors"
	"fmt"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/poolbot/poolbot/autopilot"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/scheduler"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/trace"
)

// Options of a what-if run.
type Options struct {
	Jobs []trace.Job // replayed; sorted by queued
	// History is demand known before Start, for the autopilot (it also
	// learns from the replayed jobs as they come).
	History []trace.Job
	// Pools to measure; default every pool the trace names.
	Pools []string
	// Specs are the simulated pools; default the simulator's seeded ones,
	// without their failures.
	Specs []sim.PoolSpec
	// Schedules are the configured ones; each that claims a pool is a policy.
	Schedules []scheduler.Schedule
	// Preferences the autopilot is tried at; default all five. "-" none.
	Preferences []string
	// Start and End of the run; default from the trace's first day
	// (midnight UTC) to a day after its last job.
	Start, End time.Time
	// Working says whether a job queued at t is in working hours, for the
	// working-hours waits; nil counts none.
	Working func(t time.Time) bool
	// TimeZone is the zone the autopilot reads a pool's hours of the week
	// in, when no configured schedule with a zone claims the pool (then
	// that schedule's); default UTC.
	TimeZone string
	// Tune, when set, changes each autopilot policy's settings (floor,
	// ttls) before it runs: variants of the policy measured side by side.
	Tune func(*scheduler.Autopilot)
}

// Result is one pool under one policy.
type Result struct {
	Pool        string        `json:"pool"`
	Policy      string        `json:"policy"`
	IdleVMHours float64       `json:"idle_vm_hours"`
	IdleWork    float64       `json:"working_idle_vm_hours"` // of IdleVMHours, in working hours
	Cost        float64       `json:"cost"`
	WaitP50     time.Duration `json:"-"`
	WaitP95     time.Duration `json:"-"`
	WaitP50S    float64       `json:"wait_p50_s"`
	WaitP95S    float64       `json:"wait_p95_s"`
	Jobs        int           `json:"jobs"`
	// Working-hours jobs and their 95th percentile wait.
	WorkJobs     int           `json:"working_jobs"`
	WorkWaitP95  time.Duration `json:"-"`
	WorkWaitP95S float64       `json:"working_wait_p95_s"`
	// Ratios against the pool's own settings ("none").
	IdleRatio    float64         `json:"idle_ratio"`
	CostRatio    float64         `json:"cost_ratio"`
	P95Ratio     float64         `json:"wait_p95_ratio"`
	WorkP95Ratio float64         `json:"working_wait_p95_ratio,omitempty"`
	Waits        []time.Duration `json:"-"` // every job's, sorted
	WorkWaits    []time.Duration `json:"-"`
}

// policy sets pools' settings as simulated time passes.
type policy struct {
	name  string
	pools []string // the pools it claims
	// step runs at every simulated minute.
	step func(now time.Time, s *sim.Sim) error
}

// Run replays the trace under each policy and returns a result per pool
// and policy, "none" first for each pool.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if len(o.Jobs) == 0 {
		return nil, errors.New("the trace has no jobs")
	}
	if o.Specs == nil {
		for _, p := range sim.DefaultPools() {
			p.Failure = sim.Failure{}
			o.Specs = append(o.Specs, p)
		}
	}
	if o.Pools == nil {
		named := map[string]bool{}
		for _, p := range trace.Pools(o.Jobs) {
			named[p] = true
		}
		for _, sp := range o.Specs {
			if named[sp.Name] {
				o.Pools = append(o.Pools, sp.Name)
				delete(named, sp.Name)
			}
		}
		for _, p := range trace.Pools(o.Jobs) {
			if named[p] {
				o.Pools = append(o.Pools, p) // newSim says it is unknown
			}
		}
	}
	if o.Start.IsZero() {
		o.Start = o.Jobs[0].Queued.UTC().Truncate(24 * time.Hour)
	}
	if o.End.IsZero() {
		o.End = o.Jobs[len(o.Jobs)-1].Queued.Add(24 * time.Hour)
	}
	if !o.End.After(o.Start) {
		return nil, fmt.Errorf("the run ends (%s) before it starts (%s)", o.End.Format(time.RFC3339), o.Start.Format(time.RFC3339))
	}
	// The trace is checked once, before anything runs.
	if _, err := newSim(o); err != nil {
		return nil, err
	}
	policies := []policy{{name: "none", pools: o.Pools, step: func(time.Time, *sim.Sim) error { return nil }}}
	for _, sc := range o.Schedules {
		var claims []string
		for _, p := range o.Pools {
			if matches(sc, p) {
				claims = append(claims, p)
			}
		}
		if len(claims) == 0 {
			continue
		}
		pol, err := schedulePolicy(sc, claims, o)
		if err != nil {
			return nil, fmt.Errorf("schedule %s: %w", sc.Name, err)
		}
		policies = append(policies, pol)
	}
	prefs := o.Preferences
	if prefs == nil {
		for _, p := range autopilot.Preferences {
			prefs = append(prefs, p.Name)
		}
	}
	for _, p := range prefs {
		if p == "-" {
			continue
		}
		aps := map[string]*scheduler.Autopilot{}
		var name string
		for _, pl := range o.Pools {
			ap, err := scheduler.NewAutopilot(scheduler.Schedule{Preference: p, TimeZone: zoneOf(o, pl)})
			if err != nil {
				return nil, err
			}
			if o.Tune != nil {
				o.Tune(ap)
			}
			aps[pl], name = ap, ap.Preference
		}
		policies = append(policies, autopilotPolicy("autopilot:"+name, aps, o.Pools, o))
	}
	// Policies run side by side, one simulator each.
	results := make([][]Result, len(policies))
	errs := make([]error, len(policies))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, pol := range policies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			if results[i], errs[i] = run(o, pol); errs[i] != nil {
				errs[i] = fmt.Errorf("policy %s: %w", pol.name, errs[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []Result
	base := map[string]Result{}
	for i, pol := range policies {
		for _, r := range results[i] {
			if pol.name == "none" {
				base[r.Pool] = r
			}
			b := base[r.Pool]
			r.IdleRatio, r.CostRatio = ratio(r.IdleVMHours, b.IdleVMHours), ratio(r.Cost, b.Cost)
			r.P95Ratio, r.WorkP95Ratio = ratio(r.WaitP95.Seconds(), b.WaitP95.Seconds()), ratio(r.WorkWaitP95.Seconds(), b.WorkWaitP95.Seconds())
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return index(o.Pools, out[i].Pool) < index(o.Pools, out[j].Pool) })
	return out, nil
}

func index(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return len(list)
}

// ratio is a/b; 1 when both are 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		if a == 0 {
			return 1
		}
		return 0
	}
	return a / b
}

func newSim(o Options) (*sim.Sim, error) {
	s := sim.New(sim.Options{Start: o.Start, Pools: o.Specs})
	if err := s.Replay(o.Jobs); err != nil {
		return nil, err
	}
	for _, p := range o.Pools {
		if _, err := s.Settings(p); err != nil {
			return nil, fmt.Errorf("pool %s is not in the simulator", p)
		}
	}
	return s, nil
}

// run replays the trace under one policy.
func run(o Options, pol policy) ([]Result, error) {
	s, err := newSim(o)
	if err != nil {
		return nil, err
	}
	if err := pol.step(o.Start, s); err != nil {
		return nil, err
	}
	idleWork := map[string]float64{}
	for s.Now().Before(o.End) {
		work := o.Working != nil && o.Working(s.Now())
		if work {
			for _, p := range pol.pools {
				idleWork[p] -= s.IdleHours(p)
			}
		}
		s.Advance(time.Minute)
		if work {
			for _, p := range pol.pools {
				idleWork[p] += s.IdleHours(p)
			}
		}
		if err := pol.step(s.Now(), s); err != nil {
			return nil, err
		}
	}
	end := s.Now()
	var out []Result
	for _, p := range pol.pools {
		st, err := s.Stats(p)
		if err != nil {
			return nil, err
		}
		js, err := s.Jobs(p)
		if err != nil {
			return nil, err
		}
		r := Result{Pool: p, Policy: pol.name, IdleVMHours: st.IdleVMHours, IdleWork: idleWork[p], Cost: st.Cost}
		for _, j := range js {
			w := j.Wait(end)
			r.Waits = append(r.Waits, w)
			if o.Working != nil && o.Working(j.Queued) {
				r.WorkWaits = append(r.WorkWaits, w)
			}
		}
		sortDurations(r.Waits)
		sortDurations(r.WorkWaits)
		r.Jobs, r.WorkJobs = len(r.Waits), len(r.WorkWaits)
		r.WaitP50, r.WaitP95, r.WorkWaitP95 = Percentile(r.Waits, 0.50), Percentile(r.Waits, 0.95), Percentile(r.WorkWaits, 0.95)
		r.WaitP50S, r.WaitP95S, r.WorkWaitP95S = r.WaitP50.Seconds(), r.WaitP95.Seconds(), r.WorkWaitP95.Seconds()
		out = append(out, r)
	}
	return out, nil
}

func sortDurations(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }

// Percentile is the q-quantile (0–1) of sorted durations, as the
// scheduler's week tests take it.
func Percentile(w []time.Duration, q float64) time.Duration {
	if len(w) == 0 {
		return 0
	}
	return w[int(q*float64(len(w)-1))]
}

func matches(sc scheduler.Schedule, name string) bool {
	for _, p := range sc.Pools {
		if p == name || globMatch(p, name) {
			return true
		}
	}
	return false
}

// schedulePolicy is a configured schedule: cron entries applied at their
// instants (a restore brings back what the first scale-down replaced), or
// its autopilot.
func schedulePolicy(sc scheduler.Schedule, pools []string, o Options) (policy, error) {
	if sc.Autopilot() {
		ap, err := scheduler.NewAutopilot(sc)
		if err != nil {
			return policy{}, err
		}
		aps := map[string]*scheduler.Autopilot{}
		for _, p := range pools {
			aps[p] = ap
		}
		return autopilotPolicy(sc.Name, aps, pools, o), nil
	}
	from := o.Start.Add(-8 * 24 * time.Hour)
	days := int(o.End.Sub(from)/(24*time.Hour)) + 2
	changes, err := scheduler.Preview([]scheduler.Schedule{sc}, pools, from, days)
	if err != nil {
		return policy{}, err
	}
	next := 0
	saved := map[string]*pool.Settings{}
	return policy{name: sc.Name, pools: pools, step: func(now time.Time, s *sim.Sim) error {
		for ; next < len(changes) && !changes[next].At.After(now); next++ {
			c := changes[next]
			cur, err := s.Settings(c.Pool)
			if err != nil {
				return err
			}
			want := c.Settings
			if c.Restore && saved[c.Pool] != nil {
				want = overlay(*saved[c.Pool], c.Settings)
				saved[c.Pool] = nil
			}
			if lowers(want, cur) && saved[c.Pool] == nil {
				cp := cur
				saved[c.Pool] = &cp
			}
			if err := s.Apply(c.Pool, want); err != nil {
				return err
			}
		}
		return nil
	}}, nil
}

func overlay(a, b pool.Settings) pool.Settings {
	if b.Standby != nil {
		a.Standby = b.Standby
	}
	if b.Max != nil {
		a.Max = b.Max
	}
	if b.TTLMinutes != nil {
		a.TTLMinutes = b.TTLMinutes
	}
	return a
}

func lowers(want, cur pool.Settings) bool {
	return (want.Standby != nil && *want.Standby < *cur.Standby) || (want.Max != nil && *want.Max < *cur.Max)
}

// autopilotPolicy decides every 5 minutes from the history known before
// the run and the jobs the simulator has seen so far.
func autopilotPolicy(name string, aps map[string]*scheduler.Autopilot, pools []string, o Options) policy {
	type state struct {
		demand *scheduler.Demand
		jobs   []trace.Job
		seen   int
	}
	st := map[string]*state{}
	var since time.Time
	if len(o.History) > 0 {
		since = o.History[0].Queued
	} else {
		since = o.Start
	}
	for _, p := range pools {
		x := &state{demand: aps[p].NewDemand()}
		for _, j := range o.History {
			if j.Pool == p && j.Queued.Before(o.Start) {
				x.jobs = append(x.jobs, j)
			}
		}
		st[p] = x
	}
	return policy{name: name, pools: pools, step: func(now time.Time, s *sim.Sim) error {
		if !now.Truncate(5 * time.Minute).Equal(now) {
			return nil
		}
		for _, p := range pools {
			x := st[p]
			recs, err := s.JobsFrom(p, x.seen)
			if err != nil {
				return err
			}
			x.seen += len(recs)
			for _, r := range recs {
				x.jobs = append(x.jobs, trace.Job{Pool: p, Queued: r.Queued, Duration: r.Duration})
			}
			x.demand.Learn(x.jobs, since, now)
			cur, err := s.Settings(p)
			if err != nil {
				return err
			}
			d := aps[p].Decide(now, x.demand, *cur.Max)
			if !d.Known {
				continue
			}
			if d.Standby != *cur.Standby || d.TTL != *cur.TTLMinutes {
				if err := s.Apply(p, pool.Settings{Standby: pool.Int(d.Standby), TTLMinutes: pool.Int(d.TTL)}); err != nil {
					return err
				}
			}
		}
		return nil
	}}
}

// zoneOf is the zone the autopilot reads pool p's hours in: that of the
// first configured schedule with a zone that claims it, else o's, else UTC.
func zoneOf(o Options, p string) string {
	for _, sc := range o.Schedules {
		if sc.TimeZone != "" && matches(sc, p) {
			return sc.TimeZone
		}
	}
	if o.TimeZone != "" {
		return o.TimeZone
	}
	return "UTC"
}

func globMatch(pattern, name string) bool {
	if !strings.ContainsAny(pattern, "*?[") {
		return false
	}
	ok, _ := pathMatch(pattern, name)
	return ok
}

var pathMatch = path.Match

// Stored replays a pool's stored job history (as the watcher keeps it)
// on a simulated pool with p's current settings, under its own settings,
// each of schedules that claims it, and the autopilot at each preference.
// A job that never got an agent is replayed with no duration; zone is as
// Options.TimeZone.
func Stored(ctx context.Context, p pool.Pool, jobs []pool.Job, schedules []scheduler.Schedule, zone string) ([]Result, error) {
	tr := make([]trace.Job, len(jobs))
	for i, j := range jobs {
		tr[i] = trace.Job{Pool: p.Name, Queued: j.Queued, Duration: j.Ran().Round(time.Second), Result: j.Result, Definition: j.Definition}
	}
	sort.SliceStable(tr, func(i, k int) bool { return tr[i].Queued.Before(tr[k].Queued) })
	spec := sim.PoolSpec{Name: p.Name, OS: p.OS, Max: max(p.Max, 1), Standby: p.Standby, TTLMinutes: p.TTLMinutes,
		SKU: "Standard_D4s_v5", Region: sim.Region, JobsPerHour: -1}
	if p.ScaleSet != nil && p.ScaleSet.SKU != "" {
		spec.SKU, spec.Region = p.ScaleSet.SKU, p.ScaleSet.Region
	}
	return Run(ctx, Options{Jobs: tr, Pools: []string{p.Name}, Specs: []sim.PoolSpec{spec}, Schedules: schedules, TimeZone: zone})
}
