package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/poolbot/poolbot/metrics"
	"github.com/poolbot/poolbot/pool"
)

// observed is the pool service as the rest of the bot sees it: every pool
// list and node list it returns feeds /metrics, and every list call's
// outcome is the Azure DevOps readiness check.
type observed struct {
	pool.Service
	m *metrics.Metrics

	mu   sync.Mutex
	last time.Time // of the last answer from Azure DevOps, wall clock
}

func observe(svc pool.Service, m *metrics.Metrics) *observed {
	m.Expect("devops")
	return &observed{Service: svc, m: m}
}

func (o *observed) answered(err error) {
	switch pool.KindOf(err) {
	case pool.KindNotFound, pool.KindThrottled:
		// An answer all the same: Azure DevOps is there and knows poolbot.
		// A throttle is every replica's (it is per identity): taking them
		// all out of the Service would leave commands unanswered instead of
		// told when it ends.
		err = nil
	}
	if err != nil {
		o.m.SetCheck("devops", fmt.Errorf("Azure DevOps did not answer the last poll: %w", err))
		return
	}
	o.mu.Lock()
	o.last = time.Now()
	o.mu.Unlock()
	o.m.SetCheck("devops", nil)
}

func (o *observed) List(ctx context.Context, opts pool.ListOptions) ([]pool.Pool, error) {
	pools, err := o.Service.List(ctx, opts)
	o.answered(err)
	if err == nil {
		o.m.SetPools(pools)
	}
	return pools, err
}

func (o *observed) Get(ctx context.Context, name string) (pool.Pool, error) {
	p, err := o.Service.Get(ctx, name)
	o.answered(err)
	if err == nil && p.Nodes != nil {
		o.m.SetNodes(name, p.Nodes)
	}
	return p, err
}

func (o *observed) Nodes(ctx context.Context, name string) ([]pool.Node, error) {
	nodes, err := o.Service.Nodes(ctx, name)
	o.answered(err)
	if err == nil {
		o.m.SetNodes(name, nodes)
	}
	return nodes, err
}

// poll lists the pools when nothing did for maxAge, so that a replica that
// is not leading (no watcher polling) still knows whether Azure DevOps
// answers. It is cheap: one call, no nodes.
func (o *observed) poll(ctx context.Context, maxAge time.Duration) {
	o.mu.Lock()
	fresh := time.Since(o.last) < maxAge
	o.mu.Unlock()
	if fresh {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	o.List(ctx, pool.ListOptions{})
}

// keepPolled runs poll every maxAge until ctx ends.
func (o *observed) keepPolled(ctx context.Context, maxAge time.Duration) error {
	for {
		o.poll(ctx, maxAge)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(maxAge / 2):
		}
	}
}
