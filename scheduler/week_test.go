package scheduler

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/store/sqlite"
)

// weekStart is a Monday, 01:00 in Paris; the week runs to the next Monday
// noon so that the restore is seen.
var weekStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

const weekLen = 7*24*time.Hour + 12*time.Hour

// workingHours are weekdays 07:00–20:00 in Paris, the demo schedule's day.
func workingHours(t time.Time) bool {
	l := t.In(parisZone)
	wd := l.Weekday()
	return wd != time.Saturday && wd != time.Sunday && l.Hour() >= 7 && l.Hour() < 20
}

var parisZone = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return loc
}()

// officeHours is the demo's schedule, as in config.example.toml (see
// TestOfficeHoursIsTheExample): weekdays 07:00 what was saved before the
// evening, standby 2 and ttl 13; 18:00 standby 1, ttl 5; Monday–Thursday
// 20:00 standby 0, ttl 1; Friday 20:00 standby 0, max 2, ttl 1.
func officeHours() config.Schedule {
	return config.Schedule{Name: "office-hours", Pools: []string{"linux-ci", "windows-ci"}, TimeZone: "Europe/Paris", Channel: "C-OPS",
		Entries: []config.Entry{
			{Cron: "0 7 * * 1-5", Standby: pool.Int(2), TTL: pool.Int(13), Restore: true},
			{Cron: "0 18 * * 1-5", Standby: pool.Int(1), TTL: pool.Int(5)},
			{Cron: "0 20 * * 5", Standby: pool.Int(0), Max: pool.Int(2), TTL: pool.Int(1)},
			{Cron: "0 20 * * 1-4", Standby: pool.Int(0), TTL: pool.Int(1)},
		}}
}

// expected is what officeHours says a pool's standby, max and ttl are at
// t, written out by hand: initial are the pool's settings before the week
// (what the first restore brings back the max of; the run starts on a
// Monday at 01:00, when Friday's entry holds).
func expected(t time.Time, initial pool.Settings) (standby, max, ttl int) {
	l := t.In(parisZone)
	hm := l.Hour()*60 + l.Minute()
	wd := l.Weekday()
	weekday := wd >= time.Monday && wd <= time.Friday
	switch {
	case weekday && hm >= 7*60 && hm < 18*60:
		return 2, *initial.Max, 13
	case weekday && hm >= 18*60 && hm < 20*60:
		return 1, *initial.Max, 5
	case wd == time.Friday && hm >= 20*60, wd == time.Saturday, wd == time.Sunday, wd == time.Monday && hm < 7*60:
		return 0, 2, 1
	default:
		return 0, *initial.Max, 1
	}
}

// weekStats are a pool's figures for the week.
type weekStats struct {
	idleVMHours, idleWork, cost float64
	jobs                        int
	waits                       []time.Duration // of jobs started in working hours, sorted
	p95Work, p50Work            time.Duration
}

func (w weekStats) String() string {
	return fmt.Sprintf("idle %5.1f VM-h (%5.1f in working hours), cost $%6.2f, %4d jobs in working hours, wait p50 %5.1fs p95 %5.1fs",
		w.idleVMHours, w.idleWork, w.cost, w.jobs, w.p50Work.Seconds(), w.p95Work.Seconds())
}

// percentile is the q-quantile (0–1) of sorted waits.
func percentile(w []time.Duration, q float64) time.Duration {
	if len(w) == 0 {
		return 0
	}
	return w[int(q*float64(len(w)-1))]
}

// runWeek advances the simulator minute by minute through the week; after
// each minute, step runs (the scheduler's check). Jobs that got an agent in
// a working-hours minute are counted for the waiting time.
func runWeek(t testing.TB, s *sim.Sim, pools []string, step func(now time.Time)) map[string]weekStats {
	t.Helper()
	seen := map[string]int{}
	work := map[string][]time.Duration{}
	idleWork := map[string]float64{}
	lastIdle := map[string]float64{}
	end := s.Now().Add(weekLen)
	for s.Now().Before(end) {
		s.Advance(time.Minute)
		now := s.Now()
		if step != nil {
			step(now)
		}
		for _, p := range pools {
			st, err := s.Stats(p)
			if err != nil {
				t.Fatal(err)
			}
			if workingHours(now.Add(-time.Minute)) {
				work[p] = append(work[p], st.JobWaits[seen[p]:]...)
				idleWork[p] += st.IdleVMHours - lastIdle[p]
			}
			seen[p], lastIdle[p] = len(st.JobWaits), st.IdleVMHours
		}
	}
	out := map[string]weekStats{}
	for _, p := range pools {
		st, err := s.Stats(p)
		if err != nil {
			t.Fatal(err)
		}
		w := work[p]
		sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
		out[p] = weekStats{idleVMHours: st.IdleVMHours, idleWork: idleWork[p], cost: st.Cost, jobs: len(w), waits: w,
			p95Work: percentile(w, 0.95), p50Work: percentile(w, 0.50)}
	}
	return out
}

