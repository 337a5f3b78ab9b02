package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/elastic"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"
	"golang.org/x/sync/errgroup"

	"github.com/poolbot/poolbot/pool"
)

// jobRequestsLocation is the route of an agent pool's job requests; the v7
// taskagent package has no method for it.
var jobRequestsLocation = uuid.MustParse("fc825784-c92a-4299-9221-998a02d1b54f")

const apiVersion = "7.1-preview.1"

// List returns the elastic pools: one call for the list (and one for the
// agent pool names when they are not cached), then per pool at most one call
// each for nodes, queue and scale set as opts asks, Concurrency at a time.
func (c *Client) List(ctx context.Context, opts pool.ListOptions) ([]pool.Pool, error) {
	t := target{op: "list pools"}
	eps, err := c.elastic.GetElasticPools(ctx, elastic.GetElasticPoolsArgs{})
	if err == nil {
		pools := make([]pool.Pool, 0, len(*eps))
		for _, ep := range *eps {
			pools = append(pools, fromElastic(ep))
		}
		if err = c.nameAll(ctx, pools); err == nil {
			sort.Slice(pools, func(i, j int) bool { return pools[i].Name < pools[j].Name })
			c.rememberList(pools)
			return c.listDetails(ctx, pools, opts)
		}
	}
	err = translate(t, err)
	if pools, ok := c.listDuringThrottle(ctx, opts, err); ok {
		return pools, nil
	}
	return nil, err
}

// staleList bounds the age of the pool list a throttled command may use.
const staleList = 15 * time.Minute

// rememberList keeps the last pool list, without nodes, queue or scale set.
func (c *Client) rememberList(pools []pool.Pool) {
	c.namesMu.Lock()
	defer c.namesMu.Unlock()
	c.lastList, c.lastListAt = append([]pool.Pool(nil), pools...), c.clock.Now()
}

// listDuringThrottle answers a person's command asking only for the pool
// list (to resolve a name or a glob: `history linux-ci` needs nothing else
// from Azure DevOps) with the last list seen when Azure DevOps throttles
// poolbot, so that such a command does not wait for the throttle or fail.
// The pools' settings may be stale: a change reads them afresh.
func (c *Client) listDuringThrottle(ctx context.Context, opts pool.ListOptions, err error) ([]pool.Pool, bool) {
	if opts.Nodes || opts.Queue || opts.ScaleSets || opts.Images || UrgencyOf(ctx) != Interactive || pool.KindOf(err) != pool.KindThrottled {
		return nil, false
	}
	c.namesMu.Lock()
	defer c.namesMu.Unlock()
	if c.lastList == nil || c.clock.Now().Sub(c.lastListAt) > staleList {
		return nil, false
	}
	c.log.DebugContext(ctx, "Azure DevOps throttles poolbot: the pool list comes from its last answer", "age", c.clock.Now().Sub(c.lastListAt))
	return append([]pool.Pool(nil), c.lastList...), true
}

