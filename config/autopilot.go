package config

import (
	"strings"
	"time"

	"github.com/poolbot/poolbot/autopilot"
)

// Autopilot reports whether the schedule sets standby from demand.
func (sc Schedule) Autopilot() bool {
	return strings.EqualFold(strings.TrimSpace(sc.Mode), "autopilot")
}

// checkAutopilot checks a schedule's mode and autopilot keys.
func checkAutopilot(k string, sc Schedule, bad func(key, format string, args ...any)) {
	switch m := strings.ToLower(strings.TrimSpace(sc.Mode)); m {
	case "", "cron":
		for _, f := range []struct {
			key string
			set bool
		}{{"preference", sc.Preference != ""}, {"min_standby", sc.MinStandby != nil}, {"max_standby", sc.MaxStandby != nil},
			{"working_hours", sc.WorkingHours != ""}, {"working_days", sc.WorkingDays != ""}, {"cold_start", sc.ColdStart.Duration != 0}} {
			if f.set {
				bad(k+"."+f.key, "only for mode = \"autopilot\"")
			}
		}
		return
	case "autopilot":
	default:
		bad(k+".mode", "%q is not a mode: \"cron\" (entries) or \"autopilot\"", sc.Mode)
		return
	}
	if len(sc.Entries) > 0 {
		bad(k+".entries", "an autopilot schedule has no cron entries: put them in a schedule of their own for other pools, or drop mode = \"autopilot\"")
	}
	if _, _, err := autopilot.ParsePreference(sc.Preference); err != nil {
		bad(k+".preference", "%v", err)
	}
	if sc.MinStandby != nil && *sc.MinStandby < 0 {
		bad(k+".min_standby", "must not be negative")
	}
	if sc.MaxStandby != nil && *sc.MaxStandby < 0 {
		bad(k+".max_standby", "must not be negative")
	}
	if sc.MinStandby != nil && sc.MaxStandby != nil && *sc.MinStandby > *sc.MaxStandby {
		bad(k+".min_standby", "must not exceed max_standby (%d)", *sc.MaxStandby)
	}
	if sc.WorkingHours != "" {
		if _, _, err := autopilot.ParseHours(sc.WorkingHours); err != nil {
			bad(k+".working_hours", "%v", err)
		}
	}
	if sc.WorkingDays != "" {
		if _, err := autopilot.ParseDays(sc.WorkingDays); err != nil {
			bad(k+".working_days", "%v", err)
		}
	}
	if sc.ColdStart.Duration > time.Hour {
		bad(k+".cold_start", "more than an hour: a cold start that long cannot be planned for from hourly demand")
	}
}
