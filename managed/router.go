package managed

import (
	"context"
	"errors"
	"strings"

	"github.com/poolbot/poolbot/pool"
)

// Router is pool.Service over both kinds of pool: the managed pools of
// Managed, and every other name on Elastic. List shows both kinds; every
// other call goes to the kind that holds the pool, so commands, schedules,
// alerts and cost work on either. Safe for concurrent use when both are.
type Router struct {
	Elastic pool.Service
	Managed *Client
}

var _ pool.Service = (*Router)(nil)

// NewRouter returns a Router over elastic and managed pools.
func NewRouter(elastic pool.Service, managed *Client) *Router {
	return &Router{Elastic: elastic, Managed: managed}
}

func (r *Router) pick(ctx context.Context, name string) pool.Service {
	if r.Managed != nil && r.Managed.Has(ctx, name) {
		return r.Managed
	}
	return r.Elastic
}

// List returns the elastic pools, then the managed ones. A name both kinds
// hold is shown once, as the managed pool that commands reach.
func (r *Router) List(ctx context.Context, opts pool.ListOptions) ([]pool.Pool, error) {
	el, err := r.Elastic.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	if r.Managed == nil {
		return el, nil
	}
	mp, err := r.Managed.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	if opts.Queue {
		for i := range mp {
			if q, err := r.Elastic.Queue(ctx, mp[i].Name); err == nil {
				mp[i].Queue = q
			}
		}
	}
	managed := map[string]bool{}
	for _, p := range mp {
		managed[strings.ToLower(p.Name)] = true
	}
	out := make([]pool.Pool, 0, len(el)+len(mp))
	for _, p := range el {
		if !managed[strings.ToLower(p.Name)] {
			out = append(out, p)
		}
	}
	return append(out, mp...), nil
}

func (r *Router) Get(ctx context.Context, name string) (pool.Pool, error) {
	svc := r.pick(ctx, name)
	p, err := svc.Get(ctx, name)
	if err == nil && svc == pool.Service(r.Managed) {
		if q, qerr := r.Elastic.Queue(ctx, name); qerr == nil {
			p.Queue = q
		}
	}
	return p, err
}

func (r *Router) Nodes(ctx context.Context, name string) ([]pool.Node, error) {
	return r.pick(ctx, name).Nodes(ctx, name)
}

// Queue reads the jobs waiting from Azure DevOps for either kind: a managed
// pool is an Azure DevOps agent pool of the same name.
func (r *Router) Queue(ctx context.Context, name string) (int, error) {
	q, err := r.Elastic.Queue(ctx, name)
	if err != nil && pool.KindOf(err) == pool.KindNotFound && r.Managed != nil && r.Managed.Has(ctx, name) {
		var pe *pool.Error
		if errors.As(err, &pe) {
			pe.Msg = "the managed pool has no agent pool of that name in Azure DevOps, so its queue cannot be read"
		}
	}
	return q, err
}

func (r *Router) Logs(ctx context.Context, name string, after uint64) ([]pool.LogEntry, error) {
	return r.pick(ctx, name).Logs(ctx, name, after)
}

// Update goes by what cur was read as: a managed pool, an elastic pool
// (with its Azure DevOps id), or, for a pool known only by name, as pick.
func (r *Router) Update(ctx context.Context, cur pool.Pool, s pool.Settings) (pool.Pool, error) {
	switch {
	case cur.Kind == KindManaged && r.Managed != nil:
		return r.Managed.Update(ctx, cur, s)
	case cur.Kind == "" && cur.ID != 0:
		return r.Elastic.Update(ctx, cur, s)
	}
	return r.pick(ctx, cur.Name).Update(ctx, cur, s)
}

func (r *Router) SetImage(ctx context.Context, name string, img pool.Image) (pool.Image, pool.Image, error) {
	return r.pick(ctx, name).SetImage(ctx, name, img)
}

// Create makes elastic pools; managed pools are made by `poolbot migrate plan --apply`.
func (r *Router) Create(ctx context.Context, spec pool.CreateSpec) (pool.Pool, error) {
	return r.Elastic.Create(ctx, spec)
}

func (r *Router) ReimageNodes(ctx context.Context, name string, nodeIDs []int) error {
	return r.pick(ctx, name).ReimageNodes(ctx, name, nodeIDs)
}

func (r *Router) DeleteNodes(ctx context.Context, name string, nodeIDs []int) error {
	return r.pick(ctx, name).DeleteNodes(ctx, name, nodeIDs)
}

// JobHistory is read from Azure DevOps for both kinds: a managed pool is
// also an agent pool there.
func (r *Router) JobHistory(ctx context.Context, name string, q pool.JobQuery) (pool.JobPage, error) {
	return r.Elastic.JobHistory(ctx, name, q)
}