// scheduledWeek runs the schedule against the simulator through the week
// on the simulator's clock. With check, every scheduled pool's standby and
// max are compared with expected at every simulated minute.
func scheduledWeek(t testing.TB, sc config.Schedule, pools []string, check bool) (map[string]weekStats, []pool.OutboxMessage) {
	t.Helper()
	ctx := context.Background()
	s := sim.New(sim.Options{Start: weekStart, Seed: 7})
	srv := httptest.NewServer(s)
	defer srv.Close()
	client, err := azure.New(ctx, azure.Options{OrganizationURL: srv.URL + "/contoso", PAT: "x",
		ResourceManagerURL: srv.URL, ARMCredential: azure.StaticCredential("t"),
		Subscription: sim.Subscription, ResourceGroup: sim.ResourceGroup, Clock: s})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "poolbot.db"), sqlite.WithClock(s))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	initial := map[string]pool.Settings{}
	for _, p := range pools {
		if initial[p], err = s.Settings(p); err != nil {
			t.Fatal(err)
		}
	}
	gpu, _ := s.Settings("gpu-nightly")
	// Passes run at every entry's instant; the periodic pass, which only
	// catches what those missed, runs hourly to keep the week quick.
	sch, err := New(Options{Schedules: []config.Schedule{sc}, Changer: change.New(client, st, s, nil),
		Store: st, Clock: s, Owner: "week", DefaultChannel: "C-OPS", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sch.Run(runCtx) }()
	// settle waits until Run is waiting on the simulator's clock again.
	settle := func() {
		deadline := time.Now().Add(10 * time.Second)
		for s.Waiters() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("scheduler did not settle at %s", s.Now())
			}
			runtime.Gosched()
		}
	}
	settle()
	mismatches := 0
	stats := runWeek(t, s, pools, func(now time.Time) {
		settle()
		if !check {
			return
		}
		for _, p := range pools {
			got, err := s.Settings(p)
			if err != nil {
				t.Fatal(err)
			}
			ws, wm, wt := expected(now, initial[p])
			if *got.Standby != ws || *got.Max != wm || *got.TTLMinutes != wt {
				mismatches++
				if mismatches <= 10 {
					t.Errorf("%s at %s: standby %d max %d ttl %d, want standby %d max %d ttl %d", p,
						now.In(parisZone).Format("Mon 2006-01-02 15:04"), *got.Standby, *got.Max, *got.TTLMinutes, ws, wm, wt)
				}
			}
		}
		if g, _ := s.Settings("gpu-nightly"); g.String() != gpu.String() {
			t.Fatalf("gpu-nightly, not scheduled, changed to %s", g)
		}
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if mismatches > 0 {
		t.Fatalf("%d pool-minutes differ from the schedule", mismatches)
	}
	msgs, err := st.Pending(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return stats, msgs
}

// TestWeekOnSimulator runs the demo's schedule against the simulator
// through a whole week on the simulator's clock, checks every scheduled
// pool's standby, max and ttl at every simulated minute, and compares idle
// VM-hours, cost and working-hours job waits with the same week without a
// schedule (the pools' own settings). The targets: at least 60%
// fewer idle VM-hours, the 95th percentile of waits in working hours
// (weekdays 07:00–20:00 Paris, both pools' jobs together) at most 10% worse.
//
//	go test ./scheduler -run TestWeekOnSimulator -v
func TestWeekOnSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulated week")
	}
	pools := []string{"linux-ci", "windows-ci"}
	without := runWeek(t, sim.New(sim.Options{Start: weekStart, Seed: 7}), pools, nil)
	with, msgs := scheduledWeek(t, officeHours(), pools, true)
	r := report(t, pools, without, with)
	t.Logf("%d changes posted, e.g. %q", len(msgs), msgs[0].Text)
	if r.idleSaved < 0.60 {
		t.Errorf("%.1f%% fewer idle VM-hours, want at least 60%%", 100*r.idleSaved)
	}
	if r.p95Ratio > 1.10 {
		t.Errorf("p95 wait in working hours %.3f× without the schedule, want at most 1.10×", r.p95Ratio)
	}
}

