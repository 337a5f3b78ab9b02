package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// Job history cadence and bounds.
const (
	jobsEvery      = 5  // cycles between reads of a pool's job history
	idleJobsEvery  = 15 // … whose last read found no new request, and no agent busy now
	quietJobsEvery = 30 // … with no agent at all and nothing open
	// jobCallsPerRead bounds one read; a longer history (the first read,
	// or after a long stop) goes on from its token the next cycle.
	jobCallsPerRead = 3
	// openHold is how long a request that has not finished holds the
	// watermark back: one stuck for days must not make every read go back
	// to it.
	openHold = 48 * time.Hour
	// waitWindow is the span of the wait objective's p95.
	waitWindow = time.Hour
	// pruneEvery is how often jobs past retention are deleted.
	pruneEvery = time.Hour
	// DefaultRetention is how long jobs are kept when Options says nothing.
	DefaultRetention = 90 * 24 * time.Hour
)

// CondWaits is the wait objective's condition.
const CondWaits = "wait-p95"

// jobCursor is where the read of a pool's job history stands; it is stored
// as JSON beside the jobs, in the same transaction.
type jobCursor struct {
	// Settled: every request queued before it has been read finished (or
	// fell out of the hold). Reads stop at it.
	Settled time.Time `json:"settled"`
	// Of a read that goes on over several cycles: its token, the newest
	// queue time it saw first, and the earliest open request it met.
	Token   string    `json:"token,omitempty"`
	Newest  time.Time `json:"newest,omitzero"`
	OpenMin time.Time `json:"open_min,omitzero"`
	// Seen are the finished requests queued at Settled when it moved to
	// the newest read: the next read meets them again and skips them.
	Seen    []uint64 `json:"seen,omitempty"`
	NewSeen []uint64 `json:"new_seen,omitempty"` // of the read in progress
}

// loadJobCursor reads the pool's cursor; a pool never read starts at the
// retention horizon.
func (w *Watcher) loadJobCursor(ctx context.Context, now time.Time, name string) (jobCursor, error) {
	v, err := w.o.Store.JobCursor(ctx, name)
	if errors.Is(err, pool.ErrNotFound) {
		return jobCursor{Settled: now.Add(-w.retention())}, nil
	}
	if err != nil {
		return jobCursor{}, err
	}
	var c jobCursor
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		w.o.Logger.Warn("unreadable job cursor, reading the history again", "pool", name, "err", err)
		return jobCursor{Settled: now.Add(-w.retention())}, nil
	}
	return c, nil
}

func (w *Watcher) retention() time.Duration {
	if w.o.Retention > 0 {
		return w.o.Retention
	}
	return DefaultRetention
}

