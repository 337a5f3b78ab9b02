package scheduler

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/trace"
)

// simHistory is a job history for the week on the simulator: three weeks
// of the same office before it (another draw of the arrival model) and
// the jobs the simulator has finished since. The autopilot reads it at
// each pass, so it keeps what it has read: the prior weeks by pool, and
// each pool's run of jobs, from the first, that have all finished (the
// simulator's jobs are in order of arrival, which is order of queueing).
type simHistory struct {
	prior map[string][]trace.Job // by pool, sorted by queued
	begin time.Time
	s     *sim.Sim

	mu   sync.Mutex
	done map[string][]trace.Job // each pool's first jobs, all finished
}

func newSimHistory(seed int64) func(*sim.Sim) History {
	return func(s *sim.Sim) History {
		start := weekStart.Add(-21 * 24 * time.Hour)
		jobs := trace.Reference(seed+100, start, 21*24*time.Hour)
		h := &simHistory{prior: map[string][]trace.Job{}, begin: jobs[0].Queued.Truncate(24 * time.Hour), s: s, done: map[string][]trace.Job{}}
		for _, j := range jobs {
			h.prior[j.Pool] = append(h.prior[j.Pool], j)
		}
		return h
	}
}

func (h *simHistory) Jobs(_ context.Context, name string, since time.Time) ([]trace.Job, time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.s.Now()
	done := h.done[name]
	recs, err := h.s.JobsFrom(name, len(done))
	if err != nil {
		return nil, time.Time{}, err
	}
	finished := func(r sim.JobRecord) bool { return !r.Finished.IsZero() && !r.Finished.After(now) }
	k := 0
	for ; k < len(recs) && finished(recs[k]); k++ {
		r := recs[k]
		done = append(done, trace.Job{Pool: name, Queued: r.Queued, Duration: r.Duration, Result: r.Result})
	}
	h.done[name] = done
	from := func(jobs []trace.Job) []trace.Job {
		return jobs[sort.Search(len(jobs), func(i int) bool { return !jobs[i].Queued.Before(since) }):]
	}
	prior, kept := from(h.prior[name]), from(done)
	out := make([]trace.Job, 0, len(prior)+len(kept)+len(recs)-k)
	out = append(append(out, prior...), kept...)
	for _, r := range recs[k:] {
		if finished(r) && !r.Queued.Before(since) {
			out = append(out, trace.Job{Pool: name, Queued: r.Queued, Duration: r.Duration, Result: r.Result})
		}
	}
	return out, h.begin, nil
}

func autopilotOn(pools []string, pref string) Schedule {
	return Schedule{Name: "autopilot", Pools: pools, TimeZone: "Europe/Paris", Channel: "C-OPS", Mode: "autopilot", Preference: pref}
}

// autopilotWeeks runs each seed's week without a schedule and with the
// autopilot at pref, through the scheduler, the Changer, the Azure DevOps
// client and the simulator, as scheduledWeek runs cron schedules.
func autopilotWeeks(t testing.TB, pools []string, pref string, seeds []int64) []seedWeek {
	t.Helper()
	var out []seedWeek
	for _, seed := range seeds {
		without := runWeek(t, sim.New(sim.Options{Start: weekStart, Seed: seed}), pools, nil)
		with, msgs := scheduledWeekWith(t, []Schedule{autopilotOn(pools, pref)}, pools, seed, false, newSimHistory(seed))
		if len(msgs) == 0 {
			t.Fatalf("seed %d: the autopilot changed nothing", seed)
		}
		for _, m := range msgs {
			if !strings.Contains(m.Text, ": expecting ") || !strings.Contains(m.Text, "autopilot "+pref) {
				t.Fatalf("change posted as %q", m.Text)
			}
		}
		out = append(out, seedWeek{seed: seed, without: without, with: with})
	}
	return out
}

// TestAutopilotWeekOnSimulator runs the autopilot at Balanced through a
// reference week (seed 7; the benchmark runs seeds 1–5) through the
// scheduler, the Changer and the simulator over HTTP, and compares it with
// the pools' own settings: it must save at least 60% of their idle
// VM-hours, and keep the working-hours p95 wait within 1.10× of theirs.
//
//	go test ./scheduler -run TestAutopilotWeekOnSimulator -v
func TestAutopilotWeekOnSimulator(t *testing.T) {
	t.Parallel() // beside the schedule's weeks
	pools := []string{"linux-ci", "windows-ci"}
	all, _ := table(t, pools, autopilotWeeks(t, pools, "balanced", []int64{7}))
	if all.idleSaved < 0.60 {
		t.Errorf("%.1f%% fewer idle VM-hours, want at least 60%%", 100*all.idleSaved)
	}
	if all.p95Ratio > 1.10 {
		t.Errorf("p95 wait in working hours %.3f× without, want at most 1.10×", all.p95Ratio)
	}
}

// BenchmarkAutopilotWeek measures the reference weeks (seeds 1–5) with
// the autopilot at Balanced, through the scheduler and the simulator over
// HTTP, against the same weeks with the pools' own settings: idle
// VM-hours, cost, and the p95 wait of working-hours jobs and of all jobs,
// as ratios (with/without), both pools together.
//
//	go test ./scheduler -run '^$' -bench AutopilotWeek -benchtime 1x -v
func BenchmarkAutopilotWeek(b *testing.B) {
	pools := []string{"linux-ci", "windows-ci"}
	for b.Loop() {
		ws := autopilotWeeks(b, pools, "balanced", []int64{1, 2, 3, 4, 5})
		all, _ := table(b, pools, ws)
		var tw, tb []weekStats
		for _, w := range ws {
			for _, pl := range pools {
				tw, tb = append(tw, w.with[pl]), append(tb, w.without[pl])
			}
		}
		with, without := sum(tw...), sum(tb...)
		b.Logf("p95 wait of all jobs: %.0fs → %.0fs", without.p95All.Seconds(), with.p95All.Seconds())
		b.ReportMetric(all.idleRatio, "idle-ratio")
		b.ReportMetric(all.costRatio, "cost-ratio")
		b.ReportMetric(all.p95Ratio, "p95-work-ratio")
		b.ReportMetric(float64(with.p95All)/float64(without.p95All), "p95-all-ratio")
	}
}
