// Package snapshot serves reads of pools from a short-lived snapshot, so that
// a burst of commands, the watcher and the Home tab share one fetch from Azure
// DevOps instead of each making their own.
//
// Under concurrency a Cache promises:
//   - reads of the same thing (the pool list with the same details, one pool,
//     one pool's logs) made at once cost one fetch: the later callers wait for
//     the first one's answer (singleflight);
//   - an answer is served for at most MaxAge on the injected clock, and callers
//     that ask are told when it was read (ListAt, GetAt, LogsAt);
//   - a change made through the Cache (Update, SetImage, Create, ReimageNodes,
//     DeleteNodes) that succeeds forgets what it read of that pool and every
//     pool list: a read that starts after the change returns sees nothing
//     read before it;
//   - errors are never kept: the next read fetches again;
//   - a read whose context is marked Fresh fetches anew, on its own, and
//     its answer serves the reads after it; one marked NotBefore(t) is served
//     only an answer read at or after t, else it fetches anew the same way.
//
// Nodes and Queue are not cached: the watcher asks for them when it needs them
// fresh.
package snapshot

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

type freshKey struct{}

// Fresh marks ctx so that reads through a Cache with it fetch anew rather
// than from the snapshot or a fetch already under way: for a caller that
// must see what Azure DevOps has now (the Changer's Current).
func Fresh(ctx context.Context) context.Context { return context.WithValue(ctx, freshKey{}, true) }

func isFresh(ctx context.Context) bool { v, _ := ctx.Value(freshKey{}).(bool); return v }

type notBeforeKey struct{}

// NotBefore marks ctx so that a pool list through a Cache is served only
// from an answer whose read began at or after t, else fetched anew as Fresh
// does: for the Changer, which knows when a pool last changed and may take
// a read made since instead of making one.
func NotBefore(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, notBeforeKey{}, t)
}

func notBefore(ctx context.Context) time.Time {
	t, _ := ctx.Value(notBeforeKey{}).(time.Time)
	return t
}

// DefaultMaxAge is how long an answer is served when New is given none.
const DefaultMaxAge = 5 * time.Second

// fetchTimeout bounds a shared fetch, which runs on no one caller's
// cancellation: one caller giving up does not fail the others.
const fetchTimeout = 60 * time.Second

// Cache is a pool.Service that serves reads from a snapshot at most MaxAge
// old. It is safe for concurrent use.
type Cache struct {
	svc    pool.Service
	clock  clock.Clock
	maxAge time.Duration
	group  singleflight.Group
	part   func(context.Context) string

	mu      sync.Mutex
	gen     uint64 // bumped by every successful change
	lists   map[pool.ListOptions]entry[[]pool.Pool]
	pools   map[string]entry[pool.Pool]
	logs    map[logKey]entry[[]pool.LogEntry]
	fetches int // fetches made, for tests and metrics
}

type entry[T any] struct {
	v  T
	at time.Time
}

type logKey struct {
	name  string
	after uint64
}

var _ pool.Service = (*Cache)(nil)

// Option changes how New sets up a Cache.
type Option func(*Cache)

// WithPartition sorts reads into partitions by their context: reads in
// different partitions never share a fetch, though they share its answer
// once kept. A command in a hurry then never waits on a fetch that the
// scheduler is willing to wait out a throttle for.
func WithPartition(f func(context.Context) string) Option { return func(c *Cache) { c.part = f } }

