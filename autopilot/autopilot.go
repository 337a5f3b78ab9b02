// Package autopilot reads an autopilot schedule's settings as they are
// written: its preference, working hours and working days. config checks a
// file with it and scheduler runs the schedule with it, so both read the
// same words alike; it depends on the standard library only.
package autopilot

import (
	"fmt"
	"strings"
	"time"
)

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
