// Package app assembles poolbot from its configuration: the store, the
// Azure DevOps and Azure client, the changer, the commands handler, Slack
// (HTTP or Socket Mode), the outbox sender, the scheduler, the watcher, the
// cost tracker and the metrics. Every replica serves Slack; the leader work
// (scheduler, watcher, outbox sender) runs only while this replica holds the
// leader lock.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/metrics"
	"github.com/poolbot/poolbot/pool"
)

// Options are what New needs beside the configuration. Only Config is
// required.
type Options struct {
	Config  *config.Config
	Logger  *slog.Logger
	Clock   clock.Clock      // default the wall clock; the demo passes the simulator
	Metrics *metrics.Metrics // default a new registry

	// Owner names this replica in logs, leases and the store's claims;
	// default [server] replica_id, $POD_NAME, an id kept beside the SQLite
	// store, or the host name: stable across restarts.
	Owner string

	// Listener serves Slack's HTTP endpoints, /metrics, /healthz and
	// /readyz. Nil: listen on Config.Server.Listen, unless NoListen.
	Listener net.Listener
	NoListen bool
	// MetricsListener, when set, serves /metrics, /healthz and /readyz,
	// and Listener only /slack/*. Nil: listen on
	// Config.Server.MetricsListen when that is set, unless NoListen.
	MetricsListener net.Listener

	// EveryoneAdmin grants every Slack user the admin role (the demo).
	EveryoneAdmin bool

	// HTTPClient is used for Azure DevOps, Azure and Slack calls; default
	// a client with sane timeouts.
	HTTPClient *http.Client

	// Store and Service replace the ones the configuration would open,
	// for tests.
	Store   pool.Store
	Service pool.Service
}

// App is poolbot assembled.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	clock   clock.Clock
	metrics *metrics.Metrics
	owner   string
	http    *http.Client

	store   pool.Store
	service pool.Service
	azure   *azure.Client // the service when it is Azure's, for Cost Management

	listener net.Listener
	mux      *http.ServeMux
	// The monitoring endpoints' own listener, when they have one.
	metricsListener net.Listener
	metricsMux      *http.ServeMux

	// parts is filled by the wiring of each part (see parts.go).
	parts parts
	w     wired

	closers []func() error

	recovered atomic.Int64 // interrupted changes still held by another replica at the last recovery

	stopping chan struct{} // closed when shutdown starts
	drained  chan struct{} // closed when commands in flight are done
	leadSem  chan struct{} // held while lead runs
	stopOnce sync.Once

	storeMu  sync.Mutex
	storeErr error // the store check's last failure, to log its start once
}

// New builds poolbot from o.Config. Close releases what it opened if Run is
// never called.
func New(ctx context.Context, o Options) (_ *App, err error) {
	if o.Config == nil {
		return nil, errors.New("no configuration")
	}
	a := &App{
		cfg:      o.Config,
		log:      o.Logger,
		clock:    o.Clock,
		metrics:  o.Metrics,
		owner:    o.Owner,
		http:     o.HTTPClient,
		store:    o.Store,
		service:  o.Service,
		listener: o.Listener,
		mux:      http.NewServeMux(),
		stopping: make(chan struct{}),
		drained:  make(chan struct{}),
		leadSem:  make(chan struct{}, 1),
	}
	a.metricsListener = o.MetricsListener
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.clock == nil {
		a.clock = clock.Real{}
	}
	if a.metrics == nil {
		a.metrics = metrics.New()
	}
	if a.owner == "" {
		id, err := replicaID(a.cfg)
		if err != nil {
			return nil, err
		}
		a.owner = id
	}
	if a.http == nil {
		a.http = &http.Client{Timeout: 60 * time.Second}
	}
	a.log = a.log.With("replica", a.owner)
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	if err := a.build(ctx, o); err != nil {
		return nil, err
	}
	// /metrics and /readyz name pools, costs and internal errors: with a
	// listener of their own, the one exposed to Slack serves only /slack/*.
	if a.metricsListener != nil || a.cfg.Server.MetricsListen != "" {
		a.metricsMux = http.NewServeMux()
		a.metrics.Register(a.metricsMux)
	} else {
		a.metrics.Register(a.mux)
	}

	if a.listener == nil && !o.NoListen {
		l, err := net.Listen("tcp", a.cfg.Server.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", a.cfg.Server.Listen, err)
		}
		a.listener = l
		a.onClose(ignoreClosed(l))
	}
	if a.metricsMux != nil && a.metricsListener == nil && !o.NoListen {
		l, err := net.Listen("tcp", a.cfg.Server.MetricsListen)
		if err != nil {
			return nil, fmt.Errorf("listen on %s (server.metrics_listen): %w", a.cfg.Server.MetricsListen, err)
		}
		a.metricsListener = l
		a.onClose(ignoreClosed(l))
	}
	return a, nil
}

