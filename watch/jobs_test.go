package watch_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/watch"
)

// monday0530 is 06:30 in Paris on a working Monday: jobs are about to come.
var monday0530 = time.Date(2026, 1, 5, 5, 30, 0, 0, time.UTC)

// TestJobHistoryPoll: the watcher reads each pool's finished jobs into the
// store incrementally: a backlog of 700 older jobs over several cycles
// (at most 3 calls each), surviving a restart in the middle of it from the
// stored token; then every job finished more than a read interval ago is
// stored once, as Azure DevOps has it, and the calls stay within budget.
func TestJobHistoryPoll(t *testing.T) {
	e := newEnv(t, sim.Options{Start: monday0530, Seed: 3})
	var backlog []sim.HistoryJob
	for i := 0; i < 700; i++ {
		q := monday0530.Add(-3*24*time.Hour + time.Duration(i)*5*time.Minute)
		backlog = append(backlog, sim.HistoryJob{Queued: q, Assigned: q.Add(time.Minute), Finished: q.Add(11 * time.Minute), Definition: "nightly-backfill"})
	}
	if err := e.sim.AddJobHistory("linux-ci", backlog); err != nil {
		t.Fatal(err)
	}
	w := e.watcher(nil)
	restarted := false
	for i := 0; i < 150; i++ {
		e.minute(w)
		if restarted {
			continue
		}
		if c, err := e.st.JobCursor(e.ctx, "linux-ci"); err == nil && strings.Contains(c, `"token"`) {
			// A restart in the middle of the backlog: a new process, a new
			// store handle, the same file.
			e.st.Close()
			e.st = e.openStore()
			e.sender = e.newSender()
			w = e.watcher(nil)
			restarted = true
		}
	}
	if !restarted {
		t.Fatal("the backlog was read without ever stopping at its call limit")
	}
	now := e.sim.Now()
	calls := e.sim.Calls()["ado.jobrequests"]
	for _, name := range []string{"linux-ci", "windows-ci", "gpu-nightly"} {
		truth, err := e.az.JobHistory(e.ctx, name, pool.JobQuery{})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := e.st.Jobs(e.ctx, pool.JobsQuery{Pool: name})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[uint64]pool.Job{}
		for _, j := range stored {
			byID[j.RequestID] = j
		}
		want := 0
		for _, j := range truth.Jobs {
			s, ok := byID[j.RequestID]
			if !ok {
				if now.Sub(j.Finished) > 6*time.Minute {
					t.Errorf("%s: job %d finished at %s, not stored by %s", name, j.RequestID, j.Finished.Format("15:04"), now.Format("15:04"))
				}
				continue
			}
			want++
			if !s.Queued.Equal(j.Queued) || !s.Assigned.Equal(j.Assigned) || !s.Finished.Equal(j.Finished) || s.Result != j.Result ||
				s.Definition != j.Definition || strings.Join(s.Demands, ",") != strings.Join(j.Demands, ",") {
				t.Errorf("%s: job stored as %+v, Azure DevOps has %+v", name, s, j)
			}
		}
		if want != len(stored) {
			t.Errorf("%s: %d jobs stored, %d of them known to Azure DevOps", name, len(stored), want)
		}
		if name == "linux-ci" && want < 700+20 {
			t.Errorf("linux-ci: %d jobs stored, want the 700 of the backlog and the morning's", want)
		}
	}
	// Three pools read every 5 cycles over 150 cycles, and the backlog's
	// 4 pages: about 94 calls, 0.2 per pool per minute.
	if max := 3*(150/5+2) + 4; calls > max {
		t.Errorf("%d job history calls in 150 cycles, want at most %d", calls, max)
	}
}

