package whatif

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/trace"
)

func TestExplore(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	span := 7*24*time.Hour + 12*time.Hour
	gen := trace.Shapes[os.Getenv("EXPLORE")]
	agg := map[string]*Result{}
	var order []string
	for seed := int64(1); seed <= 5; seed++ {
		jobs := gen(seed, start, span)
		var keep []trace.Job
		for _, j := range jobs {
			if j.Pool != "gpu-nightly" {
				keep = append(keep, j)
			}
		}
		hist := gen(seed+100, start.Add(-21*24*time.Hour), 21*24*time.Hour)
		cfgData, _ := os.ReadFile("../config.example.toml")
		var c struct {
			Schedules []config.Schedule `toml:"schedules"`
		}
		if err := toml.Unmarshal(cfgData, &c); err != nil {
			t.Fatal(err)
		}
		rs, err := Run(context.Background(), Options{Jobs: keep, Schedules: c.Schedules, History: hist, Start: start, End: start.Add(span),
			Preferences: []string{"balanced", "more-performance"}, Working: func(t time.Time) bool {
				l := t.In(trace.Paris)
				return l.Weekday() != time.Saturday && l.Weekday() != time.Sunday && l.Hour() >= 7 && l.Hour() < 20
			}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			k := r.Policy
			a := agg[k]
			if a == nil {
				a = &Result{Policy: k}
				agg[k] = a
				order = append(order, k)
			}
			a.IdleVMHours += r.IdleVMHours
			a.IdleWork += r.IdleWork
			a.Cost += r.Cost
			a.Waits = append(a.Waits, r.Waits...)
			a.WorkWaits = append(a.WorkWaits, r.WorkWaits...)
		}
	}
	b := agg["none"]
	sortDurations(b.Waits)
	sortDurations(b.WorkWaits)
	for _, k := range order {
		a := agg[k]
		sortDurations(a.Waits)
		sortDurations(a.WorkWaits)
		slow := 0
		for _, w := range a.Waits {
			if w > Percentile(b.Waits, .95) {
				slow++
			}
		}
		slowW := 0
		for _, w := range a.WorkWaits {
			if w > Percentile(b.Waits, .95) {
				slowW++
			}
		}
		fmt.Printf("slow %d/%d, in work %d/%d  ", slow, len(a.Waits), slowW, len(a.WorkWaits))
		fmt.Printf("%-28s idle %7.1f (%.3f) [work %6.1f] cost %7.1f p50 %4.0f p95 %5.0f (%.3f) work p95 %5.0f (%.3f)\n", k, a.IdleVMHours, a.IdleVMHours/b.IdleVMHours, a.IdleWork, a.Cost,
			Percentile(a.Waits, .5).Seconds(), Percentile(a.Waits, .95).Seconds(), Percentile(a.Waits, .95).Seconds()/Percentile(b.Waits, .95).Seconds(),
			Percentile(a.WorkWaits, .95).Seconds(), Percentile(a.WorkWaits, .95).Seconds()/Percentile(b.WorkWaits, .95).Seconds())
	}
}
