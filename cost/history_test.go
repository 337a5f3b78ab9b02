package cost

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

// TestDigestFromJobHistory: a pool whose job history holds the day has its
// jobs, busy hours and p95 wait counted from it (jobs that ran across
// midnight count their share of the day), not from what polls saw; a pool
// without history keeps the polled figures.
func TestDigestFromJobHistory(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	start := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	tr := tracker(t, st, clk, Settings{})
	// Polls saw one job start in each pool and one busy agent for an hour.
	for i := 0; i <= 60; i++ {
		tr.Observe(ctx, clk.Now(), []Sample{{Pool: samplePool("a", 0, 1, 0), Jobs: boolInt(i == 30)}, {Pool: samplePool("b", 0, 1, 0), Jobs: boolInt(i == 30)}})
		clk.Advance(time.Minute)
	}
	day0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	var jobs []pool.Job
	for i := 0; i < 10; i++ { // 10 jobs at 12:00, each waiting i minutes and running 30
		q := day0.Add(12*time.Hour + time.Duration(i)*time.Minute)
		a := q.Add(time.Duration(i) * time.Minute)
		jobs = append(jobs, pool.Job{Pool: "a", RequestID: uint64(i + 1), Queued: q, Assigned: a, Finished: a.Add(30 * time.Minute), Result: "succeeded"})
	}
	// Queued the evening before, ran 23:30–00:30: half an hour of the day, not its job.
	late := day0.Add(-40 * time.Minute)
	jobs = append(jobs, pool.Job{Pool: "a", RequestID: 100, Queued: late, Assigned: late.Add(10 * time.Minute), Finished: late.Add(70 * time.Minute), Result: "succeeded"},
		// Canceled while waiting: a job of the day without a wait.
		pool.Job{Pool: "a", RequestID: 101, Queued: day0.Add(20 * time.Hour), Finished: day0.Add(21 * time.Hour), Result: "canceled"})
	if err := st.AddJobs(ctx, "a", jobs, "{}"); err != nil {
		t.Fatal(err)
	}
	lines := map[string]DigestLine{}
	for _, l := range tr.DigestLines(ctx, "2026-01-05") {
		lines[l.Pool] = l
	}
	a, b := lines["a"], lines["b"]
	if !a.FromHistory || a.Jobs != 11 || a.Assigned != 10 || !near(a.BusyHours, 10*0.5+0.5) || a.WaitP95 != 9*time.Minute {
		t.Errorf("pool a from history: %+v; want 11 jobs, 5.5 busy hours, p95 wait 9m", a)
	}
	if b.FromHistory || b.Jobs != 1 || !near(b.BusyHours, 1) {
		t.Errorf("pool b without history: %+v; want the polled 1 job and 1 busy hour", b)
	}
	if l := FormatLine(a); !strings.Contains(l, "· 11 jobs · p95 wait 9m0s") {
		t.Errorf("digest line %q", l)
	}
	if l := FormatLine(b); strings.Contains(l, "p95 wait") {
		t.Errorf("digest line without history shows a wait: %q", l)
	}
	if l := FormatLine(DigestLine{Pool: "c", Jobs: 3, FromHistory: true}); !strings.Contains(l, "3 jobs · none got an agent") || strings.Contains(l, "p95") {
		t.Errorf("digest line of jobs that never got an agent: %q", l)
	}
}
