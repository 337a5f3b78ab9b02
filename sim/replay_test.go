package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/trace"
)

// The built-in arrival model makes exactly the jobs trace.Reference
// generates, so that a trace of the reference weeks replays the same load.
func TestBuiltInArrivalsAreTheReferenceTrace(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	s := New(Options{Start: start, Seed: 4})
	s.Advance(30 * time.Hour)
	want := trace.Reference(4, start, 30*time.Hour)
	var got []trace.Job
	for _, p := range []string{"linux-ci", "windows-ci", "gpu-nightly"} {
		js, err := s.Jobs(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range js {
			got = append(got, trace.Job{Pool: p, Queued: j.Queued, Duration: j.Duration, Definition: j.Definition})
		}
	}
	if len(got) != len(want) || len(want) < 300 {
		t.Fatalf("simulator had %d jobs, the reference trace %d", len(got), len(want))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g.Pool == w.Pool && g.Queued.Equal(w.Queued) && g.Duration == w.Duration && g.Definition == w.Definition {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("reference job %+v did not arrive in the simulator", w)
		}
	}
}

func TestReplay(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	// A two-day trace a fortnight before the simulated time: it repeats
	// every week, on the same weekdays and times of day.
	tr := []trace.Job{
		{Pool: "linux-ci", Queued: start.Add(-14*24*time.Hour + 9*time.Hour + 30*time.Second), Duration: 10 * time.Minute, Definition: "Build"},
		{Pool: "windows-ci", Queued: start.Add(-14*24*time.Hour + 9*time.Hour + 30*time.Second), Duration: 90 * time.Second},
		{Pool: "linux-ci", Queued: start.Add(-13*24*time.Hour + 10*time.Hour), Duration: 20 * time.Minute, Definition: "Test"},
	}
	s := New(Options{Start: start, Seed: 1})
	if err := s.Replay(tr); err != nil {
		t.Fatal(err)
	}
	s.Advance(15 * 24 * time.Hour)
	js, err := s.Jobs("linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	var at []string
	for _, j := range js {
		at = append(at, j.Queued.Format("2006-01-02T15:04:05")+" "+j.Duration.String()+" "+j.Definition)
	}
	want := []string{
		"2026-01-05T09:00:30 10m0s Build", "2026-01-06T10:00:00 20m0s Test",
		"2026-01-12T09:00:30 10m0s Build", "2026-01-13T10:00:00 20m0s Test",
		"2026-01-19T09:00:30 10m0s Build",
	}
	if strings.Join(at, "\n") != strings.Join(want, "\n") {
		t.Errorf("linux-ci's jobs:\n%s\nwant\n%s", strings.Join(at, "\n"), strings.Join(want, "\n"))
	}
	// Each ran: the first found standby 2 and did not wait.
	if js[0].Assigned.IsZero() || js[0].Wait(s.Now()) != 0 || js[0].Finished.Sub(js[0].Assigned) != 10*time.Minute {
		t.Errorf("first job: %+v", js[0])
	}
	if w, _ := s.Jobs("windows-ci"); len(w) != 3 {
		t.Errorf("windows-ci had %d jobs, want 3", len(w))
	}
	if g, _ := s.Jobs("gpu-nightly"); len(g) != 0 {
		t.Errorf("gpu-nightly, not in the trace, had %d jobs", len(g))
	}
}

func TestReplayUnknownPool(t *testing.T) {
	s := New(Options{Seed: 1})
	err := s.Replay([]trace.Job{{Pool: "linux-ci", Queued: s.Now()}, {Pool: "mac-ci", Queued: s.Now()}})
	if err == nil || !strings.Contains(err.Error(), "mac-ci") || !strings.Contains(err.Error(), "linux-ci, windows-ci, gpu-nightly") {
		t.Fatalf("err = %v", err)
	}
	// Nothing changed: the built-in model still brings jobs.
	s.Advance(10 * time.Hour)
	if js, _ := s.Jobs("linux-ci"); len(js) == 0 {
		t.Error("the refused trace stopped the built-in arrivals")
	}
}

// WaitsSince and IdleHours read what Stats does, a part at a time.
func TestWaitsSinceAndIdleHoursAgreeWithStats(t *testing.T) {
	s := New(Options{Start: time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC), Seed: 4})
	s.Advance(10 * time.Hour)
	st, err := s.Stats("linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.JobWaits) < 20 {
		t.Fatalf("%d jobs got an agent in a working day, want more to compare", len(st.JobWaits))
	}
	for _, n := range []int{-1, 0, 7, len(st.JobWaits) - 1, len(st.JobWaits), len(st.JobWaits) + 3} {
		got := s.WaitsSince("linux-ci", n)
		want := st.JobWaits[min(max(n, 0), len(st.JobWaits)):]
		if len(got) != len(want) {
			t.Fatalf("WaitsSince(%d): %d waits, want %d", n, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("WaitsSince(%d)[%d] = %s, want %s", n, i, got[i], want[i])
			}
		}
	}
	if got := s.IdleHours("linux-ci"); got != st.IdleVMHours {
		t.Errorf("IdleHours %v, Stats %v", got, st.IdleVMHours)
	}
	if s.WaitsSince("no-such-pool", 0) != nil {
		t.Error("an unknown pool has waits")
	}
}
