package scheduler

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/change"
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

// officeHours is the demo's schedule, read from config.example.toml, so
// that the schedule measured is the one shipped (cmd/poolbot's demo asserts
// it has the same): weekdays 06:45 what was saved before the evening with
// standby 1 and ttl 3; 07:45 standby 3; 18:00 standby 1; Monday–Thursday
// 20:00 standby 0, ttl 1; Friday 20:00 standby 0, max 2, ttl 1.
func officeHours(t testing.TB) Schedule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// The keys of the file, read as config reads them (the tests of
	// scheduler do not import config: only app translates it).
	var c struct {
		Schedules []struct {
			Name     string   `toml:"name"`
			Pools    []string `toml:"pools"`
			TimeZone string   `toml:"timezone"`
			Skip     []string `toml:"skip"`
			Correct  bool     `toml:"correct"`
			Channel  string   `toml:"channel"`
			Entries  []struct {
				Cron    string `toml:"cron"`
				Standby *int   `toml:"standby"`
				Max     *int   `toml:"max"`
				TTL     *int   `toml:"ttl"`
				Restore bool   `toml:"restore"`
			} `toml:"entries"`
		} `toml:"schedules"`
	}
	if err := toml.Unmarshal(data, &c); err != nil {
		t.Fatalf("config.example.toml: %v", err)
	}
	for _, f := range c.Schedules {
		if f.Name == "office-hours" {
			sc := Schedule{Name: f.Name, Pools: f.Pools, TimeZone: f.TimeZone, Skip: f.Skip, Correct: f.Correct, Channel: f.Channel}
			for _, e := range f.Entries {
				sc.Entries = append(sc.Entries, Entry(e))
			}
			return sc
		}
	}
	t.Fatal("config.example.toml has no office-hours schedule")
	return Schedule{}
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
	case weekday && hm >= 6*60+45 && hm < 7*60+45:
		return 1, *initial.Max, 3
	case weekday && hm >= 7*60+45 && hm < 18*60:
		return 3, *initial.Max, 3
	case weekday && hm >= 18*60 && hm < 20*60:
		return 1, *initial.Max, 3
	case wd == time.Friday && hm >= 20*60, wd == time.Saturday, wd == time.Sunday, wd == time.Monday && hm < 6*60+45:
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
	all                         []time.Duration // of every job that got an agent, sorted
	p95All                      time.Duration
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
			// The minute's new waits and idle hours, not Stats: its copy of
			// every wait so far, each minute, was a twentieth of the week.
			waits, idle := s.WaitsSince(p, seen[p]), s.IdleHours(p)
			if workingHours(now.Add(-time.Minute)) {
				work[p] = append(work[p], waits...)
				idleWork[p] += idle - lastIdle[p]
			}
			seen[p], lastIdle[p] = seen[p]+len(waits), idle
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
		all := st.JobWaits
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		out[p] = weekStats{idleVMHours: st.IdleVMHours, idleWork: idleWork[p], cost: st.Cost, jobs: len(w), waits: w,
			p95Work: percentile(w, 0.95), p50Work: percentile(w, 0.50), all: all, p95All: percentile(all, 0.95)}
	}
	return out
}

// scheduledWeek runs the schedule against the simulator through the week
// on the simulator's clock. With check, every scheduled pool's standby and
// max are compared with expected at every simulated minute.
func scheduledWeek(t testing.TB, scs []Schedule, pools []string, seed int64, check bool) (map[string]weekStats, []pool.OutboxMessage) {
	t.Helper()
	return scheduledWeekWith(t, scs, pools, seed, check, nil)
}

