package scheduler

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/trace"
)

// simHistory is a job history for the week on the simulator: three weeks
// of the same office before it (another draw of the arrival model) and
// the jobs the simulator has finished since.
type simHistory struct {
	prior []trace.Job
	s     *sim.Sim
}

func newSimHistory(seed int64) func(*sim.Sim) History {
	return func(s *sim.Sim) History {
		start := weekStart.Add(-21 * 24 * time.Hour)
		return &simHistory{prior: trace.Reference(seed+100, start, 21*24*time.Hour), s: s}
	}
}

func (h *simHistory) Jobs(_ context.Context, name string, since time.Time) ([]trace.Job, time.Time, error) {
	var out []trace.Job
	for _, j := range h.prior {
		if j.Pool == name && !j.Queued.Before(since) {
			out = append(out, j)
		}
	}
	recs, err := h.s.Jobs(name)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := h.s.Now()
	for _, r := range recs {
		if !r.Finished.IsZero() && !r.Finished.After(now) && !r.Queued.Before(since) {
			out = append(out, trace.Job{Pool: name, Queued: r.Queued, Duration: r.Duration, Result: r.Result})
		}
	}
	return out, h.prior[0].Queued.Truncate(24 * time.Hour), nil
}

func autopilotOn(pools []string, pref string) config.Schedule {
	return config.Schedule{Name: "autopilot", Pools: pools, TimeZone: "Europe/Paris", Channel: "C-OPS", Mode: "autopilot", Preference: pref}
}

// autopilotWeeks runs each seed's week without a schedule and with the
// autopilot at pref, through the scheduler, the Changer, the Azure DevOps
// client and the simulator, as scheduledWeek runs cron schedules.
func autopilotWeeks(t testing.TB, pools []string, pref string, seeds []int64) []seedWeek {
	t.Helper()
	var out []seedWeek
	for _, seed := range seeds {
		without := runWeek(t, sim.New(sim.Options{Start: weekStart, Seed: seed}), pools, nil)
		with, msgs := scheduledWeekWith(t, []config.Schedule{autopilotOn(pools, pref)}, pools, seed, false, newSimHistory(seed))
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
