package config

import (
	"strings"
	"testing"
)

func TestAutopilotKeys(t *testing.T) {
	c := mustParse(t, minimal+`[[schedules]]
name = "auto"
pools = ["linux-*"]
timezone = "Europe/Paris"
mode = "autopilot"
preference = "more-performance"
min_standby = 1
max_standby = 4
working_hours = "07:00-19:00"
working_days = "mon-fri"
cold_start = "8m"
skip = ["2026-12-25"]
`)
	sc := c.Schedules[0]
	if !sc.Autopilot() || sc.Preference != "more-performance" || *sc.MinStandby != 1 || *sc.MaxStandby != 4 ||
		sc.WorkingHours != "07:00-19:00" || sc.ColdStart.Minutes() != 8 || len(sc.Entries) != 0 {
		t.Fatalf("schedule = %+v", sc)
	}
}

func TestAutopilotErrors(t *testing.T) {
	const head = "[[schedules]]\nname = \"a\"\npools = [\"x\"]\n" // lines 9–11
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"bad preference", head + "mode = \"autopilot\"\npreference = \"fastest\"\n",
			`test.toml:13: key schedules[0].preference: no preference "fastest": one of most-cost-effective, more-cost-effective, balanced, more-performance, best-performance`},
		{"autopilot and cron entries", head + "mode = \"autopilot\"\n[[schedules.entries]]\ncron = \"0 7 * * *\"\nstandby = 1\n",
			`test.toml:13: key schedules[0].entries: an autopilot schedule has no cron entries`},
		{"unknown mode", head + "mode = \"smart\"\n", `test.toml:12: key schedules[0].mode: "smart" is not a mode`},
		{"autopilot key on a cron schedule", head + "preference = \"balanced\"\nentries = [{cron = \"0 7 * * *\", standby = 1}]\n",
			`test.toml:12: key schedules[0].preference: only for mode = "autopilot"`},
		{"min above max", head + "mode = \"autopilot\"\nmin_standby = 3\nmax_standby = 1\n", `test.toml:13: key schedules[0].min_standby: must not exceed max_standby (1)`},
		{"hours", head + "mode = \"autopilot\"\nworking_hours = \"9 to 5\"\n", `test.toml:13: key schedules[0].working_hours: "9 to 5" is not a range of hours`},
		{"days", head + "mode = \"autopilot\"\nworking_days = \"mon-fryday\"\n", `test.toml:13: key schedules[0].working_days: "fryday" is not a day`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse("test.toml", []byte(minimal+tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %q", err, tc.want)
			}
		})
	}
}