// listDetails fills in what opts asks for beyond the list.
func (c *Client) listDetails(ctx context.Context, pools []pool.Pool, opts pool.ListOptions) ([]pool.Pool, error) {
	if !opts.Nodes && !opts.Queue && !opts.ScaleSets && !opts.Images {
		return pools, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	for i := range pools {
		p := &pools[i]
		if opts.Nodes {
			g.Go(func() error {
				nodes, err := c.nodes(gctx, p.ID)
				if err != nil {
					return translate(target{op: "list nodes", pool: p.Name}, err)
				}
				if opts.Images && p.ScaleSetID != "" {
					// Detail, as in Get: the list reads without it.
					if imgs, err := c.instanceImages(gctx, p.ScaleSetID); err == nil {
						withNodeDetails(nodes, imgs, nil)
					}
				}
				p.Nodes, p.Counts = nodes, pool.Count(nodes)
				return nil
			})
		}
		if opts.Queue {
			g.Go(func() error {
				q, err := c.queue(gctx, p.ID)
				if err != nil {
					return translate(target{op: "read queue", pool: p.Name}, err)
				}
				p.Queue = q
				return nil
			})
		}
		if opts.ScaleSets && p.ScaleSetID != "" {
			g.Go(func() error {
				ss, err := c.scaleSet(gctx, p.ScaleSetID)
				if err != nil {
					return translate(target{op: "read scale set", pool: p.Name, scaleSet: lastSegment(p.ScaleSetID)}, err)
				}
				p.ScaleSet = ss
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return pools, nil
}

// Get returns one pool with its nodes, queue and scale set.
func (c *Client) Get(ctx context.Context, name string) (pool.Pool, error) {
	t := target{op: "get pool", pool: name}
	p, err := c.pool(ctx, name)
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		nodes, err := c.nodes(gctx, p.ID)
		if err != nil {
			return translate(target{op: "list nodes", pool: name}, err)
		}
		p.Nodes, p.Counts = nodes, pool.Count(nodes)
		return nil
	})
	g.Go(func() error {
		q, err := c.queue(gctx, p.ID)
		if err != nil {
			return translate(target{op: "read queue", pool: name}, err)
		}
		p.Queue = q
		return nil
	})
	if p.ScaleSetID != "" {
		g.Go(func() error {
			ss, err := c.scaleSet(gctx, p.ScaleSetID)
			if err != nil {
				return translate(target{op: "read scale set", pool: name, scaleSet: lastSegment(p.ScaleSetID)}, err)
			}
			p.ScaleSet = ss
			return nil
		})
	}
	var images map[string]pool.Image
	if p.ScaleSetID != "" {
		g.Go(func() error {
			// Each node's image is detail: the pool reads without it.
			imgs, err := c.instanceImages(gctx, p.ScaleSetID)
			if err != nil {
				c.log.Debug("read the scale set's instances", "pool", name, "err", err)
				return nil
			}
			images = imgs
			return nil
		})
	}
	var versions map[int]string
	g.Go(func() error {
		// So is each agent's version.
		vs, err := c.agentVersions(gctx, p.ID)
		if err != nil {
			c.log.Debug("read the pool's agents", "pool", name, "err", err)
			return nil
		}
		versions = vs
		return nil
	})
	if err := g.Wait(); err != nil {
		return pool.Pool{}, err
	}
	withNodeDetails(p.Nodes, images, versions)
	return p, nil
}

// Nodes returns the pool's nodes.
func (c *Client) Nodes(ctx context.Context, name string) ([]pool.Node, error) {
	t := target{op: "list nodes", pool: name}
	id, err := c.poolID(ctx, name)
	if err != nil {
		return nil, translate(t, err)
	}
	nodes, err := c.nodes(ctx, id)
	return nodes, translate(t, err)
}

// Queue returns the number of the pool's job requests not yet assigned to an
// agent.
func (c *Client) Queue(ctx context.Context, name string) (int, error) {
	t := target{op: "read queue", pool: name}
	id, err := c.poolID(ctx, name)
	if err != nil {
		return 0, translate(t, err)
	}
	q, err := c.queue(ctx, id)
	return q, translate(t, err)
}

// logsTop is how many Diagnostics entries one Logs call reads.
const logsTop = 200

// Logs returns the pool's Diagnostics entries with ID greater than after,
// oldest first.
func (c *Client) Logs(ctx context.Context, name string, after uint64) ([]pool.LogEntry, error) {
	t := target{op: "read logs", pool: name}
	id, err := c.poolID(ctx, name)
	if err != nil {
		return nil, translate(t, err)
	}
	top := logsTop
	logs, err := c.elastic.GetElasticPoolLogs(ctx, elastic.GetElasticPoolLogsArgs{PoolId: &id, Top: &top})
	if err != nil {
		return nil, translate(t, c.notFoundAs(err, name))
	}
	var out []pool.LogEntry
	for _, l := range *logs {
		e := pool.LogEntry{ID: deref(l.Id), Message: deref(l.Message), Time: timeOf(l.Timestamp)}
		if l.Level != nil {
			e.Level = string(*l.Level)
		}
		if l.Operation != nil {
			e.Operation = string(*l.Operation)
		}
		if e.ID > after {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Update PATCHes the settings s sets, and only those: one call, no read.
// Azure DevOps keeps what a PATCH leaves out (it merges the body over the
// pool it has, and checks the result), so the call sets absolute values,
// can be repeated, and leaves a setting someone else changed meanwhile as
// it is. cur.ID names the pool; without one the name is looked up. The
// caller checks s first (change.Changer does); Azure DevOps refuses an
// invalid change with a 400, KindInvalid.
func (c *Client) Update(ctx context.Context, cur pool.Pool, s pool.Settings) (pool.Pool, error) {
	name := cur.Name
	t := target{op: "update pool", pool: name, write: true}
	id := cur.ID
	if id == 0 {
		var err error
		if id, err = c.poolID(ctx, name); err != nil {
			return pool.Pool{}, translate(t, err)
		}
	}
	if s.Empty() {
		return cur, nil
	}
	settings := elastic.ElasticPoolSettings{
		DesiredIdle:         s.Standby,
		MaxCapacity:         s.Max,
		RecycleAfterEachUse: s.Recycle,
		TimeToLiveMinutes:   s.TTLMinutes,
	}
	up, err := c.elastic.UpdateElasticPool(ctx, elastic.UpdateElasticPoolArgs{PoolId: &id, ElasticPoolSettings: &settings})
	if err != nil {
		return pool.Pool{}, translate(t, c.notFoundAs(err, name))
	}
	out := fromElastic(*up)
	out.Name = name
	c.log.DebugContext(ctx, "pool updated", "pool", name, "change", s.String()) // the Changer logs the change
	return out, nil
}

// ReimageNodes asks Azure DevOps to reimage the nodes.
func (c *Client) ReimageNodes(ctx context.Context, name string, nodeIDs []int) error {
	return c.setNodes(ctx, target{op: "reimage nodes", pool: name, write: true}, nodeIDs, elastic.ElasticNodeStateValues.PendingReimage)
}

// DeleteNodes asks Azure DevOps to delete the nodes' VMs.
func (c *Client) DeleteNodes(ctx context.Context, name string, nodeIDs []int) error {
	return c.setNodes(ctx, target{op: "delete nodes", pool: name, write: true}, nodeIDs, elastic.ElasticNodeStateValues.PendingDelete)
}

func (c *Client) setNodes(ctx context.Context, t target, nodeIDs []int, state elastic.ElasticNodeState) error {
	if len(nodeIDs) == 0 {
		return &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: t.pool, Msg: "no nodes given"}
	}
	id, err := c.poolID(ctx, t.pool)
	if err != nil {
		return translate(t, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	for _, nid := range nodeIDs {
		g.Go(func() error {
			_, err := c.elastic.UpdateElasticNode(gctx, elastic.UpdateElasticNodeArgs{
				PoolId: &id, ElasticNodeId: &nid, ElasticNodeSettings: &elastic.ElasticNodeSettings{State: &state},
			})
			if err != nil {
				var se *statusError
				if errors.As(err, &se) && se.Status == http.StatusNotFound {
					return &pool.Error{Kind: pool.KindNotFound, Op: t.op, Pool: t.pool,
						Msg: fmt.Sprintf("pool %s has no node %d", t.pool, nid), Err: err}
				}
				return translate(t, fmt.Errorf("node %d: %w", nid, err))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.log.InfoContext(ctx, "nodes changed", "pool", t.pool, "nodes", nodeIDs, "state", string(state))
	return nil
}

// pool reads one elastic pool by name.
func (c *Client) pool(ctx context.Context, name string) (pool.Pool, error) {
	id, err := c.poolID(ctx, name)
	if err != nil {
		return pool.Pool{}, err
	}
	ep, err := c.elastic.GetElasticPool(ctx, elastic.GetElasticPoolArgs{PoolId: &id})
	if err != nil {
		return pool.Pool{}, c.notFoundAs(err, name)
	}
	p := fromElastic(*ep)
	p.Name = name
	if n, ok := c.nameOf(p.ID); ok {
		p.Name = n
	}
	return p, nil
}

// notFoundAs turns a 404 into "no pool named …": the id came from the name
// cache, so the pool was deleted since, and the cache forgets it.
func (c *Client) notFoundAs(err error, name string) error {
	var se *statusError
	if !errors.As(err, &se) || se.Status != http.StatusNotFound {
		return err
	}
	c.namesMu.Lock()
	if id, ok := c.byName[strings.ToLower(name)]; ok {
		delete(c.byName, strings.ToLower(name))
		delete(c.byID, id)
	}
	c.namesMu.Unlock()
	return &pool.Error{Kind: pool.KindNotFound, Pool: name, Msg: fmt.Sprintf("no pool named %q", name), Err: err}
}

func (c *Client) nodes(ctx context.Context, id int) ([]pool.Node, error) {
	ens, err := c.elastic.GetElasticNodes(ctx, elastic.GetElasticNodesArgs{PoolId: &id})
	if err != nil {
		return nil, err
	}
	nodes := make([]pool.Node, 0, len(*ens))
	for _, n := range *ens {
		nodes = append(nodes, fromNode(n))
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	return nodes, nil
}

// queue counts the pool's job requests that are neither assigned nor
// finished: jobs waiting for an agent.
func (c *Client) queue(ctx context.Context, id int) (int, error) {
	q := url.Values{"completedRequestCount": {"0"}}
	resp, err := c.core.Send(ctx, http.MethodGet, jobRequestsLocation, apiVersion,
		map[string]string{"poolId": strconv.Itoa(id)}, q, nil, "", azuredevops.MediaTypeApplicationJson, nil)
	if err != nil {
		return 0, err
	}
	var reqs []taskagent.TaskAgentJobRequest
	if err := c.core.UnmarshalCollectionBody(resp, &reqs); err != nil {
		return 0, fmt.Errorf("read job requests of pool %d: %w", id, err)
	}
	n := 0
	for _, r := range reqs {
		if r.AssignTime == nil && r.ReservedAgent == nil && r.FinishTime == nil && r.Result == nil {
			n++
		}
	}
	return n, nil
}

// poolID maps a pool name to its id through the agent pool list, cached; a
// miss refreshes the cache once.
func (c *Client) poolID(ctx context.Context, name string) (int, error) {
	if name == "" {
		return 0, &pool.Error{Kind: pool.KindInvalid, Msg: "no pool name given"}
	}
	key := strings.ToLower(name)
	c.namesMu.Lock()
	id, ok := c.byName[key]
	c.namesMu.Unlock()
	if ok {
		return id, nil
	}
	if err := c.refreshNames(ctx); err != nil {
		return 0, err
	}
	c.namesMu.Lock()
	id, ok = c.byName[key]
	c.namesMu.Unlock()
	if !ok {
		return 0, pool.NotFound(name)
	}
	return id, nil
}

func (c *Client) nameOf(id int) (string, bool) {
	c.namesMu.Lock()
	defer c.namesMu.Unlock()
	n, ok := c.byID[id]
	return n, ok
}

// nameAll names the pools from the cache, refreshing it once if an id is
// missing.
func (c *Client) nameAll(ctx context.Context, pools []pool.Pool) error {
	missing := func() bool {
		c.namesMu.Lock()
		defer c.namesMu.Unlock()
		for i := range pools {
			n, ok := c.byID[pools[i].ID]
			if !ok {
				return true
			}
			pools[i].Name = n
		}
		return false
	}
	if !missing() {
		return nil
	}
	if err := c.refreshNames(ctx); err != nil {
		return err
	}
	if missing() {
		for i := range pools {
			if pools[i].Name == "" {
				pools[i].Name = fmt.Sprintf("pool-%d", pools[i].ID)
			}
		}
	}
	return nil
}

func (c *Client) refreshNames(ctx context.Context) error {
	aps, err := c.agents.GetAgentPools(ctx, taskagent.GetAgentPoolsArgs{})
	if err != nil {
		return err
	}
	byName, byID := map[string]int{}, map[int]string{}
	for _, p := range *aps {
		if p.Id == nil || p.Name == nil {
			continue
		}
		byName[strings.ToLower(*p.Name)] = *p.Id
		byID[*p.Id] = *p.Name
	}
	c.namesMu.Lock()
	c.byName, c.byID = byName, byID
	c.namesMu.Unlock()
	return nil
}

func fromElastic(ep elastic.ElasticPool) pool.Pool {
	p := pool.Pool{
		ID:             derefInt(ep.PoolId),
		Standby:        derefInt(ep.DesiredIdle),
		Max:            derefInt(ep.MaxCapacity),
		DesiredSize:    derefInt(ep.DesiredSize),
		TTLMinutes:     derefInt(ep.TimeToLiveMinutes),
		Recycle:        ep.RecycleAfterEachUse != nil && *ep.RecycleAfterEachUse,
		MaxSaved:       derefInt(ep.MaxSavedNodeCount),
		SizingAttempts: derefInt(ep.SizingAttempts),
		OfflineSince:   timeOf(ep.OfflineSince),
		ScaleSetID:     deref(ep.AzureId),
		Queue:          -1,
	}
	if ep.OsType != nil {
		p.OS = pool.OS(strings.ToLower(string(*ep.OsType)))
	}
	if ep.State != nil {
		p.State = pool.State(*ep.State)
	}
	return p
}

func fromNode(n elastic.ElasticNode) pool.Node {
	out := pool.Node{
		ID:             derefInt(n.Id),
		Name:           deref(n.Name),
		AgentID:        derefInt(n.AgentId),
		ComputeID:      deref(n.ComputeId),
		RequestID:      deref(n.RequestId),
		StateChangedOn: timeOf(n.StateChangedOn),
	}
	if n.State != nil {
		out.State = pool.NodeState(*n.State)
	}
	if n.ComputeState != nil {
		out.ComputeState = string(*n.ComputeState)
	}
	if n.AgentState != nil {
		out.AgentState = string(*n.AgentState)
	}
	return out
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

func derefInt(p *int) int { return deref(p) }

func timeOf(t *azuredevops.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

func lastSegment(id string) string {
	id = strings.TrimRight(id, "/")
	return id[strings.LastIndex(id, "/")+1:]
}
