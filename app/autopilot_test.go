package app

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
)

var autopilotLine = regexp.MustCompile(`⏰ linux-ci: standby (\d+): expecting \d+ jobs? by \d\d:\d\d \(was 2; .*autopilot balanced, .* of history\)`)

// TestAutopilotFromStoredHistory runs serve's wiring on the simulator's
// clock: the watcher reads linux-ci's job history from Azure DevOps (a week
// of bursts of 6 jobs every half hour) into the store, and the autopilot
// schedule, which learns from that store, moves standby from the pool's 2
// to what the bursts need, with the reason in the channel.
func TestAutopilotFromStoredHistory(t *testing.T) {
	start := time.Date(2026, 1, 12, 6, 0, 0, 0, time.UTC) // a Monday
	s := sim.New(sim.Options{Seed: 1, Start: start})
	var hist []sim.HistoryJob
	for q := start.Add(-7 * 24 * time.Hour); q.Before(start.Add(-time.Hour)); q = q.Add(30 * time.Minute) {
		for i := 0; i < 6; i++ {
			at := q.Add(time.Duration(i) * 10 * time.Second)
			hist = append(hist, sim.HistoryJob{Queued: at, Assigned: at.Add(time.Minute), Finished: at.Add(11 * time.Minute)})
		}
	}
	if err := s.AddJobHistory("linux-ci", hist); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	stub := slackstub.New()
	defer stub.Close()
	cfg := writeConfig(t, t.TempDir(), srv.URL, stub.APIURL(), `
[[schedules]]
name = "auto"
pools = ["linux-ci"]
timezone = "UTC"
mode = "autopilot"
preference = "balanced"
`)
	a, err := New(context.Background(), Options{Config: cfg, Clock: s, Owner: "test-1", NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	settle(s)
	var line []string
	for line == nil {
		if s.Now().Sub(start) > time.Hour {
			var texts []string
			for _, m := range stub.Messages() {
				texts = append(texts, m.Text)
			}
			st, _ := s.Settings("linux-ci")
			t.Fatalf("no autopilot change within an hour of history being there: standby %v; messages %q", *st.Standby, texts)
		}
		s.Advance(30 * time.Second)
		settle(s)
		for _, m := range stub.Messages() {
			if l := autopilotLine.FindStringSubmatch(m.Text); l != nil {
				line = l
				t.Logf("at %s: %s", s.Now().Format("15:04:05"), m.Text)
			}
		}
	}
	want, _ := strconv.Atoi(line[1])
	if want < 3 {
		t.Errorf("autopilot standby %d for bursts of 6 jobs, want at least 3", want)
	}
	st, err := s.Settings("linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	if st.Standby == nil || *st.Standby != want {
		t.Errorf("linux-ci standby %v in Azure DevOps, the channel said %d", st.Standby, want)
	}
}
