package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolbot/poolbot/sim"
)

// writeConfig writes a config whose Azure DevOps is the simulator at url
// (or nothing listening) followed by schedules.
func writeConfig(t *testing.T, url, schedules string) string {
	t.Helper()
	doc := `[azure_devops]
organization_url = "` + url + `/contoso"
pat = "literal-pat"

[azure]
resource_manager_url = "` + url + `"
subscription = "` + sim.Subscription + `"
resource_group = "` + sim.ResourceGroup + `"
auth = "static"
static_token = "t"

[slack]
signing_secret = "s"
bot_token = "xoxb-1"
` + schedules
	path := filepath.Join(t.TempDir(), "poolbot.toml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Line 16 is the first line of the schedules: [[schedules]].
const goodSchedules = `
[[schedules]]
name = "office-hours"
pools = ["linux-ci", "windows-*"]
timezone = "Europe/Paris"

[[schedules.entries]]
cron = "0 7 * * 1-5"
standby = 2

[[schedules.entries]]
cron = "0 20 * * 1-5"
standby = 0
`

func TestCheck(t *testing.T) {
	s := sim.New(sim.Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	tests := []struct {
		name      string
		url       string
		schedules string
		args      []string
		code      int
		want      []string // in stderr (or stdout when code is 0)
	}{
		{"good, pools checked", srv.URL, goodSchedules, nil, 0, []string{"ok (1 schedules; 3 pools in Azure DevOps)"}},
		{"good, offline", srv.URL, goodSchedules, []string{"--offline"}, 0, []string{"pools not checked (--offline)"}},
		{"bad cron", srv.URL, strings.Replace(goodSchedules, `"0 20 * * 1-5"`, `"0 20 * * 1-8"`, 1), []string{"--offline"}, 1,
			[]string{":26: key schedules[0].entries[1].cron: schedule office-hours: entry 2: cron \"0 20 * * 1-8\""}},
		{"overlapping schedules", srv.URL, goodSchedules + `
[[schedules]]
name = "windows-nights"
pools = ["windows-ci"]
[[schedules.entries]]
cron = "0 22 * * *"
standby = 0
`, []string{"--offline"}, 1, []string{":31: key schedules[1].pools[0]: schedule windows-nights: pools \"windows-ci\" overlaps \"windows-*\" of schedule office-hours"}},
		{"glob matching no pool", srv.URL, strings.Replace(goodSchedules, `"windows-*"`, `"mac-*"`, 1), nil, 1,
			[]string{":18: key schedules[0].pools[1]: schedule office-hours: \"mac-*\" matches no pool in Azure DevOps"}},
		{"standby above the pool's max in Azure DevOps", srv.URL, `
[[schedules]]
name = "gpu"
pools = ["gpu-*"]
timezone = "UTC"

[[schedules.entries]]
cron = "0 7 * * 1-5"
standby = 3
`, nil, 1, []string{":23: key schedules[0].entries[0].standby: schedule gpu: entry 1 (0 7 * * 1-5) sets gpu-nightly's standby to 3, above its max 2 then (gpu-nightly's own max in Azure DevOps"}},
		{"standby above the max the schedule set", srv.URL, `
[[schedules]]
name = "weekend"
pools = ["linux-*"]
timezone = "Europe/Paris"

[[schedules.entries]]
cron = "0 20 * * 5"
standby = 0
max = 2

[[schedules.entries]]
cron = "0 7 * * 6"
standby = 4
`, []string{"--offline"}, 1, []string{":28: key schedules[0].entries[1].standby: schedule weekend: entry 2 (0 7 * * 6) sets linux-*'s standby to 4, above its max 2 then (set by entry 1 (0 20 * * 5), Sat 07:00 CET)"}},
		{"every problem, in line order", srv.URL, strings.Replace(strings.Replace(goodSchedules, `"0 20 * * 1-5"`, `"0 20 * * 1-8"`, 1), "standby = 2", "standby = \"two\"", 1) + `
[cost]
digest_cron = "0 25 * * *"
`, []string{"--offline"}, 1, []string{`.toml:23: key schedules[0].entries[0].standby: must be a whole number, not a string` + "\n",
			`.toml:26: key schedules[0].entries[1].cron: schedule office-hours: entry 2: cron "0 20 * * 1-8"`,
			`.toml:30: key cost.digest_cron: "0 25 * * *" is not a 5-field cron expression`,
			`: 3 problem(s)`}},
		{"Azure DevOps unreachable", "http://127.0.0.1:1", strings.Replace(goodSchedules, `"windows-*"`, `"mac-*"`, 1), []string{"--timeout", "100ms"}, 0,
			[]string{"pools not checked: Azure DevOps not reachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.url, tt.schedules)
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"check", "--config", path}, tt.args...), nil, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tt.code, out.String(), errb.String())
			}
			got := errb.String()
			if code == 0 {
				got = out.String()
			}
			at := 0 // the wanted lines come in this order
			for _, w := range tt.want {
				i := strings.Index(got[at:], w)
				if i < 0 {
					t.Errorf("output lacks %q after byte %d:\n%s", w, at, got)
					continue
				}
				at += i + len(w)
			}
			if code != 0 && !strings.Contains(errb.String(), path+":") {
				t.Errorf("errors do not name the file:\n%s", errb.String())
			}
		})
	}
}

func TestSchedulePreview(t *testing.T) {
	path := writeConfig(t, "http://127.0.0.1:1", goodSchedules)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"schedule", "preview", "--config", path, "--from", "2026-03-27T00:00:00Z", "--days", "4"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := `2026-03-27T07:00:00+01:00 linux-ci standby=2 office-hours
2026-03-27T07:00:00+01:00 windows-* standby=2 office-hours
2026-03-27T20:00:00+01:00 linux-ci standby=0 office-hours
2026-03-27T20:00:00+01:00 windows-* standby=0 office-hours
2026-03-30T07:00:00+02:00 linux-ci standby=2 office-hours
2026-03-30T07:00:00+02:00 windows-* standby=2 office-hours
2026-03-30T20:00:00+02:00 linux-ci standby=0 office-hours
2026-03-30T20:00:00+02:00 windows-* standby=0 office-hours
`
	if out.String() != want {
		t.Errorf("preview:\n%s\nwant:\n%s", out.String(), want)
	}
	for _, args := range [][]string{{"schedule"}, {"schedule", "preview"}, {"schedule", "preview", "--config", path, "--from", "monday"}} {
		if code := run(context.Background(), args, nil, &out, &errb); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}
