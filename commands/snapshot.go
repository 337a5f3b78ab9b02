package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// snapshotReader is a Service that may serve reads from a snapshot and says
// when it was read (snapshot.Cache). Its reads are safe for concurrent use.
type snapshotReader interface {
	ListAt(ctx context.Context, opts pool.ListOptions) ([]pool.Pool, time.Time, error)
	GetAt(ctx context.Context, name string) (pool.Pool, time.Time, error)
}

// listPools lists the pools and says when they were read: now, unless the
// Service serves a snapshot.
func (c *call) listPools(ctx context.Context, opts pool.ListOptions) ([]pool.Pool, time.Time, error) {
	if r, ok := c.h.o.Service.(snapshotReader); ok {
		return r.ListAt(ctx, opts)
	}
	pools, err := c.h.o.Service.List(ctx, opts)
	return pools, c.now(), err
}

// getPool reads one pool and says when it was read, as listPools.
func (c *call) getPool(ctx context.Context, name string) (pool.Pool, time.Time, error) {
	if r, ok := c.h.o.Service.(snapshotReader); ok {
		return r.GetAt(ctx, name)
	}
	p, err := c.h.o.Service.Get(ctx, name)
	return p, c.now(), err
}

// asOf says how old a snapshot read at `at` is: "" under a second, else
// " · as of 3 s ago", so that a reader knows the figures may have moved.
func (c *call) asOf(at time.Time) string {
	age := c.now().Sub(at)
	if at.IsZero() || age < time.Second {
		return ""
	}
	if age < time.Minute {
		return fmt.Sprintf(" · as of %d s ago", int(age/time.Second))
	}
	return " · as of " + fmtDuration(age) + " ago"
}