// TestOfficeHoursIsTheExample: the schedule measured is the one in
// config.example.toml.
func TestOfficeHoursIsTheExample(t *testing.T) {
	t.Setenv("AZDO_PAT", "x")
	t.Setenv("SLACK_SIGNING_SECRET", "x")
	t.Setenv("SLACK_BOT_TOKEN", "x")
	c, err := config.Load(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Schedules) != 1 {
		t.Fatalf("%d schedules", len(c.Schedules))
	}
	got, want := c.Schedules[0], officeHours()
	if got.Name != want.Name || got.TimeZone != want.TimeZone || fmt.Sprint(got.Pools) != fmt.Sprint(want.Pools) || len(got.Entries) != len(want.Entries) {
		t.Fatalf("example schedule %+v, want %+v", got, want)
	}
	for i, e := range want.Entries {
		if g := got.Entries[i]; g.Cron != e.Cron || g.Restore != e.Restore || ptr(g.Standby) != ptr(e.Standby) || ptr(g.Max) != ptr(e.Max) || ptr(g.TTL) != ptr(e.TTL) {
			t.Errorf("entry %d: %s standby %s max %s ttl %s restore %t, want %s standby %s max %s ttl %s restore %t", i,
				g.Cron, ptr(g.Standby), ptr(g.Max), ptr(g.TTL), g.Restore, e.Cron, ptr(e.Standby), ptr(e.Max), ptr(e.TTL), e.Restore)
		}
	}
}

func ptr(p *int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// BenchmarkWeek measures a simulated week with the demo's schedule and
// with the earlier demo schedule (standby only) against the same week
// without one, as ratios (with/without): idle VM-hours, cost, and the 95th
// percentile of job waits in working hours, both pools together.
//
//	go test ./scheduler -run '^$' -bench Week -benchtime 1x -v
func BenchmarkWeek(b *testing.B) {
	pools := []string{"linux-ci", "windows-ci"}
	for _, c := range []struct {
		name string
		sc   config.Schedule
	}{{"office-hours", officeHours()}, {"standby-only", demo("Europe/Paris")}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				without := runWeek(b, sim.New(sim.Options{Start: weekStart, Seed: 7}), pools, nil)
				with, _ := scheduledWeek(b, c.sc, pools, false)
				r := report(b, pools, without, with)
				b.ReportMetric(r.idleRatio, "idle-ratio")
				b.ReportMetric(r.costRatio, "cost-ratio")
				b.ReportMetric(r.p95Ratio, "p95-ratio")
			}
		})
	}
}

// ratios are with/without figures of a week.
type ratios struct {
	idleSaved, idleRatio, costRatio, p95Ratio float64
}

// report logs each pool's and both pools' figures with and without the
// schedule and returns the ratios of both pools together.
func report(t testing.TB, pools []string, without, with map[string]weekStats) ratios {
	t.Helper()
	var tw, tb weekStats
	for _, p := range pools {
		t.Logf("%-10s without: %s", p, without[p])
		t.Logf("%-10s with:    %s", p, with[p])
		t.Logf("%-10s ratios:  idle %.3f, cost %.3f, p95 %.3f", p, with[p].idleVMHours/without[p].idleVMHours,
			with[p].cost/without[p].cost, float64(with[p].p95Work)/float64(without[p].p95Work))
		for _, x := range []struct {
			sum *weekStats
			w   weekStats
		}{{&tw, with[p]}, {&tb, without[p]}} {
			x.sum.idleVMHours += x.w.idleVMHours
			x.sum.idleWork += x.w.idleWork
			x.sum.cost += x.w.cost
			x.sum.jobs += x.w.jobs
			x.sum.waits = append(x.sum.waits, x.w.waits...)
		}
	}
	for _, x := range []*weekStats{&tw, &tb} {
		sort.Slice(x.waits, func(i, j int) bool { return x.waits[i] < x.waits[j] })
		x.p50Work, x.p95Work = percentile(x.waits, 0.50), percentile(x.waits, 0.95)
	}
	r := ratios{idleRatio: tw.idleVMHours / tb.idleVMHours, costRatio: tw.cost / tb.cost, p95Ratio: float64(tw.p95Work) / float64(tb.p95Work)}
	r.idleSaved = 1 - r.idleRatio
	t.Logf("%-10s without: %s", "total", tb)
	t.Logf("%-10s with:    %s", "total", tw)
	t.Logf("total: idle VM-hours %.1f → %.1f (%.1f%% fewer); cost $%.2f → $%.2f (%.1f%% less); p95 wait %.1fs → %.1fs (%.3f×)",
		tb.idleVMHours, tw.idleVMHours, 100*r.idleSaved, tb.cost, tw.cost, 100*(1-r.costRatio), tb.p95Work.Seconds(), tw.p95Work.Seconds(), r.p95Ratio)
	return r
}
