package pool

import (
	"context"
	"math"
	"sort"
	"time"
)

// Job is one job request of a pool as Azure DevOps records it: when it was
// queued, given an agent, started and finished, and how it ended.
type Job struct {
	Pool      string
	RequestID uint64
	Queued    time.Time
	Assigned  time.Time // zero: it never got an agent (canceled while waiting)
	Started   time.Time // the agent received it; zero: not known
	Finished  time.Time // zero: still queued or running
	// Result is Azure DevOps' name: succeeded, succeededWithIssues, failed,
	// canceled, skipped, abandoned. Empty while unfinished.
	Result     string
	Definition string   // the pipeline's name; may be empty
	Agent      string   // the agent that ran it (its node's name); empty when none did or not known
	Demands    []string // as Azure DevOps writes them: "Agent.OS -equals Linux"
}

// Wait is how long the job waited for an agent (assign − queue), and false
// when it never got one.
func (j Job) Wait() (time.Duration, bool) {
	if j.Assigned.IsZero() || j.Queued.IsZero() {
		return 0, false
	}
	if d := j.Assigned.Sub(j.Queued); d > 0 {
		return d, true
	}
	return 0, true
}

// Start is when the job began to run: the agent's receive time, else its
// assign time; zero when it never ran.
func (j Job) Start() time.Time {
	if !j.Started.IsZero() {
		return j.Started
	}
	return j.Assigned
}

// Ran is how long the job ran (finish − start), 0 when it never ran.
func (j Job) Ran() time.Duration {
	s := j.Start()
	if s.IsZero() || j.Finished.IsZero() || !j.Finished.After(s) {
		return 0
	}
	return j.Finished.Sub(s)
}

// JobQuery asks Service.JobHistory for a stretch of a pool's job requests.
// Azure DevOps lists them newest first, at most 200 a call, each call
// handing a continuation token to the next.
type JobQuery struct {
	// Since stops the read at the first request queued before it (the
	// watermark); zero reads the whole history.
	Since time.Time
	// Token continues a read that stopped at MaxCalls (JobPage.Token);
	// empty starts at the newest request.
	Token string
	// MaxCalls bounds the calls to Azure DevOps; 0 means no bound.
	MaxCalls int
}

// JobPage is what one JobHistory call read.
type JobPage struct {
	// Jobs are the finished requests queued at or after Since, newest first.
	Jobs []Job
	// Open are the requests read that have not finished: queued (Assigned
	// zero) or running.
	Open []Job
	// Newest is the latest queue time read; zero when nothing was.
	Newest time.Time
	// Token is set when the read stopped before Since, at MaxCalls or on an
	// error: pass it back with the same Since to go on from there.
	Token string
	// Calls is how many calls to Azure DevOps the read made.
	Calls int
}

// JobStore keeps the pools' finished jobs and, per pool, the cursor of the
// read that fills it. Both stores implement it with pool.Store.
type JobStore interface {
	// AddJobs records a pool's jobs (a job already kept, by pool and
	// RequestID, is replaced) and sets its cursor, in one transaction: a
	// crash keeps both or neither.
	AddJobs(ctx context.Context, pool string, jobs []Job, cursor string) error
	// JobCursor returns the pool's cursor; ErrNotFound when none was set.
	JobCursor(ctx context.Context, pool string) (string, error)
	// Jobs returns the jobs queued in [q.From, q.To), oldest first.
	Jobs(ctx context.Context, q JobsQuery) ([]Job, error)
	// DeleteJobs removes the jobs that finished before the instant and
	// returns how many.
	DeleteJobs(ctx context.Context, before time.Time) (int64, error)
}

// JobsQuery selects stored jobs.
type JobsQuery struct {
	Pool     string    // empty: every pool
	From, To time.Time // queue time in [From, To); a zero bound is open
	Limit    int       // 0: no limit
}

// Percentile returns the p-th percentile (0–100) of ds by the nearest-rank
// method, or 0 when ds is empty. It sorts ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	k := int(math.Ceil(p/100*float64(len(ds)))) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(ds) {
		k = len(ds) - 1
	}
	return ds[k]
}
