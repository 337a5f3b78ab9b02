package sim

import (
	"slices"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// TestJobTimesBetweenMinutes follows every job of a pool through a morning,
// minute by minute, and checks the instants the model gives it: it arrives
// within the minute since the model's previous run, starts at the later of
// its arrival and the instant its agent became idle (the agent's previous
// job's end, or the agent coming online 2 minutes after its VM was
// created), and runs its whole duration; so waits are not whole minutes.
func TestJobTimesBetweenMinutes(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec PoolSpec
	}{
		{"standby 2 ttl 30", PoolSpec{Name: "p", Max: 10, Standby: 2, TTLMinutes: 30}},
		{"standby 0 ttl 5", PoolSpec{Name: "p", Max: 6, Standby: 0, TTLMinutes: 5}},
		{"one agent, saturated", PoolSpec{Name: "p", Max: 1, Standby: 1, TTLMinutes: 30, JobsPerHour: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Monday 06:00–12:00 in Paris.
			s := New(Options{Seed: 11, Start: time.Date(2026, 1, 5, 5, 0, 0, 0, time.UTC), Pools: []PoolSpec{tc.spec}})
			p := s.byName["p"]
			jobs := map[uint64]*job{}
			var order []*job
			for m := 0; m < 6*60; m++ {
				prev := s.Now()
				s.Advance(time.Minute)
				s.mu.Lock()
				seen := func(j *job) {
					if jobs[j.id] != nil {
						return
					}
					if !j.queued.After(prev) || j.queued.After(s.now) {
						t.Errorf("job %d queued at %s, not within (%s, %s]", j.id, j.queued.Format(time.StampMilli), prev.Format(time.StampMilli), s.now.Format(time.StampMilli))
					}
					jobs[j.id] = j
					order = append(order, j)
				}
				for _, j := range p.queue {
					seen(j)
				}
				for _, n := range p.nodes {
					if n.job != nil {
						seen(n.job)
						if n.job.assigned.After(s.now) {
							t.Errorf("job %d assigned at %s, after now %s", n.job.id, n.job.assigned, s.now)
						}
					}
				}
				for _, j := range p.done {
					seen(j)
				}
				s.mu.Unlock()
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			// free is when each agent last became idle: its job's end.
			free := map[*node]time.Time{}
			var waited, fractional, started int
			var waits []time.Duration
			for _, j := range orderByStart(order) {
				if j.assigned.IsZero() {
					continue
				}
				started++
				w := j.assigned.Sub(j.queued)
				waits = append(waits, w)
				if w < 0 {
					t.Fatalf("job %d started %v before it arrived", j.id, -w)
				}
				if !j.finished.IsZero() && j.result == "succeeded" && j.finished.Sub(j.assigned) != j.dur {
					t.Errorf("job %d ran %v, want %v", j.id, j.finished.Sub(j.assigned), j.dur)
				}
				if f, ok := free[j.node]; ok && j.assigned.Before(f) {
					t.Errorf("job %d started at %s on an agent busy until %s", j.id, j.assigned, f)
				}
				if w > 0 {
					waited++
					online := j.node.agentCreated.Add(2 * time.Minute)
					if f, ok := free[j.node]; !(ok && j.assigned.Equal(f)) && !j.assigned.Equal(online) {
						t.Errorf("job %d waited %v and started at %s: neither its agent's previous job's end (%s) nor its coming online (%s)",
							j.id, w, j.assigned.Format(time.StampMilli), free[j.node].Format(time.StampMilli), online.Format(time.StampMilli))
					}
					if w%time.Minute != 0 {
						fractional++
					}
				}
				if !j.finished.IsZero() {
					free[j.node] = j.finished
				}
			}
			st := p.stats
			if st.Jobs != started || len(st.JobWaits) != started {
				t.Errorf("stats count %d jobs, %d waits; %d started", st.Jobs, len(st.JobWaits), started)
			}
			got := append([]time.Duration(nil), st.JobWaits...)
			slices.Sort(got)
			slices.Sort(waits)
			if !slices.Equal(got, waits) {
				t.Errorf("stats' waits differ from the jobs' instants")
			}
			if started < 10 || waited == 0 || fractional != waited {
				t.Errorf("%d jobs started, %d waited, %d of those not a whole number of minutes", started, waited, fractional)
			}
			t.Logf("%d jobs, %d waited, p95 wait %v", started, waited, Stats{JobWaits: st.JobWaits}.WaitPercentile(95))
		})
	}
}

// orderByStart sorts jobs by start (unstarted last), then arrival.
func orderByStart(js []*job) []*job {
	out := append([]*job(nil), js...)
	less := func(a, b *job) bool {
		switch {
		case a.assigned.IsZero() != b.assigned.IsZero():
			return !a.assigned.IsZero()
		case !a.assigned.Equal(b.assigned):
			return a.assigned.Before(b.assigned)
		}
		return a.queued.Before(b.queued)
	}
	for i := 1; i < len(out); i++ {
		for k := i; k > 0 && less(out[k], out[k-1]); k-- {
			out[k], out[k-1] = out[k-1], out[k]
		}
	}
	return out
}

// TestIdleAgentTakesJobAtArrival: with standby agents idle, a job starts the
// instant it arrives, not at the next minute.
func TestIdleAgentTakesJobAtArrival(t *testing.T) {
	s := New(Options{Seed: 5, Start: time.Date(2026, 1, 5, 5, 0, 0, 0, time.UTC),
		Pools: []PoolSpec{{Name: "p", Max: 10, Standby: 3, TTLMinutes: 30, JobsPerHour: 3}}})
	s.Advance(3 * time.Hour) // to 09:00 Paris: standby agents long online
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName["p"]
	n := 0
	for _, x := range p.nodes {
		if x.state == pool.NodeAssigned && x.job.queued.After(s.now.Add(-time.Hour)) {
			n++
			if !x.job.assigned.Equal(x.job.queued) {
				t.Errorf("job %d arrived %s, started %s with idle agents", x.job.id, x.job.queued, x.job.assigned)
			}
		}
	}
	for _, j := range p.done {
		if j.queued.After(s.now.Add(-time.Hour)) {
			n++
			if !j.assigned.Equal(j.queued) {
				t.Errorf("job %d arrived %s, started %s with idle agents", j.id, j.queued, j.assigned)
			}
		}
	}
	if n == 0 {
		t.Fatal("no job in the last hour")
	}
}
