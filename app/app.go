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
