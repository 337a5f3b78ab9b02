package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/oklog/run"

	"github.com/poolbot/poolbot/config"
)

// Run serves until ctx ends, then shuts down gracefully: stop taking
// commands, finish those in flight (bounded by server.shutdown_timeout),
// flush the outbox and release the leader lock.
//
// Each long-running part is an actor of a run group, as Prometheus runs
// its own: the first to return (ctx's end, a listener that fails, leader
// election that gives up) interrupts them all, one after the other in the
// order they were added, which is the order of shutdown; Run returns once
// every actor has, with the first one's error.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("poolbot starting", "store", a.cfg.Store.Driver, "slack_mode", a.cfg.Slack.Mode,
		"organization", a.cfg.DevOps.OrganizationURL, "parts", a.parts.names())
	// The leases this replica's previous process died holding are taken
	// back before the first command, so that no pool waits for them to
	// lapse.
	if a.w.changer != nil {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := a.w.changer.ReclaimLeases(rctx); err != nil {
			a.log.Warn("leases of the previous process not reclaimed; they lapse by themselves", "err", err)
		}
		cancel()
	}

	// sd is the shutdown's deadline, set by the first interrupt; the
	// interrupts run one at a time, on Run's goroutine, so the later ones
	// read it without a lock.
	sd := &shutdown{ctx: context.Background(), cancel: func() {}}
	defer func() { sd.cancel() }()

	var g run.Group
	// ctx's end starts the shutdown; whatever ends the group, this
	// interrupt comes first.
	stop, stopped := context.WithCancel(ctx)
	g.Add(func() error {
		<-stop.Done()
		return nil
	}, func(error) {
		stopped()
		a.beginShutdown(sd)
	})

	// Stop taking commands over HTTP: no new requests, and those in
	// progress (acknowledgements) finish.
	if a.listener != nil {
		a.log.Info("listening", "addr", a.listener.Addr().String(), "metrics", a.metricsListener == nil)
		a.addServer(&g, a.listener, a.mux, func(srv *http.Server) {
			if err := srv.Shutdown(sd.ctx); err != nil {
				a.log.Warn("http shutdown", "err", err)
			}
		})
	}

	// The other background work (Socket Mode, readiness probes) stops
	// next: no new Socket Mode envelopes.
	for _, t := range a.parts.always {
		a.addTask(&g, t)
	}

	// The commands already acknowledged finish; then the leader may flush
	// what they queued.
	g.Add(func() error {
		<-a.drained
		return nil
	}, func(error) {
		if a.parts.shutdownWorkers != nil {
			if err := a.parts.shutdownWorkers(sd.ctx); err != nil {
				a.log.Warn("commands still running at shutdown", "err", err)
			}
		}
		close(a.drained)
	})

	// Leader election outlives ctx: the leader keeps its lock until the
	// outbox is flushed, so no other replica sends the same messages.
	a.addElection(ctx, &g, sd)

	// Monitoring answers until the commands are drained and the lock is
	// released: /readyz says "shutting down" meanwhile.
	if a.metricsListener != nil {
		a.log.Info("listening for monitoring", "addr", a.metricsListener.Addr().String())
		a.addServer(&g, a.metricsListener, a.metricsMux, func(srv *http.Server) { _ = srv.Close() })
	}

	err := g.Run()
	if err := a.Close(); err != nil {
		a.log.Warn("close", "err", err)
	}
	a.log.Info("poolbot stopped")
	return err
}

// shutdown bounds the shutdown by server.shutdown_timeout from its start.
type shutdown struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// beginShutdown starts the clock of the shutdown and says it is under
// way: to the log, to /readyz, and to lead and the commands handler
// through a.stopping.
func (a *App) beginShutdown(sd *shutdown) {
	timeout := a.shutdownTimeout()
	a.log.Info("shutting down", "timeout", timeout.String())
	sd.ctx, sd.cancel = context.WithTimeout(context.Background(), timeout)
	a.stopOnce.Do(func() { close(a.stopping) })
	a.metrics.SetCheck("shutdown", errors.New("shutting down"))
}

// addServer adds an HTTP server on l as an actor; stop is its interrupt.
func (a *App) addServer(g *run.Group, l net.Listener, h http.Handler, stop func(*http.Server)) {
	srv := newServer(a.cfg.Server, h)
	g.Add(func() error {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	}, func(error) { stop(srv) })
}

