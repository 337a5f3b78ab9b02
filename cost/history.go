package cost

import (
	"context"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// historyDay reads a pool's figures for day (YYYY-MM-DD, in the tracker's
// zone) from the job history the watcher keeps in the store: the jobs
// queued that day, how many of them got an agent, the agent-hours jobs ran
// within it, and the p95 wait for an agent of those that got one. ok is false when the history holds no job of
// the pool that day (none ran, or the history was not read yet): the
// figures counted from polls stand then. t.mu is held.
func (t *Tracker) historyDay(ctx context.Context, name, day string) (jobs, assigned int, busy float64, p95 time.Duration, ok bool) {
	d0, err := time.ParseInLocation("2006-01-02", day, t.loc)
	if err != nil {
		return 0, 0, 0, 0, false
	}
	d1 := d0.AddDate(0, 0, 1)
	// A day earlier too: jobs queued before midnight ran into the day.
	all, err := t.o.Store.Jobs(ctx, pool.JobsQuery{Pool: name, From: d0.AddDate(0, 0, -1), To: d1})
	if err != nil {
		t.o.Logger.Warn("cost: read job history", "pool", name, "day", day, "err", err)
		return 0, 0, 0, 0, false
	}
	var waits []time.Duration
	var ran time.Duration
	for _, j := range all {
		if s, f := j.Start(), j.Finished; !s.IsZero() && f.After(s) {
			s, f = later(s, d0), earlier(f, d1)
			if f.After(s) {
				ran += f.Sub(s)
			}
		}
		if j.Queued.Before(d0) {
			continue
		}
		jobs++
		if w, ok := j.Wait(); ok {
			waits = append(waits, w)
		}
	}
	if jobs == 0 {
		return 0, 0, 0, 0, false
	}
	return jobs, len(waits), ran.Hours(), pool.Percentile(waits, 95), true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
