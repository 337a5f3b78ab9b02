package watch_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/cost"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/watch"
)

// TestCostOnSimulator: a simulated Monday priced from the simulator's
// retail prices; the estimate is close to what the simulator billed, a
// small budget raises budget-daily, and Tuesday's digest reports Monday once.
func TestCostOnSimulator(t *testing.T) {
	e := newEnv(t, sim.Options{})
	tr := e.tracker(cost.Settings{Currency: "USD", DigestCron: "0 7 * * *", DigestTimeZone: "UTC", DigestChannel: "C-COST",
		Budgets: []cost.Budget{{Pools: []string{"linux-ci"}, Daily: 1}}})
	w := e.watcher(func(o *watch.Options) {
		o.Cost = tr
		o.Alerts.Interval = 20 * time.Minute
	})
	step := func() {
		if err := w.Cycle(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.flush()
		e.sim.Advance(20*time.Minute - e.sim.Now().Sub(e.sim.Now().Truncate(20*time.Minute)))
	}
	monday := e.sim.Now()
	for e.sim.Now().Before(monday.Add(24 * time.Hour)) {
		step()
	}
	step() // the cycle at 00:00 accrues Monday's last interval
	day := monday.Format("2006-01-02")
	stats, err := e.sim.Stats("linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := tr.Totals(e.ctx, "linux-ci", day)
	est, _ := got.Estimate()
	if !ok || stats.Cost == 0 || math.Abs(est-stats.Cost)/stats.Cost > 0.25 {
		t.Errorf("linux-ci on Monday: estimate %.2f (%+v), simulator billed %.2f", est, got, stats.Cost)
	}
	t.Logf("linux-ci Monday: estimate $%.2f, simulator $%.2f; idle %.1f h (sim %.1f), busy %.1f h (sim %.1f), jobs seen %d (sim %d)",
		est, stats.Cost, got.IdleHours, stats.IdleVMHours, got.BusyHours, stats.BusyVMHours, got.Jobs, stats.Jobs)
	if v, cur, ok := tr.Today(e.ctx, "linux-ci"); !ok || cur != "USD" || v < 0 {
		t.Errorf("Today = %v %q %v", v, cur, ok)
	}
	if n := len(e.posts("linux-ci: budget-daily")); n != 1 {
		t.Errorf("%d budget-daily alerts for linux-ci, want 1", n)
	}
	for e.sim.Now().Before(monday.Add(32 * time.Hour)) {
		step()
	}
	var digests []string
	charts := 0
	for _, m := range e.stub.Messages() {
		switch {
		case m.Channel != "C-COST":
		case len(m.Files) > 0:
			charts++ // the digest's chart follows it
		default:
			digests = append(digests, m.Text)
		}
	}
	if charts != 1 {
		t.Errorf("%d digest charts, want 1", charts)
	}
	if len(digests) != 1 || !strings.Contains(digests[0], "Mon 5 Jan 2026") || !strings.Contains(digests[0], "linux-ci") {
		t.Fatalf("digests: %q", digests)
	}
	t.Logf("digest:\n%s", digests[0])
}