// New returns a Cache over svc; maxAge ≤ 0 means DefaultMaxAge.
func New(svc pool.Service, clk clock.Clock, maxAge time.Duration, opts ...Option) *Cache {
	if clk == nil {
		clk = clock.Real{}
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	c := &Cache{svc: svc, clock: clk, maxAge: maxAge,
		lists: map[pool.ListOptions]entry[[]pool.Pool]{}, pools: map[string]entry[pool.Pool]{},
		logs: map[logKey]entry[[]pool.LogEntry]{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// MaxAge is the oldest answer the Cache serves.
func (c *Cache) MaxAge() time.Duration { return c.maxAge }

// Fetches is how many reads the Cache has passed to the service.
func (c *Cache) Fetches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}

func (c *Cache) fresh(at time.Time) bool { return c.clock.Now().Sub(at) < c.maxAge }

// covers reports whether a list read with have holds everything want asks for.
func covers(have, want pool.ListOptions) bool {
	return (have.Nodes || !want.Nodes) && (have.Queue || !want.Queue) && (have.ScaleSets || !want.ScaleSets) && (have.Images || !want.Images)
}

// List is ListAt without the time.
func (c *Cache) List(ctx context.Context, opts pool.ListOptions) ([]pool.Pool, error) {
	pools, _, err := c.ListAt(ctx, opts)
	return pools, err
}

// ListAt returns the pools as read at the returned time: from a fresh list
// read with at least opts' details, else from one fetch shared with every
// concurrent caller. The slice is the caller's; its pools' Nodes are shared
// and must not be changed.
func (c *Cache) ListAt(ctx context.Context, opts pool.ListOptions) ([]pool.Pool, time.Time, error) {
	nb := notBefore(ctx)
	c.mu.Lock()
	var best entry[[]pool.Pool]
	found := false
	for o, e := range c.lists {
		if !isFresh(ctx) && covers(o, opts) && c.fresh(e.at) && !e.at.Before(nb) && (!found || e.at.After(best.at)) {
			best, found = e, true
		}
	}
	gen := c.gen
	c.mu.Unlock()
	if found {
		return clone(best.v), best.at, nil
	}
	if !nb.IsZero() {
		// A fetch under way may have begun before nb: not joined.
		ctx = Fresh(ctx)
	}
	key := fmt.Sprintf("list/%d/%t/%t/%t/%t", gen, opts.Nodes, opts.Queue, opts.ScaleSets, opts.Images)
	e, err := share(ctx, c, key, gen, func() (entry[[]pool.Pool], bool) { e, ok := c.lists[opts]; return e, ok },
		func(ctx context.Context) ([]pool.Pool, error) { return c.svc.List(ctx, opts) },
		func(e entry[[]pool.Pool]) { c.lists[opts] = e })
	if err != nil {
		return nil, time.Time{}, err
	}
	return clone(e.v), e.at, nil
}

// Get is GetAt without the time.
func (c *Cache) Get(ctx context.Context, name string) (pool.Pool, error) {
	p, _, err := c.GetAt(ctx, name)
	return p, err
}

// GetAt returns one pool with its nodes, queue and scale set as read at the
// returned time. Its Nodes are shared and must not be changed.
func (c *Cache) GetAt(ctx context.Context, name string) (pool.Pool, time.Time, error) {
	k := strings.ToLower(name)
	c.mu.Lock()
	e, ok := c.pools[k]
	gen := c.gen
	c.mu.Unlock()
	if ok && c.fresh(e.at) && !isFresh(ctx) {
		return e.v, e.at, nil
	}
	e, err := share(ctx, c, fmt.Sprintf("get/%d/%s", gen, k), gen, func() (entry[pool.Pool], bool) { e, ok := c.pools[k]; return e, ok },
		func(ctx context.Context) (pool.Pool, error) { return c.svc.Get(ctx, name) },
		func(e entry[pool.Pool]) { c.pools[k] = e })
	if err != nil {
		return pool.Pool{}, time.Time{}, err
	}
	return e.v, e.at, nil
}

// Logs is LogsAt without the time.
func (c *Cache) Logs(ctx context.Context, name string, after uint64) ([]pool.LogEntry, error) {
	l, _, err := c.LogsAt(ctx, name, after)
	return l, err
}

// LogsAt returns the pool's Diagnostics entries after the given id as read at
// the returned time. The slice is shared and must not be changed.
func (c *Cache) LogsAt(ctx context.Context, name string, after uint64) ([]pool.LogEntry, time.Time, error) {
	k := logKey{strings.ToLower(name), after}
	c.mu.Lock()
	e, ok := c.logs[k]
	gen := c.gen
	c.mu.Unlock()
	if ok && c.fresh(e.at) && !isFresh(ctx) {
		return e.v, e.at, nil
	}
	e, err := share(ctx, c, fmt.Sprintf("logs/%d/%d/%s", gen, after, k.name), gen,
		func() (entry[[]pool.LogEntry], bool) { e, ok := c.logs[k]; return e, ok },
		func(ctx context.Context) ([]pool.LogEntry, error) { return c.svc.Logs(ctx, name, after) },
		func(e entry[[]pool.LogEntry]) { c.logs[k] = e })
	if err != nil {
		return nil, time.Time{}, err
	}
	return e.v, e.at, nil
}

// share runs fetch once for every concurrent caller with the same key, and
// keeps its answer with keep before the key is free again, so that a caller
// arriving just after finds it. A flight first looks again (lookup), for an
// answer kept between the caller's look and its joining. The fetch keeps the
// first caller's values (its urgency) but not its cancellation; each caller
// stops waiting when its own context ends.
func share[T any](ctx context.Context, c *Cache, key string, gen uint64, lookup func() (entry[T], bool),
	fetch func(context.Context) (T, error), keep func(entry[T])) (entry[T], error) {
	if isFresh(ctx) {
		c.mu.Lock()
		c.fetches++
		c.mu.Unlock()
		e := entry[T]{at: c.clock.Now()}
		var err error
		if e.v, err = fetch(ctx); err != nil {
			return entry[T]{}, err
		}
		c.keep(gen, func() { keep(e) })
		return e, nil
	}
	if c.part != nil {
		key = c.part(ctx) + "/" + key
	}
	ch := c.group.DoChan(key, func() (any, error) {
		c.mu.Lock()
		if e, ok := lookup(); ok && c.fresh(e.at) {
			c.mu.Unlock()
			return e, nil
		}
		c.fetches++
		c.mu.Unlock()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		at := c.clock.Now()
		v, err := fetch(fctx)
		e := entry[T]{v: v, at: at}
		if err == nil {
			c.keep(gen, func() { keep(e) })
		}
		return e, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return entry[T]{}, r.Err
		}
		return r.Val.(entry[T]), nil
	case <-ctx.Done():
		return entry[T]{}, ctx.Err()
	}
}

// keep stores a fetched answer unless a change happened since the fetch
// began: an answer that may predate a change is never served after it.
func (c *Cache) keep(gen uint64, store func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		store()
	}
}

// Invalidate forgets everything read of the named pool and every pool list;
// "" forgets everything. Reads that start after it returns fetch again.
func (c *Cache) Invalidate(name string) {
	k := strings.ToLower(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.lists)
	if k == "" {
		clear(c.pools)
		clear(c.logs)
		return
	}
	delete(c.pools, k)
	for lk := range c.logs {
		if lk.name == k {
			delete(c.logs, lk)
		}
	}
}

func clone(pools []pool.Pool) []pool.Pool { return append([]pool.Pool(nil), pools...) }

// Nodes passes through: the watcher reads nodes when it wants them fresh.
func (c *Cache) Nodes(ctx context.Context, name string) ([]pool.Node, error) {
	return c.svc.Nodes(ctx, name)
}

// Queue passes through, as Nodes.
func (c *Cache) Queue(ctx context.Context, name string) (int, error) {
	return c.svc.Queue(ctx, name)
}

// JobHistory passes through: each page is read once, by the watcher.
func (c *Cache) JobHistory(ctx context.Context, name string, q pool.JobQuery) (pool.JobPage, error) {
	return c.svc.JobHistory(ctx, name, q)
}

// Update changes the pool and, when it succeeds, forgets what was read of it.
func (c *Cache) Update(ctx context.Context, cur pool.Pool, s pool.Settings) (pool.Pool, error) {
	after, err := c.svc.Update(ctx, cur, s)
	c.changed(cur.Name, err)
	return after, err
}

// SetImage changes the pool's image and forgets what was read of it.
func (c *Cache) SetImage(ctx context.Context, name string, img pool.Image) (before, after pool.Image, err error) {
	before, after, err = c.svc.SetImage(ctx, name, img)
	c.changed(name, err)
	return before, after, err
}

// Create creates a pool and forgets every pool list.
func (c *Cache) Create(ctx context.Context, spec pool.CreateSpec) (pool.Pool, error) {
	p, err := c.svc.Create(ctx, spec)
	c.changed(spec.Name, err)
	return p, err
}

// ReimageNodes reimages nodes and forgets what was read of the pool.
func (c *Cache) ReimageNodes(ctx context.Context, name string, nodeIDs []int) error {
	err := c.svc.ReimageNodes(ctx, name, nodeIDs)
	c.changed(name, err)
	return err
}

// DeleteNodes deletes nodes and forgets what was read of the pool.
func (c *Cache) DeleteNodes(ctx context.Context, name string, nodeIDs []int) error {
	err := c.svc.DeleteNodes(ctx, name, nodeIDs)
	c.changed(name, err)
	return err
}

// changed forgets the pool after a change. A failed change may have half
// happened (a PATCH that timed out): it forgets too, except when Azure
// DevOps refused it before changing anything.
func (c *Cache) changed(name string, err error) {
	if err != nil {
		switch pool.KindOf(err) {
		case pool.KindInvalid, pool.KindBusy, pool.KindThrottled:
			return
		}
	}
	c.Invalidate(name)
}
