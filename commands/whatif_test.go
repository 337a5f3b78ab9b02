package commands

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/scheduler"
	"github.com/poolbot/poolbot/trace"
	"github.com/poolbot/poolbot/whatif"
)

// TestWhatifCommand: /pool whatif replays the pool's stored history (a
// week of the simulator's office demand) under its own settings, the
// schedule that claims it and the autopilot, says it is working first, and
// answers a table with a row per policy; bad input or no history runs
// nothing.
func TestWhatifCommand(t *testing.T) {
	three, zero := 3, 0
	schedules := []scheduler.Schedule{{Name: "office", Pools: []string{"linux-*"}, TimeZone: "Europe/Paris", Entries: []scheduler.Entry{
		{Cron: "45 7 * * 1-5", Standby: &three}, {Cron: "0 19 * * *", Standby: &zero},
	}}, {Name: "gpu", Pools: []string{"gpu-nightly"}, TimeZone: "UTC", Entries: []scheduler.Entry{{Cron: "0 1 * * *", Standby: &three}}}}
	// app's runner: whatif.Stored, its results as rows.
	s := newStack(t, func(o *Options) {
		o.WhatIf = func(ctx context.Context, p pool.Pool, jobs []pool.Job) ([]WhatIfRow, error) {
			rs, err := whatif.Stored(ctx, p, jobs, schedules, "")
			var rows []WhatIfRow
			for _, r := range rs {
				rows = append(rows, WhatIfRow{Policy: r.Policy, IdleVMHours: r.IdleVMHours, Cost: r.Cost, WaitP50: r.WaitP50,
					WaitP95: r.WaitP95, Jobs: r.Jobs, IdleRatio: r.IdleRatio, CostRatio: r.CostRatio, P95Ratio: r.P95Ratio})
			}
			return rows, err
		}
	})
	ctx := context.Background()
	now := s.clk.Now()
	start := now.Add(-7 * 24 * time.Hour).Truncate(24 * time.Hour)
	var jobs []pool.Job
	for i, j := range trace.Of(trace.Reference(1, start, now.Sub(start)), "linux-ci") {
		q := j.Queued
		if !q.Add(j.Duration + time.Minute).Before(now) {
			continue
		}
		jobs = append(jobs, pool.Job{Pool: "linux-ci", RequestID: uint64(i + 1), Queued: q, Assigned: q.Add(time.Minute),
			Finished: q.Add(time.Minute + j.Duration), Result: "succeeded"})
	}
	if err := s.store.AddJobs(ctx, "linux-ci", jobs, "{}"); err != nil {
		t.Fatal(err)
	}

	rec := s.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: "whatif linux-ci"})
	if len(rec.all) != 2 || !strings.Contains(rec.all[0].Text, "Replaying "+strconv.Itoa(len(jobs))+" jobs of linux-ci") {
		t.Fatalf("want a working line, then the answer: %q", rec.texts())
	}
	rep := rec.last()
	if !rep.ReplaceOriginal || rep.InChannel {
		t.Errorf("the answer replaces the working line, to the requester only: %+v", rep)
	}
	t.Logf("%s", plainOf(rep))
	row := regexp.MustCompile(`(?m)^\s*(\S+)\s+([\d.]+)\s+\$([\d.]+)\s+\S+\s+\S+\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$`)
	idle := map[string]float64{}
	for _, m := range row.FindAllStringSubmatch(plainOf(rep), -1) {
		if n, _ := strconv.Atoi(m[4]); n != len(jobs) {
			t.Errorf("policy %s replayed %d jobs, want %d", m[1], n, len(jobs))
		}
		idle[m[1]], _ = strconv.ParseFloat(m[2], 64)
		if m[1] == "none" && m[5] != "1.00" {
			t.Errorf("none against itself: %s", m[5])
		}
	}
	for _, p := range []string{"none", "office", "autopilot:most-cost-effective", "autopilot:balanced", "autopilot:best-performance"} {
		if _, ok := idle[p]; !ok {
			t.Errorf("no row for %s", p)
		}
	}
	if _, ok := idle["gpu"]; ok {
		t.Errorf("a schedule that does not claim linux-ci has a row")
	}
	if !(idle["autopilot:balanced"] < idle["none"]) || !(idle["office"] < idle["none"]) {
		t.Errorf("standby 2 all week idles less than a schedule or the autopilot: %v", idle)
	}
	if !strings.Contains(rep.Text, "standby 2, max 10, ttl 30, Standard_D4s_v5") {
		t.Errorf("the answer does not say the settings replayed: %q", rep.Text)
	}

	for _, tc := range []struct{ text, want string }{
		{"whatif windows-ci", "No jobs of windows-ci in the last 4 weeks"},
		{"whatif linx-ci", "Did you mean linux-ci?"},
		{"whatif linux-*", "one pool at a time"},
		{"whatif", "whatif takes 1 argument, not 0"},
		{"whatif linux-ci days=3", "whatif takes no option days"},
	} {
		rec := s.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: tc.text})
		if len(rec.all) != 1 || !strings.Contains(rec.last().Text, tc.want) {
			t.Errorf("%q: %q, want one reply with %q", tc.text, rec.texts(), tc.want)
		}
	}

	// One what-if at a time.
	whatifSlot <- struct{}{}
	rec = s.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: "whatif linux-ci"})
	<-whatifSlot
	if len(rec.all) != 1 || !strings.Contains(rec.last().Text, "Another what-if is running") {
		t.Errorf("a second what-if: %q", rec.texts())
	}

	// Without a runner, it says so.
	plain := newStack(t)
	if err := plain.store.AddJobs(ctx, "linux-ci", jobs, "{}"); err != nil {
		t.Fatal(err)
	}
	if rep := plain.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: "whatif linux-ci"}).last(); !strings.Contains(rep.Text, "not available") {
		t.Errorf("no runner: %q", rep.Text)
	}
}
