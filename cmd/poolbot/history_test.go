package main

import (
	"context"
	"encoding/csv"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/sim"
)

// historyConfig writes a configuration whose Azure DevOps is the simulator.
func historyConfig(t *testing.T, simURL, extra string) string {
	t.Helper()
	text := `
[azure_devops]
organization_url = "` + simURL + `/contoso"
pat = "test-pat"

[azure]
resource_manager_url = "` + simURL + `/"
auth = "static"
static_token = "test-token"

[slack]
signing_secret = "s"
bot_token = "xoxb-test"
` + extra
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHistoryExport: poolbot history export writes a pool's finished jobs
// from Azure DevOps (the simulator, two days of it ending now) as the trace
// CSV, oldest first, only those queued within --since; bad flags are told
// and write nothing.
func TestHistoryExport(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Minute).Add(-60 * time.Hour)
	s := sim.New(sim.Options{Start: start, Seed: 2})
	// 300 older jobs, outside --since 2d, and then two and a half days of the model's own.
	var old []sim.HistoryJob
	for i := 0; i < 300; i++ {
		q := start.Add(-10*24*time.Hour + time.Duration(i)*time.Minute)
		old = append(old, sim.HistoryJob{Queued: q, Assigned: q, Finished: q.Add(time.Minute), Definition: "old"})
	}
	if err := s.AddJobHistory("linux-ci", old); err != nil {
		t.Fatal(err)
	}
	s.Advance(60 * time.Hour)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	cfg := historyConfig(t, srv.URL, "[cost]\ndigest_timezone = \"Europe/Paris\"\n")
	outFile := filepath.Join(t.TempDir(), "trace.csv")

	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"history", "export", "--config", cfg, "--pool", "linux-ci", "--since", "2d", "--out", outFile}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	f, err := os.Open(outFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "pool,queued,duration,result,definition" {
		t.Fatalf("header %v", rows[0])
	}
	if len(rows) < 50 {
		t.Fatalf("%d rows: want two working days of linux-ci", len(rows)-1)
	}
	cut := time.Now().Add(-48 * time.Hour)
	var prev time.Time
	for _, r := range rows[1:] {
		q, err := time.Parse(time.RFC3339, r[1])
		if err != nil || !strings.HasSuffix(r[1], "+01:00") {
			t.Fatalf("queued %q: %v (want RFC 3339 in Paris' winter offset)", r[1], err)
		}
		d, err := strconv.Atoi(r[2])
		if r[0] != "linux-ci" || err != nil || d < 0 || r[3] == "" || r[4] == "old" || q.Before(cut.Add(-time.Minute)) || q.Before(prev) {
			t.Fatalf("row %v (after %s)", r, prev)
		}
		if r[3] == "succeeded" && d < 60 {
			t.Errorf("a succeeded job that ran %d s: the simulator's run at least 5 minutes", d)
		}
		prev = q
	}
	if !strings.Contains(stderr.String(), strconv.Itoa(len(rows)-1)+" jobs of linux-ci in ") {
		t.Errorf("stderr %q", stderr.String())
	}

	before, _ := os.ReadFile(outFile)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--pool", "linux-ci", "--since", "a month"}, `--since "a month" is not a span`},
		{[]string{"--pool", "linux-ci", "--since", "-3d"}, `is not a span`},
		{[]string{"--pool", "no-such-pool"}, `no pool matches "no-such-pool"`},
		{[]string{"--since", "2d"}, "--pool is required"},
		{[]string{"--pool", "linux-ci", "--tz", "Mars/Olympus"}, `--tz "Mars/Olympus" is not a time zone`},
	} {
		var so, se strings.Builder
		args := append([]string{"history", "export", "--config", cfg, "--out", outFile}, tc.args...)
		if code := run(context.Background(), args, nil, &so, &se); code == 0 || !strings.Contains(se.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error containing %q", tc.args, code, se.String(), tc.want)
		}
	}
	if after, _ := os.ReadFile(outFile); string(after) != string(before) {
		t.Errorf("a failed export changed the file")
	}
}
