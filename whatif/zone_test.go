package whatif

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/scheduler"
	"github.com/poolbot/poolbot/trace"
)

// The autopilot reads a pool's hours of the week in the zone of the
// schedule that claims it, else the run's, else UTC.
func TestZoneOf(t *testing.T) {
	tokyo := scheduler.Schedule{Name: "tokyo", Pools: []string{"linux-*"}, TimeZone: "Asia/Tokyo"}
	nozone := scheduler.Schedule{Name: "nozone", Pools: []string{"windows-ci"}}
	for _, c := range []struct {
		name, pool, run, want string
		schedules             []scheduler.Schedule
	}{
		{"claimed by a schedule with a zone", "linux-ci", "Europe/Paris", "Asia/Tokyo", []scheduler.Schedule{nozone, tokyo}},
		{"claimed by a schedule without one", "windows-ci", "Europe/Paris", "Europe/Paris", []scheduler.Schedule{nozone, tokyo}},
		{"unclaimed, the run's zone", "gpu-nightly", "America/New_York", "America/New_York", []scheduler.Schedule{tokyo}},
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
