package app

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/leader"
	"github.com/poolbot/poolbot/metrics"
	"github.com/poolbot/poolbot/snapshot"
	"github.com/poolbot/poolbot/store"
)

// task is a long-running part: the scheduler, the watcher, the outbox
// sender, Socket Mode.
type task struct {
	name string
	run  func(ctx context.Context) error
	last bool // a leader task stopped only after the outbox is flushed
}

// parts are the assembled pieces the run loop needs.
type parts struct {
	built   []string // what was wired, for the start-up log
	missing []string // what was left out, and why

	always []task // on every replica
	leader []task // only while leading

	// elect runs lead while this replica holds the leader lock, until ctx
	// ends.
	elect func(ctx context.Context, lead func(context.Context)) error
	// shutdownWorkers waits for the commands in flight.
	shutdownWorkers func(ctx context.Context) error
	// flush sends every pending outbox message.
	flush func(ctx context.Context) error
	// recover settles the changes a dead process left, before the leader
	// work starts.
	recover func(ctx context.Context)
}

func (p *parts) names() string {
	s := append([]string(nil), p.built...)
	sort.Strings(s)
	return strings.Join(s, ",")
}

func (p *parts) leaderNames() string {
	var s []string
	for _, t := range p.leader {
		s = append(s, t.name)
	}
	return strings.Join(s, ",")
}

// build wires every part the configuration asks for.
func (a *App) build(ctx context.Context, o Options) error {
	if err := a.buildStore(ctx); err != nil {
		return err
	}
	if err := a.buildElection(); err != nil {
		return err
	}
	if err := a.buildService(ctx); err != nil {
		return err
	}
	if err := a.buildBot(ctx, o); err != nil {
		return err
	}
	for _, m := range a.parts.missing {
		a.log.Warn("part left out", "part", m)
	}
	return nil
}

func (a *App) buildStore(ctx context.Context) error {
	if a.store == nil {
		st, err := store.Open(ctx, StoreDatabase(a.cfg.Store), store.WithClock(a.clock))
		if err != nil {
			return err
		}
		a.store = st
		a.onClose(st.Close)
	}
	a.parts.built = append(a.parts.built, "store")
	a.metrics.AddCheck("store", a.checkStore)
	return nil
}

// checkStore is the "store" readiness check: a small write (which replica
// probed last, and when; one key for all, so that replica names that come
// and go leave nothing behind), so that a read-only, full, deleted or
// replaced store (store.Guarded refuses writes then) makes the replica
// unready. Its failures are logged at error when they start.
func (a *App) checkStore(ctx context.Context) error {
	if g, ok := a.store.(interface{ Check() error }); ok {
		if err := g.Check(); err != nil {
			return a.storeState(fmt.Errorf("store cannot be written: %w", err))
		}
	}
	err := a.store.Put(ctx, "readyz/probe", a.owner+" "+a.clock.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		err = fmt.Errorf("store cannot be written: %w", err)
	}
	return a.storeState(err)
}

// storeState records the store check's outcome, logging its changes.
func (a *App) storeState(err error) error {
	a.storeMu.Lock()
	was := a.storeErr
	a.storeErr = err
	a.storeMu.Unlock()
	switch {
	case err != nil && was == nil:
		a.log.Error("store: not ready", "err", err)
	case err == nil && was != nil:
		a.log.Info("store: ready again")
	}
	return err
}

func (a *App) buildService(ctx context.Context) error {
	if a.service == nil {
		// Retry-After and throttles are waited out on the app's clock (the
		// simulator's in the demo and under `serve --clock-start`).
		c, err := NewAzure(ctx, a.cfg, a.log.With("part", "azure"),
			func(o *azure.Options) { o.Clock = a.clock })
		if err != nil {
			return fmt.Errorf("azure: %w", err)
		}
		a.service = c
		a.azure = c
		a.metrics.TrackAPI(metrics.DevOps, func() metrics.APIStats { return apiStats(c.Stats().DevOps) })
		a.metrics.TrackAPI(metrics.ARM, func() metrics.APIStats { return apiStats(c.Stats().ResourceManager) })
	}
	if err := a.buildManaged(); err != nil {
		return err
	}
	obs := observe(a.service, a.metrics)
	// Every reader and the Changer share one snapshot: a burst of commands
	// costs one read per freshness window, and a change through poolbot
	// (the Changer writes through it) reads the pool again.
	// A command (Interactive) never joins a fetch the scheduler or the
	// watcher waits out a throttle for.
	a.service = snapshot.New(obs, a.clock, a.cfg.DevOps.SnapshotMaxAge.Duration,
		snapshot.WithPartition(func(ctx context.Context) string { return strconv.Itoa(int(azure.UrgencyOf(ctx))) }))
	maxAge := a.cfg.Alerts.Interval.Duration
	if maxAge < 30*time.Second {
		maxAge = 30 * time.Second
	}
	a.parts.always = append(a.parts.always, task{name: "devops-probe", run: func(ctx context.Context) error { return obs.keepPolled(ctx, maxAge) }})
	a.parts.built = append(a.parts.built, "azure")
	return nil
}

func apiStats(s azure.ServiceStats) metrics.APIStats {
	return metrics.APIStats{Calls: s.Calls, Errors: s.Errors, Throttled: s.Throttled + s.Slowed, Retries: s.Retries}
}

// buildElection picks the leader election: a PostgreSQL advisory lock
// shared by the replicas, or, on SQLite, the one process always leads.
func (a *App) buildElection() error {
	if a.cfg.Store.Driver != "postgres" {
		a.parts.elect = leader.NewSingle().Run
		return nil
	}
	e, err := leader.New(a.cfg.Store.DSN.Value(), leader.DefaultKey, a.owner, leader.Options{
		Logger: a.log.With("part", "leader"),
	})
	if err != nil {
		return err
	}
	a.parts.elect = e.Run
	a.part("leader-election")
	return nil
}
