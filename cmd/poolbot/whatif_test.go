package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/poolbot/poolbot/app"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/trace"
)

const officeSchedule = `
[[schedules]]
name = "office"
pools = ["linux-ci"]
timezone = "Europe/Paris"
[[schedules.entries]]
cron = "45 7 * * 1-5"
standby = 3
ttl = 3
[[schedules.entries]]
cron = "0 19 * * 1-5"
standby = 0
ttl = 1
`

// writeTrace writes a week of the reference office's linux-ci and
// windows-ci.
func writeTrace(t *testing.T) string {
	t.Helper()
	var jobs []trace.Job
	for _, j := range trace.Reference(1, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), 7*24*time.Hour) {
		if j.Pool != "gpu-nightly" {
			jobs = append(jobs, j)
		}
	}
	var b bytes.Buffer
	if err := trace.Write(&b, jobs); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "jobs.csv", b.String())
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWhatifJSON(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "http://127.0.0.1:1", officeSchedule)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"whatif", "--config", cfg, "--jobs", writeTrace(t), "--format", "json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	var rs []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// linux-ci: none, office, 5 preferences; windows-ci: none, 5.
	if len(rs) != 13 {
		t.Fatalf("%d results", len(rs))
	}
	policies := map[string]bool{}
	for _, r := range rs {
		for _, k := range []string{"pool", "policy", "idle_vm_hours", "cost", "wait_p50_s", "wait_p95_s", "jobs"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("result without %s: %v", k, r)
			}
		}
		policies[r["pool"].(string)+" "+r["policy"].(string)] = true
		if r["jobs"].(float64) < 400 {
			t.Errorf("%v: too few jobs", r)
		}
	}
	for _, want := range []string{"linux-ci none", "linux-ci office", "linux-ci autopilot:balanced", "windows-ci autopilot:best-performance"} {
		if !policies[want] {
			t.Errorf("no %s in %v", want, policies)
		}
	}
	if policies["windows-ci office"] {
		t.Error("office, which does not claim windows-ci, measured on it")
	}
	if rs[0]["policy"] != "none" || rs[0]["idle_ratio"].(float64) != 1 {
		t.Errorf("first result %v", rs[0])
	}
}

func TestWhatifTextOnePool(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "http://127.0.0.1:1", officeSchedule)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"whatif", "--config", cfg, "--jobs", writeTrace(t), "--pool", "linux-ci"}, nil, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), "windows-ci") || !strings.Contains(out.String(), "autopilot:balanced") || !strings.Contains(out.String(), "idle VM-h") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestWhatifBadInput(t *testing.T) {
	cfg := writeConfig(t, "http://127.0.0.1:1", officeSchedule)
	const head = "pool,queued,duration,result,definition\n"
	for _, c := range []struct {
		name, trace string
		extra       []string
		cfg         string
		want        string
	}{
		{"missing column", "pool,queued,result,definition\nlinux-ci,2026-01-05T08:00:00Z,succeeded,\n", nil, "", "line 1, column duration: missing from the header"},
		{"unknown pool", head + "linux-ci,2026-01-05T08:00:00Z,60,succeeded,\nmac-ci,2026-01-05T08:01:00Z,60,succeeded,\n", nil, "", "mac-ci"},
		{"unsorted", head + "linux-ci,2026-01-05T08:00:00Z,60,succeeded,\nlinux-ci,2026-01-05T07:00:00Z,60,succeeded,\n", nil, "", "line 3, column queued: rows are not sorted"},
		{"future", head + "linux-ci,2099-01-05T08:00:00Z,60,succeeded,\n", nil, "", "line 2, column queued: queued after the present"},
		{"pool not in trace", head + "linux-ci,2026-01-05T08:00:00Z,60,succeeded,\n", []string{"--pool", "windows-ci"}, "", "the trace has no jobs of it"},
		{"bad preference", head + "linux-ci,2026-01-05T08:00:00Z,60,succeeded,\n", nil,
			"\n[[schedules]]\nname = \"auto\"\npools = [\"linux-ci\"]\nmode = \"autopilot\"\npreference = \"fastest\"\n", `key schedules[0].preference: no preference "fastest"`},
		{"autopilot and cron", head + "linux-ci,2026-01-05T08:00:00Z,60,succeeded,\n", nil,
			"\n[[schedules]]\nname = \"auto\"\npools = [\"linux-ci\"]\nmode = \"autopilot\"\n[[schedules.entries]]\ncron = \"0 7 * * *\"\nstandby = 1\n", `key schedules[0].entries: an autopilot schedule has no cron entries`},
	} {
		t.Run(c.name, func(t *testing.T) {
			conf := cfg
			if c.cfg != "" {
				conf = writeConfig(t, "http://127.0.0.1:1", c.cfg)
			}
			jobs := writeFile(t, "jobs.csv", c.trace)
			args := append([]string{"whatif", "--config", conf, "--jobs", jobs}, c.extra...)
			var out, errb bytes.Buffer
			if code := run(context.Background(), args, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), c.want) {
				t.Fatalf("code %d, stderr %q, want %q", code, errb.String(), c.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q", out.String())
			}
			// Nothing was written beside the inputs.
			if ents, _ := os.ReadDir(filepath.Dir(jobs)); len(ents) != 1 {
				t.Errorf("files beside the trace: %v", ents)
			}
		})
	}
}

