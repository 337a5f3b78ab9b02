package watch_test

import (
	"testing"
	"time"

	"github.com/poolbot/poolbot/watch"
)

// A pool's wait objective is the first of Waits whose globs match it, else
// WaitP95; zero switches it off.
func TestWaitObjectiveFor(t *testing.T) {
	a := watch.Alerts{WaitP95: 5 * time.Minute, Waits: []watch.WaitObjective{
		{Pools: []string{"gpu-*"}, P95: 0},
		{Pools: []string{"linux-*"}, P95: 2 * time.Minute},
		{Pools: []string{"linux-ci"}, P95: time.Hour},
	}}
	for _, tt := range []struct {
		alerts watch.Alerts
		pool   string
		want   time.Duration
	}{
		{a, "linux-ci", 2 * time.Minute},
		{a, "gpu-nightly", 0},
		{a, "windows-ci", 5 * time.Minute},
		{watch.Alerts{}, "linux-ci", 0},
	} {
		if got := tt.alerts.WaitObjectiveFor(tt.pool); got != tt.want {
			t.Errorf("objective of %s: %v, want %v", tt.pool, got, tt.want)
		}
	}
}

// A pool's image age limit is the first of ImageAges whose globs match
// it, else ImageMaxAge; zero switches it off.
func TestImageMaxAgeFor(t *testing.T) {
	day := 24 * time.Hour
	a := watch.Alerts{ImageMaxAge: 30 * day, ImageAges: []watch.ImageAge{{Pools: []string{"gpu-*"}, MaxAge: 90 * day}, {Pools: []string{"sandbox-*"}}}}
	for pool, want := range map[string]time.Duration{"linux-ci": 30 * day, "gpu-nightly": 90 * day, "sandbox-1": 0} {
		if got := a.ImageMaxAgeFor(pool); got != want {
			t.Errorf("image max age of %s: %v, want %v", pool, got, want)
		}
	}
}