// scheduledWeekWith is scheduledWeek with a job history for autopilot
// schedules, made from the simulator.
func scheduledWeekWith(t testing.TB, scs []Schedule, pools []string, seed int64, check bool, hist func(*sim.Sim) History) (map[string]weekStats, []pool.OutboxMessage) {
	t.Helper()
	ctx := context.Background()
	s := sim.New(sim.Options{Start: weekStart, Seed: seed})
	srv := httptest.NewServer(s)
	defer srv.Close()
	// Every wait on the clock is told, so that settle below sleeps instead
	// of spinning.
	clk := &waitingClock{Sim: s, waits: make(chan struct{}, 1)}
	client, err := azure.New(ctx, azure.Options{OrganizationURL: srv.URL + "/contoso", PAT: "x",
		ResourceManagerURL: srv.URL, ARMCredential: azure.StaticCredential("t"),
		Subscription: sim.Subscription, ResourceGroup: sim.ResourceGroup, Clock: clk})
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
	var h History
	if hist != nil {
		h = hist(s)
	}
	sch, err := New(Options{Schedules: scs, Changer: change.New(client, st, clk, nil),
		Store: st, Clock: clk, Owner: "week", DefaultChannel: "C-OPS", Interval: time.Hour, History: h})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sch.Run(runCtx) }()
	// settle waits until Run is waiting on the simulator's clock again.
	// It sleeps until the scheduler's next After rather than spinning: a
	// spin took a core from the scheduler for the whole week.
	settle := func() {
		deadline := time.NewTimer(10 * time.Second)
		defer deadline.Stop()
		for s.Waiters() == 0 {
			select {
			case <-clk.waits:
			case <-deadline.C:
				t.Fatalf("scheduler did not settle at %s", s.Now())
			}
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

// waitingClock is the simulator's clock that tells, on waits, each time
// something (the scheduler, the Changer, the client) has begun to wait on
// it.
type waitingClock struct {
	*sim.Sim
	waits chan struct{} // buffered 1: a wait is never lost, and may be seen twice
}

func (c *waitingClock) After(d time.Duration) <-chan time.Time {
	ch := c.Sim.After(d)
	select {
	case c.waits <- struct{}{}:
	default:
	}
	return ch
}

// weekSeeds are the workloads the week is measured on; -short runs one.
func weekSeeds() []int64 {
	if testing.Short() {
		return []int64{7}
	}
	return []int64{1, 2, 3, 4, 5}
}

// seedWeek is one workload's week without and with a schedule.
type seedWeek struct {
	seed          int64
	without, with map[string]weekStats
}

// weeks runs each seed's week without a schedule (the pools' own settings)
// and with scs; with check, every scheduled pool's settings are compared
// with expected at every simulated minute.
func weeks(t testing.TB, scs []Schedule, pools []string, seeds []int64, check bool) []seedWeek {
	t.Helper()
	var out []seedWeek
	for _, seed := range seeds {
		without := runWeek(t, sim.New(sim.Options{Start: weekStart, Seed: seed}), pools, nil)
		with, _ := scheduledWeek(t, scs, pools, seed, check)
		out = append(out, seedWeek{seed: seed, without: without, with: with})
	}
	return out
}

// Per-seed bounds. Over seeds 1–8 the demo's schedule gives 61.5–63.3%
// fewer idle VM-hours and a p95 ratio of 0.89–1.05×, around 62.4% and
// 0.97× for all their jobs together; a seed below 58% or above 1.15× is a
// schedule that meets the targets only on average, not a different draw.
const (
	seedIdleSavedMin = 0.58
	seedP95RatioMax  = 1.15
)

// TestWeekOnSimulator runs the demo's schedule against the simulator
// through a whole week on the simulator's clock for several workloads
// (seeds), checks every scheduled pool's standby, max and ttl at every
// simulated minute and that each of the week's changes is posted once, and
// compares idle VM-hours, cost and working-hours job waits with the same
// weeks without a schedule (the pools' own settings).
// The targets, on all seeds' jobs together (idle VM-hours summed,
// the 95th percentile of waits in working hours — weekdays 07:00–20:00
// Paris — over both pools' jobs of every seed): at least 60% fewer idle
// VM-hours, p95 at most 10% worse; and each seed within seedIdleSavedMin
// and seedP95RatioMax. It logs the table of figures:
//
//	go test ./scheduler -run TestWeekOnSimulator -v
func TestWeekOnSimulator(t *testing.T) {
	t.Parallel() // beside the autopilot's week
	pools := []string{"linux-ci", "windows-ci"}
	sc := officeHours(t)
	seeds := weekSeeds()
	ws := make([]seedWeek, len(seeds))
	// The seeds' weeks share nothing: they run side by side.
	t.Run("seed", func(t *testing.T) {
		for i, seed := range seeds {
			t.Run(fmt.Sprint(seed), func(t *testing.T) {
				t.Parallel()
				without := runWeek(t, sim.New(sim.Options{Start: weekStart, Seed: seed}), pools, nil)
				with, msgs := scheduledWeek(t, []Schedule{sc}, pools, seed, true)
				ws[i] = seedWeek{seed: seed, without: without, with: with}
				changesPosted(t, msgs)
			})
		}
	})
	if t.Failed() {
		return
	}
	all, per := table(t, pools, ws)
	for i, r := range per {
		if r.idleSaved < seedIdleSavedMin {
			t.Errorf("seed %d: %.1f%% fewer idle VM-hours, want at least %.0f%%", ws[i].seed, 100*r.idleSaved, 100*seedIdleSavedMin)
		}
		if r.p95Ratio > seedP95RatioMax {
			t.Errorf("seed %d: p95 wait in working hours %.3f× without the schedule, want at most %.2f×", ws[i].seed, r.p95Ratio, seedP95RatioMax)
		}
	}
	if all.idleSaved < 0.60 {
		t.Errorf("all seeds: %.1f%% fewer idle VM-hours, want at least 60%%", 100*all.idleSaved)
	}
	if all.p95Ratio > 1.10 {
		t.Errorf("all seeds: p95 wait in working hours %.3f× without the schedule, want at most 1.10×", all.p95Ratio)
	}
}

// changesPosted: a week's changes are posted, one line each.
func changesPosted(t *testing.T, msgs []pool.OutboxMessage) {
	t.Helper()
	// Per pool: the weekend's scale-down (Monday 01:00 finds Friday's in
	// place), 06:45, 07:45, 18:00 and 20:00 on five weekdays, and the next
	// Monday's 06:45 and 07:45 before noon: none missed, none twice.
	if want := 2 * (1 + 4*5 + 2); len(msgs) != want {
		t.Errorf("%d changes posted, want %d", len(msgs), want)
	}
	for _, m := range msgs {
		if strings.Contains(m.Text, "\n") || !strings.Contains(m.Text, "(schedule office-hours") {
			t.Errorf("change posted as %q", m.Text)
		}
	}
	if len(msgs) > 0 {
		t.Logf("e.g. %q", msgs[0].Text)
	}
}

// BenchmarkWeek measures the simulated weeks of seeds 1–5 with the demo's
// schedule, with the earlier office-hours schedule (standby restored at
// 07:00 with a 13-minute ttl, one agent from 18:00) and with the first
// demo schedule (standby only), against the same weeks without one, as
// ratios (with/without) over all seeds: idle VM-hours, cost, and the 95th
// percentile of job waits in working hours, both pools together.
//
//	go test ./scheduler -run '^$' -bench Week -benchtime 1x -v
func BenchmarkWeek(b *testing.B) {
	pools := []string{"linux-ci", "windows-ci"}
	for _, c := range []struct {
		name string
		sc   Schedule
	}{{"office-hours", officeHours(b)}, {"earlier", earlierOfficeHours()}, {"standby-only", demo("Europe/Paris")}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				all, _ := table(b, pools, weeks(b, []Schedule{c.sc}, pools, []int64{1, 2, 3, 4, 5}, false))
				b.ReportMetric(all.idleRatio, "idle-ratio")
				b.ReportMetric(all.costRatio, "cost-ratio")
				b.ReportMetric(all.p95Ratio, "p95-ratio")
			}
		})
	}
}

