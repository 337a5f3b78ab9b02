package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// testJobs: jobs are kept by pool and request id (a second write replaces
// the first), read back by queue time oldest first, with their cursor
// written in the same step; retention deletes by finish time; all of it
// survives a reopen; a job that has not finished is refused and changes
// nothing.
func testJobs(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	job := func(p string, id uint64, queuedMin int) pool.Job {
		q := base.Add(time.Duration(queuedMin) * time.Minute)
		return pool.Job{Pool: p, RequestID: id, Queued: q, Assigned: q.Add(90 * time.Second), Started: q.Add(95 * time.Second),
			Finished: q.Add(20 * time.Minute), Result: "succeeded", Definition: "app-ci", Demands: []string{"Agent.OS -equals Linux"}}
	}
	if _, err := s.JobCursor(ctx, "linux"); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("cursor before any write: %v, want ErrNotFound", err)
	}
	a1, a2, a3 := job("linux", 11, 0), job("linux", 12, 30), job("linux", 13, 60)
	canceled := pool.Job{Pool: "linux", RequestID: 14, Queued: base.Add(61 * time.Minute), Finished: base.Add(7 * time.Hour), Result: "canceled"}
	w1 := job("windows", 11, 10) // the same request id in another pool is another job
	must(t, s.AddJobs(ctx, "linux", []pool.Job{a3, a1}, "c1"))
	must(t, s.AddJobs(ctx, "windows", []pool.Job{w1}, "w1"))
	a2failed := a2
	a2failed.Result = "failed"
	must(t, s.AddJobs(ctx, "linux", []pool.Job{a2failed, canceled}, "c2"))
	must(t, s.AddJobs(ctx, "linux", []pool.Job{a2}, "c3")) // read again: replaces

	open2 := pool.Job{Pool: "linux", RequestID: 15, Queued: base.Add(2 * time.Hour)} // still running
	if err := s.AddJobs(ctx, "linux", []pool.Job{job("linux", 16, 120), open2}, "bad"); err == nil {
		t.Fatal("an unfinished job was accepted")
	}

	check := func(s pool.Store) {
		t.Helper()
		c, err := s.JobCursor(ctx, "linux")
		must(t, err)
		eq(t, "linux cursor", c, "c3")
		got, err := s.Jobs(ctx, pool.JobsQuery{Pool: "linux"})
		must(t, err)
		eq(t, "linux jobs", got, []pool.Job{a1, a2, a3, canceled})
		got, err = s.Jobs(ctx, pool.JobsQuery{From: base.Add(10 * time.Minute), To: base.Add(61 * time.Minute)})
		must(t, err)
		eq(t, "every pool, queued in [10m, 61m)", got, []pool.Job{w1, a2, a3})
		got, err = s.Jobs(ctx, pool.JobsQuery{Pool: "linux", Limit: 2})
		must(t, err)
		eq(t, "limit", got, []pool.Job{a1, a2})
	}
	check(s)
	must(t, s.Close())
	s = opened(t, open)
	check(s)

	// Retention: finished before a3's finish are gone; a3 and the canceled job stay.
	n, err := s.DeleteJobs(ctx, a3.Finished)
	must(t, err)
	eq(t, "deleted", n, int64(3)) // a1, a2, w1
	got, err := s.Jobs(ctx, pool.JobsQuery{})
	must(t, err)
	eq(t, "after retention", got, []pool.Job{a3, canceled})
}
