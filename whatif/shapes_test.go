package whatif

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/poolbot/poolbot/scheduler"
	"github.com/poolbot/poolbot/trace"
)

// The reference week, as the scheduler's week test runs it: Monday 01:00
// Paris to the next Monday noon.
var (
	weekStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	weekLen   = 7*24*time.Hour + 12*time.Hour
)

// officeDay is weekdays 07:00–20:00 in loc.
func officeDay(loc *time.Location) func(time.Time) bool {
	return func(t time.Time) bool {
		l := t.In(loc)
		wd := l.Weekday()
		return wd != time.Saturday && wd != time.Sunday && l.Hour() >= 7 && l.Hour() < 20
	}
}

// shapeWorking is when each shape's people work.
func shapeWorking(shape string) func(time.Time) bool {
	paris := officeDay(trace.Paris)
	if shape == "two-zones" {
		la := officeDay(trace.LosAngeles)
		return func(t time.Time) bool { return paris(t) || la(t) }
	}
	return paris
}

func officeHours(t testing.TB) scheduler.Schedule {
	data, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// The keys of the file, read as config reads them (whatif does not
	// import config: only app translates it).
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
		t.Fatal(err)
	}
	f := c.Schedules[0]
	sc := scheduler.Schedule{Name: f.Name, Pools: f.Pools, TimeZone: f.TimeZone, Skip: f.Skip, Correct: f.Correct, Channel: f.Channel}
	for _, e := range f.Entries {
		sc.Entries = append(sc.Entries, scheduler.Entry(e))
	}
	return sc
}

// pooled adds up a policy's results over pools and seeds.
type pooled struct {
	idle, idleWork, cost float64
	waits, work          []time.Duration
}

func (p *pooled) add(r Result) {
	p.idle += r.IdleVMHours
	p.idleWork += r.IdleWork
	p.cost += r.Cost
	p.waits = append(p.waits, r.Waits...)
	p.work = append(p.work, r.WorkWaits...)
}

func (p *pooled) p95() (all, work time.Duration) {
	sortDurations(p.waits)
	sortDurations(p.work)
	return Percentile(p.waits, 0.95), Percentile(p.work, 0.95)
}

// shapeWeeks replays a shape's reference week for seeds under the pools'
// own settings, the autopilot at each preference, office-hours (for the
// office) and the fixed schedule `schedule suggest` derives per pool from
// the three weeks before (its p95 objective: the pool's own settings' on
// those weeks). The autopilot learns from the same three weeks and from
// the week as it goes. Results are pooled over linux-ci and windows-ci and
// the seeds, by policy.
func shapeWeeks(t testing.TB, shape string, seeds []int64, suggest bool, prefs ...string) (map[string]*pooled, []string) {
	return tunedWeeks(t, shape, seeds, suggest, nil, prefs...)
}

// tunedWeeks is shapeWeeks with the autopilot's settings changed by tune.
func tunedWeeks(t testing.TB, shape string, seeds []int64, suggest bool, tune func(*scheduler.Autopilot), prefs ...string) (map[string]*pooled, []string) {
	t.Helper()
	ctx := context.Background()
	gen := trace.Shapes[shape]
	pools := []string{"linux-ci", "windows-ci"}
	out := map[string]*pooled{}
	var order []string
	for _, seed := range seeds {
		week := only(gen(seed, weekStart, weekLen), pools)
		hist := only(gen(seed+100, weekStart.Add(-21*24*time.Hour), 21*24*time.Hour), pools)
		o := Options{Jobs: week, History: hist, Pools: pools, Start: weekStart, End: weekStart.Add(weekLen), Working: shapeWorking(shape), Preferences: prefs, Tune: tune, TimeZone: "Europe/Paris"}
		if shape == "office" {
			o.Schedules = append(o.Schedules, officeHours(t))
		}
		if suggest {
			for _, p := range pools {
				sg, err := Suggest(ctx, Options{Jobs: hist}, p, 0, trace.Paris)
				if err != nil {
					t.Fatal(err)
				}
				sg.Schedule.Name = "suggested"
				o.Schedules = append(o.Schedules, sg.Schedule)
			}
		}
		rs, err := Run(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if out[r.Policy] == nil {
				out[r.Policy] = &pooled{}
				order = append(order, r.Policy)
			}
			out[r.Policy].add(r)
		}
	}
	return out, order
}

func only(jobs []trace.Job, pools []string) []trace.Job {
	var out []trace.Job
	for _, j := range jobs {
		for _, p := range pools {
			if j.Pool == p {
				out = append(out, j)
			}
		}
	}
	return out
}

// shapeTable renders the pooled figures with ratios against "none".
func shapeTable(shape string, res map[string]*pooled, order []string) string {
	var b strings.Builder
	none := res["none"]
	na, nw := none.p95()
	fmt.Fprintf(&b, "\n| shape | policy | idle VM-h | idle | cost | p95 wait, all jobs | p95 wait, working hours |\n|---|---|---|---|---|---|---|\n")
	for _, k := range order {
		r := res[k]
		a, w := r.p95()
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f%% fewer | $%.2f (%.2f×) | %.0fs (%.2f×) | %.0fs (%.2f×) |\n", shape, k, r.idle, 100*(1-r.idle/none.idle),
			r.cost, r.cost/none.cost, a.Seconds(), float64(a)/float64(na), w.Seconds(), float64(w)/float64(nw))
	}
	return b.String()
}

