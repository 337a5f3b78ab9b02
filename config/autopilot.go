package config

import (
	"fmt"
	"strings"
	"time"
)

// Autopilot reports whether the schedule sets standby from demand.
func (sc Schedule) Autopilot() bool {
	return strings.EqualFold(strings.TrimSpace(sc.Mode), "autopilot")
}

// Preferences are the autopilot's levels, as Managed DevOps Pools names
// them, and the percentile of past demand each provides for.
var Preferences = []struct {
	Name, Azure string
	Percentile  float64
}{
	{"most-cost-effective", "MostCostEffective", 10},
	{"more-cost-effective", "MoreCostEffective", 25},
	{"balanced", "Balanced", 50},
	{"more-performance", "MorePerformance", 75},
	{"best-performance", "BestPerformance", 90},
}

// ParsePreference returns a preference's canonical name and percentile. It
// takes "balanced", "Balanced", "BestPerformance" or "best-performance";
// "" is balanced.
func ParsePreference(s string) (string, float64, error) {
	k := strings.ToLower(strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.TrimSpace(s)))
	if k == "" {
		k = "balanced"
	}
	var names []string
	for _, p := range Preferences {
		if k == strings.ToLower(p.Azure) {
			return p.Name, p.Percentile, nil
		}
		names = append(names, p.Name)
	}
	return "", 0, fmt.Errorf("no preference %q: one of %s", s, strings.Join(names, ", "))
}

// ParseClock parses "HH:MM" into minutes after midnight.
func ParseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day like 07:30", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// ParseHours parses "07:00-20:00" into minutes after midnight; the end may
// be 24:00 and must come after the start.
func ParseHours(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a range of hours like 07:00-20:00", s)
	}
	if from, err = ParseClock(a); err != nil {
		return 0, 0, err
	}
	if strings.TrimSpace(b) == "24:00" {
		to = 24 * 60
	} else if to, err = ParseClock(b); err != nil {
		return 0, 0, err
	}
	if to <= from {
		return 0, 0, fmt.Errorf("%q ends before it starts", s)
	}
	return from, to, nil
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseDays parses "mon-fri", "sat,sun" or "mon-wed,fri" into a set of
// weekdays.
func ParseDays(s string) ([7]bool, error) {
	var days [7]bool
	day := func(n string) (int, error) {
		n = strings.ToLower(strings.TrimSpace(n))
		for i, d := range dayNames {
			if strings.HasPrefix(n, d) {
				return i, nil
			}
		}
		return 0, fmt.Errorf("%q is not a day (mon, tue, … sun)", n)
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		i, err := day(a)
		if err != nil {
			return days, err
		}
		j := i
		if isRange {
			if j, err = day(b); err != nil {
				return days, err
			}
		}
		for k := i; ; k = (k + 1) % 7 {
			days[k] = true
			if k == j {
				break
			}
		}
	}
	return days, nil
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
	if _, _, err := ParsePreference(sc.Preference); err != nil {
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
		if _, _, err := ParseHours(sc.WorkingHours); err != nil {
			bad(k+".working_hours", "%v", err)
		}
	}
	if sc.WorkingDays != "" {
		if _, err := ParseDays(sc.WorkingDays); err != nil {
			bad(k+".working_days", "%v", err)
		}
	}
	if sc.ColdStart.Duration > time.Hour {
		bad(k+".cold_start", "more than an hour: a cold start that long cannot be planned for from hourly demand")
	}
}
