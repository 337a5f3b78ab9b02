package bot

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// jobTimeout bounds one command; a response_url is good for 30 minutes.
const jobTimeout = 15 * time.Minute

// Workers runs acknowledged commands: a fixed number at once, a bounded
// queue behind them, and a refusal (never a wait) when the queue is full, so
// that the acknowledgement path never blocks.
type Workers struct {
	log  *slog.Logger
	jobs chan func(context.Context)

	mu     sync.RWMutex // guards closed against sends on a closed jobs
	closed bool

	ctx    context.Context // the jobs' context; cancelled when Shutdown gives up
	cancel context.CancelFunc
	wg     sync.WaitGroup
	busy   atomic.Int64
}

// NewWorkers starts n workers with a queue of queue jobs (defaults 8 and 64).
func NewWorkers(n, queue int, log *slog.Logger) *Workers {
	if n <= 0 {
		n = 8
	}
	if queue < 0 {
		queue = 0
	} else if queue == 0 {
		queue = 64
	}
	if log == nil {
		log = slog.Default()
	}
	w := &Workers{log: log, jobs: make(chan func(context.Context), queue)}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	for range n {
		w.wg.Go(w.work)
	}
	return w
}

func (w *Workers) work() {
	for job := range w.jobs {
		w.run(job)
	}
}

func (w *Workers) run(job func(context.Context)) {
	w.busy.Add(1)
	defer w.busy.Add(-1)
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("command panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	ctx, cancel := context.WithTimeout(w.ctx, jobTimeout)
	defer cancel()
	job(ctx)
}

// Submit queues job and reports whether it was taken; false when the queue
// is full or the workers are shutting down.
func (w *Workers) Submit(job func(context.Context)) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false
	}
	select {
	case w.jobs <- job:
		return true
	default:
		return false
	}
}

// Full reports whether the queue is full, so that a refusal costs nothing
// (no job built): it is only a hint, Submit still decides.
func (w *Workers) Full() bool { return cap(w.jobs) > 0 && len(w.jobs) == cap(w.jobs) }

// Busy is how many jobs are running.
func (w *Workers) Busy() int { return int(w.busy.Load()) }

// Queued is how many jobs wait for a worker.
func (w *Workers) Queued() int { return len(w.jobs) }

// Shutdown stops taking work and waits for the running and queued commands
// (they were acknowledged; their users wait for an answer). If ctx ends
// first, the commands' contexts are cancelled and ctx's error returned.
func (w *Workers) Shutdown(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.jobs)
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		w.cancel()
		return nil
	case <-ctx.Done():
		w.cancel()
		return fmt.Errorf("workers: %d commands still running: %w", w.Busy(), ctx.Err())
	}
}