// addTask adds a part that runs on every replica as an actor, stopped by
// cancelling its context.
func (a *App) addTask(g *run.Group, t task) {
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(func() error {
		a.runTask(ctx, t)
		return nil
	}, func(error) { cancel() })
}

// addElection adds leader election as an actor. Its interrupt waits for
// the leader work (lead flushes the outbox before it returns), then gives
// the lock up; an election that does not return within 5 s after that is
// left behind rather than hold the shutdown.
func (a *App) addElection(ctx context.Context, g *run.Group, sd *shutdown) {
	electCtx, electCancel := context.WithCancel(context.Background())
	var electErr error
	exited := make(chan struct{})
	abandoned := make(chan struct{})
	g.Add(func() error {
		go func() {
			electErr = a.parts.elect(electCtx, a.lead)
			close(exited)
		}()
		select {
		case <-exited:
			if electErr != nil && ctx.Err() == nil {
				return fmt.Errorf("leader election: %w", electErr)
			}
			return nil
		case <-abandoned:
			return nil
		}
	}, func(error) {
		// Holding leadSem means no lead runs; any later one returns at
		// once, since stopping is closed.
		select {
		case a.leadSem <- struct{}{}:
		case <-sd.ctx.Done():
			a.log.Warn("leader work did not stop in time")
		}
		electCancel()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			a.log.Warn("leader lock not released in time")
			close(abandoned)
		}
		select {
		case <-a.leadSem:
		default:
		}
	})
}

// lead runs the leader work until leadership is lost or the app stops; on
// a stop it waits for the commands in flight and flushes the outbox before
// returning, so the lock is released only then.
func (a *App) lead(lctx context.Context) {
	a.leadSem <- struct{}{}
	defer func() { <-a.leadSem }()
	select {
	case <-a.stopping:
		return
	default:
	}
	a.log.Info("leader: this replica leads", "work", a.parts.leaderNames())
	a.metrics.SetLeader(true)
	defer a.metrics.SetLeader(false)
	// What a dead process left half done is settled before the scheduler
	// looks at the pools.
	if a.parts.recover != nil {
		a.parts.recover(lctx)
	}

	// At a stop, the scheduler and the watcher stop at once; the outbox
	// sender keeps running until the commands in flight are done and the
	// outbox is flushed, so that no send is cut between its post and its
	// record.
	work, cancel := context.WithCancel(lctx)
	defer cancel()
	last, cancelLast := context.WithCancel(lctx)
	defer cancelLast()
	go func() {
		select {
		case <-a.stopping:
			cancel()
		case <-work.Done():
		}
	}()
	var wg, wgLast sync.WaitGroup
	for _, t := range a.parts.leader {
		ctx, g := work, &wg
		if t.last {
			ctx, g = last, &wgLast
		}
		g.Add(1)
		go func() {
			defer g.Done()
			a.runTask(ctx, t)
		}()
	}
	wg.Wait()
	if lctx.Err() != nil {
		cancelLast()
		wgLast.Wait()
		a.log.Warn("leader: leadership lost, leader work stopped")
		return
	}
	// Stopping while leading: the commands in flight may still enqueue
	// messages; send them all before giving the lock up.
	<-a.drained
	if a.parts.flush != nil {
		ctx, cancel := context.WithTimeout(lctx, a.shutdownTimeout())
		defer cancel()
		if err := a.parts.flush(ctx); err != nil {
			a.log.Warn("outbox not flushed", "err", err)
		} else {
			a.log.Info("outbox flushed")
		}
	}
	cancelLast()
	wgLast.Wait()
	a.log.Info("leader: releasing the lock")
}

// shutdownTimeout bounds the shutdown, and the leader's last flush.
func (a *App) shutdownTimeout() time.Duration {
	d := a.cfg.Server.ShutdownTimeout.Duration
	if d <= 0 {
		d = config.DefaultShutdownTimeout
	}
	return d
}

// runTask runs t until ctx ends, restarting it when it returns before.
func (a *App) runTask(ctx context.Context, t task) {
	for {
		err := t.run(ctx)
		if ctx.Err() != nil {
			return
		}
		// A part that returns on its own failed; run it again shortly
		// rather than leave the replica half working.
		a.log.Error("stopped unexpectedly, restarting", "part", t.name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
