package cost

import (
	"context"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
)

// DailyCosts gives the last n days, the oldest first and today last, 0 for
// a day with nothing tracked.
func TestDailyCosts(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC))
	tr := tracker(t, openStore(t), clk, Settings{})
	// An hour of 2 agents three days ago, an hour of 4 today.
	clk.Advance(-3 * 24 * time.Hour)
	for i := 0; i <= 60; i++ {
		tr.Observe(ctx, clk.Now(), []Sample{{Pool: samplePool("a", 2, 0, 2)}})
		clk.Advance(time.Minute)
	}
	clk.Advance(3*24*time.Hour - 61*time.Minute)
	for i := 0; i <= 60; i++ {
		tr.Observe(ctx, clk.Now(), []Sample{{Pool: samplePool("a", 4, 0, 4)}})
		clk.Advance(time.Minute)
	}
	got := tr.DailyCosts(ctx, "a", 5)
	today, _, _ := tr.Today(ctx, "a")
	if today < 4*0.5 {
		t.Fatalf("today's estimate %v, want at least 2.00", today)
	}
	want := []float64{0, 2 * 0.5, 0, 0, today}
	if len(got) != len(want) {
		t.Fatalf("DailyCosts = %v, want %v", got, want)
	}
	for i := range want {
		if !near(got[i], want[i]) {
			t.Errorf("DailyCosts = %v, want %v", got, want)
			break
		}
	}
	if got := tr.DailyCosts(ctx, "never-seen", 3); len(got) != 3 || got[0]+got[1]+got[2] != 0 {
		t.Errorf("a pool never seen: %v", got)
	}
}
