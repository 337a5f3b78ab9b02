package scheduler

import (
	"context"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/trace"
)

// StoreHistory is the History the watcher keeps in js: the pools' finished
// jobs as Azure DevOps recorded them. It is as safe for concurrent use as
// the store.
func StoreHistory(js pool.JobStore) History { return storeHistory{js} }

type storeHistory struct{ js pool.JobStore }

// Jobs returns the pool's stored jobs queued at or after since. The history
// begins at the first job stored for the pool (or since, if later): before
// it the watcher had not read, which is not the same as no jobs. A job
// that never got an agent (canceled while it waited) was demand all the
// same, with no duration.
func (h storeHistory) Jobs(ctx context.Context, name string, since time.Time) ([]trace.Job, time.Time, error) {
	first, err := h.js.Jobs(ctx, pool.JobsQuery{Pool: name, Limit: 1})
	if err != nil || len(first) == 0 {
		return nil, time.Time{}, err
	}
	from := first[0].Queued
	if from.Before(since) {
		from = since
	}
	stored, err := h.js.Jobs(ctx, pool.JobsQuery{Pool: name, From: since})
	if err != nil {
		return nil, time.Time{}, err
	}
	out := make([]trace.Job, len(stored))
	for i, j := range stored {
		out[i] = trace.Job{Pool: j.Pool, Queued: j.Queued, Duration: j.Ran().Round(time.Second),
			Result: j.Result, Definition: j.Definition}
	}
	return out, from, nil
}
