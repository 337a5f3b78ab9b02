package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/trace"
)

const week = 7 * 24 * time.Hour

// replay brings a trace's jobs instead of the built-in arrival model. The
// trace repeats every period (its span rounded up to whole weeks, so that
// weekdays and times of day are kept), counted from its first job: a job
// queued at q arrives at q + k·period for every k that falls in the
// simulated time.
type replay struct {
	period time.Duration
	pools  map[*spool]*poolReplay
}

type poolReplay struct {
	jobs   []trace.Job // sorted by queued
	i      int         // the next job
	offset time.Duration
}

// Replay makes the pools' jobs those of the trace, at their recorded queue
// instants and for their recorded durations, instead of the built-in
// arrival model, from now on; pools the trace does not name get none. Call
// it before time advances. A pool the simulator does not have is an error,
// and nothing changes.
func (s *Sim) Replay(jobs []trace.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(jobs) == 0 {
		return fmt.Errorf("the trace has no jobs")
	}
	sorted := append([]trace.Job(nil), jobs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Queued.Before(sorted[j].Queued) })
	byPool := map[*spool][]trace.Job{}
	var unknown []string
	for _, j := range sorted {
		p := s.byName[strings.ToLower(j.Pool)]
		if p == nil {
			if len(unknown) == 0 || unknown[len(unknown)-1] != j.Pool {
				unknown = appendNew(unknown, j.Pool)
			}
			continue
		}
		byPool[p] = append(byPool[p], j)
	}
	if len(unknown) > 0 {
		var have []string
		for _, p := range s.pools {
			have = append(have, p.name)
		}
		return fmt.Errorf("the trace names pools the simulator does not have: %s (it has %s)", strings.Join(unknown, ", "), strings.Join(have, ", "))
	}
	first, last := sorted[0].Queued, sorted[len(sorted)-1].Queued
	weeks := last.Sub(first)/week + 1
	r := &replay{period: weeks * week, pools: map[*spool]*poolReplay{}}
	// The cycle the simulator's start falls in.
	k := s.now.Sub(first) / r.period
	if s.now.Before(first) {
		k = -((first.Sub(s.now) + r.period - 1) / r.period)
	}
	for p, js := range byPool {
		pr := &poolReplay{jobs: js, offset: k * r.period}
		for pr.peek().Before(s.now) {
			pr.advance(r.period)
		}
		r.pools[p] = pr
	}
	s.replay = r
	return nil
}

func appendNew(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

func (pr *poolReplay) peek() time.Time { return pr.jobs[pr.i].Queued.Add(pr.offset) }

func (pr *poolReplay) advance(period time.Duration) {
	pr.i++
	if pr.i == len(pr.jobs) {
		pr.i, pr.offset = 0, pr.offset+period
	}
}

// replayArrivals queues p's trace jobs queued up to now.
func (s *Sim) replayArrivals(p *spool) {
	pr := s.replay.pools[p]
	if pr == nil {
		return
	}
	for !pr.peek().After(s.now) {
		tj := pr.jobs[pr.i]
		at := pr.peek()
		pr.advance(s.replay.period)
		s.nextReq++
		name := tj.Definition
		if name == "" {
			name = trace.JobName(s.nextReq)
		}
		p.queue = append(p.queue, s.arrive(p, &job{id: s.nextReq, name: name, dur: tj.Duration, queued: at}))
	}
}

// arrive records a job as it arrives, for Jobs.
func (s *Sim) arrive(p *spool, j *job) *job {
	p.arrived = append(p.arrived, j)
	return j
}

// JobRecord is a job the simulator ran or is running.
type JobRecord struct {
	Queued, Assigned, Finished time.Time // Assigned zero: never got an agent
	Duration                   time.Duration
	Definition, Result         string
}

// Wait is how long the job waited for an agent, up to now when it is still
// waiting, and up to its cancellation when it was canceled.
func (j JobRecord) Wait(now time.Time) time.Duration {
	switch {
	case !j.Assigned.IsZero():
		return j.Assigned.Sub(j.Queued)
	case !j.Finished.IsZero():
		return j.Finished.Sub(j.Queued)
	}
	return now.Sub(j.Queued)
}

// Jobs returns every job that arrived in a pool since the simulator
// started, in order of arrival.
func (s *Sim) Jobs(name string) ([]JobRecord, error) { return s.JobsFrom(name, 0) }

// Apply sets a pool's standby, max and ttl as an accepted PATCH of its
// settings would, without HTTP: for replays that only measure a policy.
func (s *Sim) Apply(name string, set pool.Settings) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[strings.ToLower(name)]
	if p == nil {
		return fmt.Errorf("no pool %q", name)
	}
	standby, mx, ttl := p.standby, p.max, p.ttl
	if set.Standby != nil {
		standby = *set.Standby
	}
	if set.Max != nil {
		mx = *set.Max
	}
	if set.TTLMinutes != nil {
		ttl = *set.TTLMinutes
	}
	if msg := validSettings(standby, mx, ttl); msg != "" {
		return fmt.Errorf("%s: %s", name, msg)
	}
	p.standby, p.max, p.ttl = standby, mx, ttl
	if set.Recycle != nil {
		p.recycle = *set.Recycle
	}
	return nil
}

// JobsFrom returns the jobs that arrived in a pool from the i-th on (0
// first), so that a caller reading them as they come copies each once.
func (s *Sim) JobsFrom(name string, i int) ([]JobRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[strings.ToLower(name)]
	if p == nil {
		return nil, fmt.Errorf("no pool %q", name)
	}
	if i > len(p.arrived) {
		i = len(p.arrived)
	}
	out := make([]JobRecord, 0, len(p.arrived)-i)
	for _, j := range p.arrived[i:] {
		out = append(out, JobRecord{Queued: j.queued, Assigned: j.assigned, Finished: j.finished, Duration: j.dur, Definition: j.name, Result: j.result})
	}
	return out, nil
}

// IdleHours is a pool's idle VM-hours since the start, cheaper than Stats.
func (s *Sim) IdleHours(name string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.byName[strings.ToLower(name)]; p != nil {
		return float64(p.idleMin) / 60
	}
	return 0
}

// WaitsSince returns the waits of the jobs that got an agent after the first
// n (Stats' JobWaits from n on), cheaper than Stats for a caller that reads
// them every simulated minute.
func (s *Sim) WaitsSince(name string, n int) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[strings.ToLower(name)]
	if p == nil || n >= len(p.stats.JobWaits) {
		return nil
	}
	return append([]time.Duration(nil), p.stats.JobWaits[max(n, 0):]...)
}