// ignoreClosed closes l, which Run's server may have closed already.
func ignoreClosed(l net.Listener) func() error {
	return func() error {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
}

// Metrics is the app's registry.
func (a *App) Metrics() *metrics.Metrics { return a.metrics }

// Store is the app's store.
func (a *App) Store() pool.Store { return a.store }

// Addr is where the HTTP endpoints listen; nil when they do not.
func (a *App) Addr() net.Addr {
	if a.listener == nil {
		return nil
	}
	return a.listener.Addr()
}

// MetricsAddr is where /metrics, /healthz and /readyz listen when they
// have a listener of their own; nil otherwise.
func (a *App) MetricsAddr() net.Addr {
	if a.metricsListener == nil {
		return nil
	}
	return a.metricsListener.Addr()
}

// HTTPHandler is the app's HTTP handler: Slack's endpoints, and the
// metrics unless they have a listener of their own.
func (a *App) HTTPHandler() http.Handler { return a.mux }

// Run serves until ctx ends, then shuts down gracefully: stop taking
// commands, finish those in flight (bounded by server.shutdown_timeout),
// flush the outbox and release the leader lock.
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

	var srv, metricsSrv *http.Server
	serveErr := make(chan error, 2)
	if a.listener != nil {
		srv = newServer(a.cfg.Server, a.mux)
		a.log.Info("listening", "addr", a.listener.Addr().String(), "metrics", a.metricsListener == nil)
		go func() { serveErr <- srv.Serve(a.listener) }()
	}
	if a.metricsListener != nil {
		metricsSrv = newServer(a.cfg.Server, a.metricsMux)
		a.log.Info("listening for monitoring", "addr", a.metricsListener.Addr().String())
		go func() { serveErr <- metricsSrv.Serve(a.metricsListener) }()
	}

	// The other background work: Socket Mode, readiness probes.
	bgCtx, bgCancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	for _, t := range a.parts.always {
		bg.Add(1)
		go func() {
			defer bg.Done()
			a.runTask(bgCtx, t)
		}()
	}

	// Leader election outlives ctx: the leader keeps its lock until the
	// outbox is flushed, so no other replica sends the same messages.
	electCtx, electCancel := context.WithCancel(context.Background())
	electDone := make(chan error, 1)
	go func() { electDone <- a.parts.elect(electCtx, a.lead) }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("serve http: %w", err)
		}
	case err := <-electDone:
		electDone <- err
		if err != nil && ctx.Err() == nil {
			runErr = fmt.Errorf("leader election: %w", err)
		}
	}

	timeout := a.cfg.Server.ShutdownTimeout.Duration
	if timeout <= 0 {
		timeout = config.DefaultShutdownTimeout
	}
	a.log.Info("shutting down", "timeout", timeout.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	a.stopOnce.Do(func() { close(a.stopping) })
	a.metrics.SetCheck("shutdown", errors.New("shutting down"))

	// Stop taking commands: no new HTTP requests, no new Socket Mode
	// envelopes; then let the commands already acknowledged finish.
	if srv != nil {
		if err := srv.Shutdown(shutCtx); err != nil {
			a.log.Warn("http shutdown", "err", err)
		}
	}
	// Monitoring answers until the commands are drained: /readyz then
	// says "shutting down".
	defer func() {
		if metricsSrv != nil {
			_ = metricsSrv.Close()
		}
	}()
	bgCancel()
	if a.parts.shutdownWorkers != nil {
		if err := a.parts.shutdownWorkers(shutCtx); err != nil {
			a.log.Warn("commands still running at shutdown", "err", err)
		}
	}
	close(a.drained)
	bg.Wait()

	// The leader flushes its outbox before lead returns; then the lock is
	// released. Holding leadSem means no lead runs; any later one returns
	// at once, since stopping is closed.
	select {
	case a.leadSem <- struct{}{}:
	case <-shutCtx.Done():
		a.log.Warn("leader work did not stop in time")
	}
	electCancel()
	select {
	case <-electDone:
	case <-time.After(5 * time.Second):
		a.log.Warn("leader lock not released in time")
	}
	select {
	case <-a.leadSem:
	default:
	}
	if err := a.Close(); err != nil {
		a.log.Warn("close", "err", err)
	}
	a.log.Info("poolbot stopped")
	return runErr
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
		ctx, cancel := context.WithTimeout(lctx, a.flushTimeout())
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

func (a *App) flushTimeout() time.Duration {
	d := a.cfg.Server.ShutdownTimeout.Duration
	if d <= 0 {
		d = config.DefaultShutdownTimeout
	}
	return d
}

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

// Close releases what New opened. Run calls it.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}

func (a *App) onClose(f func() error) { a.closers = append(a.closers, f) }