// TestShapesAutopilotBeatsNothing: on each shape's week (one seed), the
// autopilot at Balanced keeps fewer idle VM-hours than the pools' own
// settings, and at BestPerformance waits less at p95 than at
// MostCostEffective: the preferences order the trade-off.
func TestShapesAutopilotBeatsNothing(t *testing.T) {
	for shape := range trace.Shapes {
		t.Run(shape, func(t *testing.T) {
			res, order := shapeWeeks(t, shape, []int64{3}, false, "most-cost-effective", "balanced", "best-performance")
			t.Log(shapeTable(shape, res, order))
			if r := res["autopilot:balanced"].idle / res["none"].idle; r > 0.6 {
				t.Errorf("balanced keeps %.2f× the idle VM-hours", r)
			}
			best, _ := res["autopilot:best-performance"].p95()
			cheap, _ := res["autopilot:most-cost-effective"].p95()
			if best >= cheap || res["autopilot:best-performance"].idle <= res["autopilot:most-cost-effective"].idle {
				t.Errorf("best-performance: p95 %s, idle %.1f; most-cost-effective: p95 %s, idle %.1f", best, res["autopilot:best-performance"].idle,
					cheap, res["autopilot:most-cost-effective"].idle)
			}
		})
	}
}

// BenchmarkShapes replays each shape's reference week (seeds 1–5) under
// every policy and logs the table; it reports the autopilot at Balanced
// and the suggested fixed schedule against the pools' own settings.
//
//	go test ./whatif -run '^$' -bench Shapes -benchtime 1x -v
func BenchmarkShapes(b *testing.B) {
	for _, shape := range []string{"office", "night-batch", "two-zones", "release-day"} {
		b.Run(shape, func(b *testing.B) {
			for b.Loop() {
				res, order := shapeWeeks(b, shape, []int64{1, 2, 3, 4, 5}, true)
				b.Log(shapeTable(shape, res, order))
				none := res["none"]
				na, nw := none.p95()
				for _, k := range []string{"autopilot:balanced", "suggested"} {
					r := res[k]
					a, w := r.p95()
					name := strings.TrimPrefix(k, "autopilot:")
					b.ReportMetric(r.idle/none.idle, name+"-idle-ratio")
					b.ReportMetric(float64(a)/float64(na), name+"-p95-ratio")
					b.ReportMetric(float64(w)/float64(nw), name+"-p95-work-ratio")
				}
			}
		})
	}
}

// BenchmarkAutopilotVariants replays each shape's reference weeks (seeds
// 1–5) under the autopilot at Balanced as it is and with the variants tried
// against its targets: a floor of one warm agent in hours where a job is
// likely, and other ttls. Each is a ratio against the pools' own settings
// of the same run.
//
//	go test ./whatif -run '^$' -bench AutopilotVariants -benchtime 1x -v
func BenchmarkAutopilotVariants(b *testing.B) {
	variants := []struct {
		name string
		tune func(*scheduler.Autopilot)
	}{
		{"default", nil},
		{"floor-0.3", func(a *scheduler.Autopilot) { a.Floor = 0.3 }},
		{"floor-0.15", func(a *scheduler.Autopilot) { a.Floor = 0.15 }},
		{"floor-0.05", func(a *scheduler.Autopilot) { a.Floor = 0.05 }},
		{"ttl-quiet-30", func(a *scheduler.Autopilot) { a.TTLQuiet = 30 }},
		{"ttl-busy-10", func(a *scheduler.Autopilot) { a.TTLBusy = 10 }},
		{"ttl-busy-1", func(a *scheduler.Autopilot) { a.TTLBusy = 1 }},
		// Between the preferences: where working-hours jobs alone would
		// meet 70% fewer at ≤ 1.00×, if anywhere.
		{"pct-40", func(a *scheduler.Autopilot) { a.Percentile = 40 }},
		{"pct-40-ttl-busy-1", func(a *scheduler.Autopilot) { a.Percentile, a.TTLBusy = 40, 1 }},
		{"pct-60", func(a *scheduler.Autopilot) { a.Percentile = 60 }},
	}
	for _, shape := range []string{"office", "night-batch", "two-zones", "release-day"} {
		for _, v := range variants {
			b.Run(shape+"/"+v.name, func(b *testing.B) {
				for b.Loop() {
					res, order := tunedWeeks(b, shape, []int64{1, 2, 3, 4, 5}, false, v.tune, "balanced")
					b.Log(shapeTable(shape+" "+v.name, res, order))
					none, r := res["none"], res["autopilot:balanced"]
					na, nw := none.p95()
					a, w := r.p95()
					b.ReportMetric(r.idle/none.idle, "idle-ratio")
					b.ReportMetric(float64(a)/float64(na), "p95-ratio")
					b.ReportMetric(float64(w)/float64(nw), "p95-work-ratio")
				}
			})
		}
	}
}