// TestWaitObjective: a pool whose jobs wait longer at p95 than its
// objective raises one wait-p95 alert in its route's channel, and it is
// resolved in place once the objective is met (here: raised, after a
// restart with the new configuration).
// TestWaitObjective: a pool whose jobs wait longer than its objective at
// p95 over the last hour is alerted on, in its route's channel, and the
// alert resolves in place once the objective is met.
func TestWaitObjective(t *testing.T) {
	svc := fakePools()
	clk := clock.NewFake(fakeStart)
	svc.JobHistoryFn = steadyJobs(clk, 3*time.Minute)
	e := newFakeEnvOn(t, svc, clk)
	objective := func(d time.Duration) func(*watch.Options) {
		return func(o *watch.Options) {
			o.Alerts.Waits = []watch.WaitObjective{{Pools: []string{"windows-*"}, P95: d}}
		}
	}
	w := e.watcher(objective(time.Minute))
	var fired []pool.Alert
	for i := 0; i < 180 && len(fired) == 0; i++ {
		e.minute(w)
		for _, a := range w.Firing() {
			if a.Condition == watch.CondWaits {
				fired = append(fired, a)
			}
		}
	}
	if len(fired) != 1 || fired[0].Pool != "windows-ci" {
		t.Fatalf("wait alerts firing: %+v; want one for windows-ci", fired)
	}
	posts := e.posts("windows-ci: wait-p95")
	if len(posts) != 1 || posts[0].Channel != "C-WIN" || !strings.Contains(posts[0].Text, "at p95 over the last hour, over its objective of 1m") ||
		!strings.Contains(posts[0].Text, "1 still waiting") {
		t.Fatalf("posts: %+v", posts)
	}

	w = e.watcher(objective(time.Hour))
	for i := 0; i < 30; i++ {
		e.minute(w)
	}
	for _, a := range w.Firing() {
		if a.Condition == watch.CondWaits {
			t.Fatalf("still firing with the objective met: %+v", a)
		}
	}
	ups := e.updates(posts[0].TS)
	if len(ups) == 0 || !strings.Contains(ups[len(ups)-1].Text, "[RESOLVED]") {
		t.Errorf("the wait alert was not resolved in place: %+v", ups)
	}
	if n := len(e.posts("windows-ci: wait-p95")); n != 1 {
		t.Errorf("%d wait alerts posted, want 1", n)
	}
}

// TestJobRetention: the first read of a pool goes back only as far as the
// retention, and jobs finished before it are deleted from the store.
func TestJobRetention(t *testing.T) {
	svc := fakePools()
	clk := clock.NewFake(monday0530)
	var hist []pool.Job
	for d := 1; d <= 4; d++ { // one job a day, 1–4 days back
		q := monday0530.Add(-time.Duration(d) * 24 * time.Hour)
		hist = append(hist, pool.Job{Pool: "windows-ci", RequestID: uint64(d), Queued: q, Assigned: q, Finished: q.Add(10 * time.Minute),
			Result: "succeeded", Definition: "daily"})
	}
	// Azure DevOps' history, newest first, as far back as asked.
	svc.JobHistoryFn = func(_ context.Context, name string, q pool.JobQuery) (pool.JobPage, error) {
		page := pool.JobPage{Calls: 1}
		for _, j := range hist {
			if j.Pool == name && !j.Queued.Before(q.Since) {
				page.Jobs = append(page.Jobs, j)
				if j.Queued.After(page.Newest) {
					page.Newest = j.Queued
				}
			}
		}
		return page, nil
	}
	e := newFakeEnvOn(t, svc, clk)
	old := monday0530.Add(-51 * time.Hour)
	stale := pool.Job{Pool: "linux-ci", RequestID: 1, Queued: old, Assigned: old, Finished: old.Add(time.Minute), Result: "succeeded"}
	if err := e.st.AddJobs(e.ctx, "linux-ci", []pool.Job{stale}, ""); err != nil {
		t.Fatal(err)
	}
	w := e.watcher(func(o *watch.Options) { o.Retention = 50 * time.Hour })
	for i := 0; i < 6; i++ {
		e.minute(w)
	}
	daily, err := e.st.Jobs(e.ctx, pool.JobsQuery{Pool: "windows-ci", To: monday0530})
	if err != nil {
		t.Fatal(err)
	}
	if len(daily) != 2 {
		t.Errorf("windows-ci: %d of the older jobs stored, want the 2 within 50 hours", len(daily))
	}
	if got, _ := e.st.Jobs(e.ctx, pool.JobsQuery{Pool: "linux-ci", To: old.Add(time.Hour)}); len(got) != 0 {
		t.Errorf("a job finished before the retention is still stored: %+v", got)
	}
}
