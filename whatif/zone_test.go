package whatif

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/trace"
)

// The autopilot reads a pool's hours of the week in the zone of the
// schedule that claims it, else the run's, else UTC.
func TestZoneOf(t *testing.T) {
	tokyo := config.Schedule{Name: "tokyo", Pools: []string{"linux-*"}, TimeZone: "Asia/Tokyo"}
	nozone := config.Schedule{Name: "nozone", Pools: []string{"windows-ci"}}
	for _, c := range []struct {
		name, pool, run, want string
		schedules             []config.Schedule
	}{
		{"claimed by a schedule with a zone", "linux-ci", "Europe/Paris", "Asia/Tokyo", []config.Schedule{nozone, tokyo}},
		{"claimed by a schedule without one", "windows-ci", "Europe/Paris", "Europe/Paris", []config.Schedule{nozone, tokyo}},
		{"unclaimed, the run's zone", "gpu-nightly", "America/New_York", "America/New_York", []config.Schedule{tokyo}},
		{"nothing said", "gpu-nightly", "", "UTC", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := zoneOf(Options{Schedules: c.schedules, TimeZone: c.run}, c.pool); got != c.want {
				t.Errorf("zone %q, want %q", got, c.want)
			}
		})
	}
}

func TestRunRefusesAnUnknownZone(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	jobs := trace.Reference(1, start, 24*time.Hour)
	_, err := Run(context.Background(), Options{Jobs: jobs, TimeZone: "Mars/Olympus", Preferences: []string{"balanced"}})
	if err == nil || !strings.Contains(err.Error(), `"Mars/Olympus"`) {
		t.Fatalf("err %v, want one naming the zone", err)
	}
}