func TestScheduleSuggest(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "http://127.0.0.1:1", officeSchedule)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"schedule", "suggest", "--config", cfg, "--jobs", writeTrace(t), "--pool", "linux-ci", "--wait-p95", "6m"}, nil, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	s := out.String()
	for _, want := range []string{"# linux-ci on ", "objective p95 wait 6m0s", "# none (the pool's own settings): idle ", "# this schedule: idle ", "[[schedules.entries]]"} {
		if !strings.Contains(s, want) {
			t.Errorf("output does not say %q:\n%s", want, s)
		}
	}
	// What it prints is a schedule poolbot accepts, in the schedule's zone.
	var c struct {
		Schedules []config.Schedule `toml:"schedules"`
	}
	if err := toml.Unmarshal([]byte(s), &c); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	if len(c.Schedules) != 1 || c.Schedules[0].TimeZone != "Europe/Paris" || len(c.Schedules[0].Entries) < 2 {
		t.Fatalf("schedules %+v", c.Schedules)
	}
	if errs := app.ValidateSchedules(&config.Config{Schedules: c.Schedules}); len(errs) > 0 {
		t.Fatalf("suggested schedule invalid: %v\n%s", errs, s)
	}
}

func TestTraceCommand(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"trace", "--shape", "night-batch", "--weeks", "1", "--seed", "2"}, nil, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	got, err := trace.Read(&out)
	if err != nil {
		t.Fatal(err)
	}
	want := trace.NightBatch(2, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), 7*24*time.Hour)
	if len(got) != len(want) || got[0].Pool != want[0].Pool || !got[0].Queued.Equal(want[0].Queued.Truncate(time.Second)) {
		t.Fatalf("%d jobs, want %d", len(got), len(want))
	}
	if code := run(context.Background(), []string{"trace", "--shape", "lunar"}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), `--shape "lunar": one of`) {
		t.Fatalf("code %d: %s", code, errb.String())
	}
}

func TestSimAndDemoJobsRefused(t *testing.T) {
	const head = "pool,queued,duration,result,definition\n"
	for _, c := range []struct{ trace, want string }{
		{head + "mac-ci,2026-01-05T08:00:00Z,60,succeeded,\n", "the trace names pools the simulator does not have: mac-ci"},
		{"pool,queued\nlinux-ci,2026-01-05T08:00:00Z\n", "column duration: missing from the header"},
	} {
		path := writeFile(t, "jobs.csv", c.trace)
		for _, cmd := range []string{"sim", "demo"} {
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{cmd, "--jobs", path, "--listen", "127.0.0.1:0"}, strings.NewReader(""), &out, &errb); code != 1 || !strings.Contains(errb.String(), c.want) {
				t.Errorf("%s: code %d, stderr %q, want %q", cmd, code, errb.String(), c.want)
			}
		}
	}
}

// A pool the simulator does not seed is simulated from a config template.
func TestWhatifTemplatePool(t *testing.T) {
	t.Parallel()
	tmpl := `
[[templates]]
name = "linux"
os = "linux"
sku = "Standard_D2s_v5"
image = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"
standby = 1
max = 4
ttl = 20
`
	cfg := writeConfig(t, "http://127.0.0.1:1", tmpl)
	var b bytes.Buffer
	var jobs []trace.Job
	for _, j := range trace.Reference(1, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), 2*24*time.Hour) {
		if j.Pool == "windows-ci" {
			j.Pool = "build-linux"
			jobs = append(jobs, j)
		}
	}
	if err := trace.Write(&b, jobs); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "jobs.csv", b.String())
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"whatif", "--config", cfg, "--jobs", path}, nil, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "pool build-linux of the trace is not one the simulator seeds") {
		t.Fatalf("without a template: code %d, %s", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"whatif", "--config", cfg, "--jobs", path, "--template", "linux", "--format", "json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	var rs []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 6 || rs[0]["pool"] != "build-linux" || rs[0]["jobs"].(float64) != float64(len(jobs)) || rs[0]["idle_vm_hours"].(float64) < 20 {
		t.Fatalf("results %v", rs[0])
	}
}
