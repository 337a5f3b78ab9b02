package autopilot

import "testing"

func TestParsePreference(t *testing.T) {
	for in, want := range map[string]float64{"": 50, "balanced": 50, "Balanced": 50, "MostCostEffective": 10, "more-cost-effective": 25,
		"more_performance": 75, "best-performance": 90} {
		if _, got, err := ParsePreference(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	if _, _, err := ParsePreference("cheap"); err == nil {
		t.Error("cheap accepted")
	}
}

func TestParseHoursAndDays(t *testing.T) {
	for _, tc := range []struct {
		in       string
		from, to int
		ok       bool
	}{
		{"07:00-20:00", 7 * 60, 20 * 60, true},
		{" 09:30 - 24:00 ", 9*60 + 30, 24 * 60, true},
		{"20:00-07:00", 0, 0, false},
		{"9 to 5", 0, 0, false},
		{"07:00-25:00", 0, 0, false},
	} {
		from, to, err := ParseHours(tc.in)
		if (err == nil) != tc.ok || from != tc.from || to != tc.to {
			t.Errorf("ParseHours(%q) = %d, %d, %v", tc.in, from, to, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want [7]bool // sun first
		ok   bool
	}{
		{"mon-fri", [7]bool{false, true, true, true, true, true, false}, true},
		{"sat,sun", [7]bool{true, false, false, false, false, false, true}, true},
		{"fri-mon", [7]bool{true, true, false, false, false, true, true}, true},
		{"Monday-Wed, fri", [7]bool{false, true, true, true, false, true, false}, true},
		{"mon-fryday", [7]bool{}, false},
	} {
		got, err := ParseDays(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseDays(%q) = %v, %v", tc.in, got, err)
		}
	}
}
