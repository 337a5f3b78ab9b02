package config

import (
	"strings"
	"testing"
	"time"
)

func TestHistoryAndWaitObjectives(t *testing.T) {
	c := mustParse(t, minimal)
	if c.History.Retention.Duration != 90*24*time.Hour {
		t.Errorf("default retention %v, want 90 days", c.History.Retention)
	}
	if c.Alerts.WaitP95.Duration != 0 || len(c.Alerts.Waits) != 0 {
		t.Errorf("a wait objective without any configured: %+v", c.Alerts)
	}
	c = mustParse(t, minimal+`
[history]
retention = "30d"

[alerts]
wait_p95 = "5m"

[[alerts.waits]]
pools = ["gpu-*"]
p95 = "0s"

[[alerts.waits]]
pools = ["linux-*"]
p95 = "2m"
`)
	if c.History.Retention.Duration != 30*24*time.Hour {
		t.Errorf("retention %v, want 30 days", c.History.Retention)
	}
	if w := c.Alerts.Waits; c.Alerts.WaitP95.Duration != 5*time.Minute || len(w) != 2 ||
		w[0].Pools[0] != "gpu-*" || w[0].P95.Duration != 0 || w[1].Pools[0] != "linux-*" || w[1].P95.Duration != 2*time.Minute {
		t.Errorf("wait objectives %+v", c.Alerts)
	}

	for _, tc := range []struct{ doc, want string }{
		{"[history]\nretention = \"12h\"\n", `test.toml:10: key history.retention: must be at least 1d`},
		{"[history]\nretention = \"ninety\"\n", `test.toml:10: key history.retention`},
		{"[history]\nretention = 90\n", `test.toml:10: key history.retention: must be a duration in quotes`},
		{"[alerts]\nwait_p95 = \"5 minutes\"\n", `test.toml:10: key alerts.wait_p95`},
		{"[[alerts.waits]]\np95 = \"5m\"\n", `alerts.waits[0].pools: required`},
	} {
		_, err := parse("test.toml", []byte(minimal+tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}

func TestParseDurationDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "1d": 24 * time.Hour, "36h": 36 * time.Hour, "0d": 0} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "-1d", "1.5d", "1e3d", "99999999999d", "x"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

// FuzzParseDuration: whatever the text, no panic and never a negative
// duration from the days form; "Nd" is N whole days.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90d", "0d", "15m", "4h", "1.5d", "-1d", "d", "99999999999d", "1h30m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		n, isDays := strings.CutSuffix(s, "d")
		if err != nil || !isDays || n == "" || strings.Trim(n, "0123456789") != "" {
			return
		}
		if d < 0 || d%(24*time.Hour) != 0 {
			t.Fatalf("ParseDuration(%q) = %v: want whole days", s, d)
		}
	})
}