// readJobs reads the pool's job requests since its watermark, at most
// jobCallsPerRead calls, and stores the finished ones with the new cursor
// in one step: a crash re-reads a page rather than losing it. It touches
// only ps and the store.
func (w *Watcher) readJobs(ctx context.Context, now time.Time, p *pool.Pool, ps *poolState) error {
	// The cursor is read from the store once; after that this watcher is
	// the only writer (the leader), and its copy is the stored one. Should
	// another replica have led in between, the copy is older than the
	// store's: the read goes back further, and the jobs read twice are
	// replaced, not doubled.
	if ps.jobCursor == nil {
		c, err := w.loadJobCursor(ctx, now, p.Name)
		if err != nil {
			return fmt.Errorf("read job cursor: %w", err)
		}
		ps.jobCursor = &c
	}
	c := *ps.jobCursor
	before := c
	seen := map[uint64]bool{} // met at the watermark, on the read's last page
	for _, id := range c.Seen {
		seen[id] = true
	}
	page, rerr := w.o.Service.JobHistory(ctx, p.Name, pool.JobQuery{Since: c.Settled, Token: c.Token, MaxCalls: jobCallsPerRead})
	if page.Calls == 0 && rerr != nil {
		return fmt.Errorf("job history: %w", rerr)
	}
	if c.Token == "" {
		c.Newest = page.Newest
		c.NewSeen = nil
		ps.walkOpen = nil
		for _, j := range page.Jobs {
			if j.Queued.Equal(page.Newest) {
				c.NewSeen = append(c.NewSeen, j.RequestID)
			}
		}
	}
	// While an open request holds the watermark back, every read meets
	// the jobs that finished after it again: those this watcher stored are
	// not written twice.
	if ps.stored == nil {
		ps.stored = map[uint64]time.Time{}
	}
	jobs := page.Jobs[:0:0]
	for _, j := range page.Jobs {
		if _, ok := ps.stored[j.RequestID]; !ok && !seen[j.RequestID] {
			jobs = append(jobs, j)
		}
	}
	for _, j := range page.Open {
		ps.walkOpen = append(ps.walkOpen, j)
		if now.Sub(j.Queued) > openHold {
			continue
		}
		if c.OpenMin.IsZero() || j.Queued.Before(c.OpenMin) {
			c.OpenMin = j.Queued
		}
	}
	if page.Token != "" {
		c.Token = page.Token
	} else {
		// Nothing queued since the last read, nothing open: the pool is idle
		// and read less often while its agents stay so.
		ps.jobsIdle = ps.jobsRead && len(ps.walkOpen) == 0 && before.Token == "" && !c.Newest.After(before.Settled)
		// The read reached the watermark: move it to the earliest request
		// still open, else to the newest read (read again next time, and
		// replaced: a request queued in the same instant is not lost).
		switch {
		case !c.OpenMin.IsZero():
			c.Settled, c.Seen = c.OpenMin, nil
		case c.Newest.After(c.Settled):
			c.Settled, c.Seen = c.Newest, c.NewSeen
		}
		c.Token, c.Newest, c.OpenMin, c.NewSeen = "", time.Time{}, time.Time{}, nil
		ps.open, ps.walkOpen = ps.walkOpen, nil
		ps.jobsRead = true
	}
	// A quiet pool (no new job, the same cursor) writes nothing.
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if len(jobs) > 0 || string(b) != ps.cursorJSON {
		if err := w.o.Store.AddJobs(ctx, p.Name, jobs, string(b)); err != nil {
			return fmt.Errorf("store jobs: %w", err)
		}
		ps.cursorJSON = string(b)
	}
	for _, j := range jobs {
		ps.stored[j.RequestID] = j.Queued
	}
	for id, q := range ps.stored {
		if q.Before(c.Settled) {
			delete(ps.stored, id) // no read goes back to it
		}
	}
	*ps.jobCursor = c
	ps.jobsToken = c.Token != ""
	if rerr != nil {
		return fmt.Errorf("job history: %w", rerr)
	}
	if ps.jobsRead {
		w.judgeWaits(ctx, now, p, ps)
	}
	return nil
}

// judgeWaits sets the wait finding of a pool with a wait objective: the
// p95 queue wait of the jobs queued in the last hour, finished (from the
// store) or open (from the last read: a job still waiting counts what it
// has waited so far) exceeds it.
func (w *Watcher) judgeWaits(ctx context.Context, now time.Time, p *pool.Pool, ps *poolState) {
	objective := w.o.Alerts.WaitObjectiveFor(p.Name)
	if objective <= 0 {
		ps.waitFinding = nil
		return
	}
	from := now.Add(-waitWindow)
	done, err := w.o.Store.Jobs(ctx, pool.JobsQuery{Pool: p.Name, From: from, To: now.Add(time.Second)})
	if err != nil {
		w.o.Logger.Warn("read jobs for the wait objective", "pool", p.Name, "err", err)
		return
	}
	seen := map[uint64]bool{}
	var waits []time.Duration
	for _, j := range done {
		seen[j.RequestID] = true
		if d, ok := j.Wait(); ok {
			waits = append(waits, d)
		}
	}
	waiting := 0
	for _, j := range ps.open {
		if seen[j.RequestID] || j.Queued.Before(from) {
			continue
		}
		if d, ok := j.Wait(); ok {
			waits = append(waits, d)
		} else {
			waits = append(waits, now.Sub(j.Queued))
			waiting++
		}
	}
	n := len(waits)
	p95 := pool.Percentile(waits, 95)
	if n == 0 || p95 <= objective {
		ps.waitFinding = nil
		return
	}
	summary := fmt.Sprintf("%s: jobs waited %s for an agent at p95 over the last hour, over its objective of %s (%s",
		p.Name, lasted(p95.Round(time.Second)), lasted(objective), plural(n, "job"))
	if waiting > 0 {
		summary += fmt.Sprintf(", %d still waiting", waiting)
	}
	summary += ")"
	ps.waitFinding = &finding{severity: "warning", count: n, summary: summary}
}

// pruneJobs deletes the jobs past retention, at most once per pruneEvery.
func (w *Watcher) pruneJobs(ctx context.Context, now time.Time) {
	if !w.pruned.IsZero() && now.Sub(w.pruned) < pruneEvery {
		return
	}
	w.pruned = now
	n, err := w.o.Store.DeleteJobs(ctx, now.Add(-w.retention()))
	if err != nil {
		w.o.Logger.Warn("delete old jobs", "err", err)
		return
	}
	if n > 0 {
		w.o.Logger.Info("deleted jobs past retention", "jobs", n, "retention", w.retention().String())
	}
}