// earlierOfficeHours is the demo's schedule before it warmed up ahead of
// the jobs: it met the targets at one seed only.
func earlierOfficeHours() Schedule {
	return Schedule{Name: "office-hours", Pools: []string{"linux-ci", "windows-ci"}, TimeZone: "Europe/Paris", Channel: "C-OPS",
		Entries: []Entry{
			{Cron: "0 7 * * 1-5", Standby: pool.Int(2), TTL: pool.Int(13), Restore: true},
			{Cron: "0 18 * * 1-5", Standby: pool.Int(1), TTL: pool.Int(5)},
			{Cron: "0 20 * * 5", Standby: pool.Int(0), Max: pool.Int(2), TTL: pool.Int(1)},
			{Cron: "0 20 * * 1-4", Standby: pool.Int(0), TTL: pool.Int(1)},
		}}
}

// ratios are with/without figures of a week.
type ratios struct {
	idleSaved, idleRatio, costRatio, p95Ratio float64
}

func ratiosOf(without, with weekStats) ratios {
	r := ratios{idleRatio: with.idleVMHours / without.idleVMHours, costRatio: with.cost / without.cost,
		p95Ratio: float64(with.p95Work) / float64(without.p95Work)}
	r.idleSaved = 1 - r.idleRatio
	return r
}

// sum adds weeks' figures up: VM-hours and cost summed, waits pooled.
func sum(ws ...weekStats) weekStats {
	var s weekStats
	for _, w := range ws {
		s.idleVMHours += w.idleVMHours
		s.idleWork += w.idleWork
		s.cost += w.cost
		s.jobs += w.jobs
		s.waits = append(s.waits, w.waits...)
		s.all = append(s.all, w.all...)
	}
	sort.Slice(s.waits, func(i, j int) bool { return s.waits[i] < s.waits[j] })
	sort.Slice(s.all, func(i, j int) bool { return s.all[i] < s.all[j] })
	s.p50Work, s.p95Work = percentile(s.waits, 0.50), percentile(s.waits, 0.95)
	s.p95All = percentile(s.all, 0.95)
	return s
}

// table logs, as a Markdown table, each pool's and both pools' figures
// without and with the schedule, for all seeds together and for each
// seed, and returns the ratios of both pools: all seeds', and each seed's.
func table(t testing.TB, pools []string, ws []seedWeek) (all ratios, per []ratios) {
	t.Helper()
	var b strings.Builder
	b.WriteString("\n| seeds | pool | idle VM-h without → with | cost without → with | p50 wait | p95 wait | idle | p95 |\n|---|---|---|---|---|---|---|---|\n")
	row := func(label, name string, without, with weekStats) ratios {
		r := ratiosOf(without, with)
		fmt.Fprintf(&b, "| %s | %s | %.1f → %.1f | $%.2f → $%.2f | %.0fs → %.0fs | %.0fs → %.0fs | %.1f%% fewer | %.3f× |\n",
			label, name, without.idleVMHours, with.idleVMHours, without.cost, with.cost,
			without.p50Work.Seconds(), with.p50Work.Seconds(), without.p95Work.Seconds(), with.p95Work.Seconds(), 100*r.idleSaved, r.p95Ratio)
		return r
	}
	block := func(label string, ws []seedWeek) ratios {
		var tw, tb []weekStats
		for _, p := range pools {
			var pw, pb []weekStats
			for _, w := range ws {
				pw, pb = append(pw, w.with[p]), append(pb, w.without[p])
			}
			row(label, p, sum(pb...), sum(pw...))
			tw, tb = append(tw, pw...), append(tb, pb...)
		}
		return row(label, "total", sum(tb...), sum(tw...))
	}
	if len(ws) > 1 {
		all = block(fmt.Sprintf("%d–%d", ws[0].seed, ws[len(ws)-1].seed), ws)
	}
	for _, w := range ws {
		per = append(per, block(fmt.Sprint(w.seed), []seedWeek{w}))
	}
	if len(ws) == 1 {
		all = per[0]
	}
	t.Log(b.String())
	return all, per
}
