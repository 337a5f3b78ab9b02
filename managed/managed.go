// Package managed implements pool.Service for Managed DevOps Pools
// (ARM resource type Microsoft.DevOpsInfrastructure/pools, api-version
// 2025-01-21), over azcore's arm and runtime packages with poolbot's own
// types for the fields it uses. No Go SDK for the resource type is served
// to poolbot, and the one that exists is large; the REST shape is small.
//
// A pool's resource is kept as the JSON Azure gave it, so that a PATCH
// sends only what changes and a PUT round-trips every field poolbot does
// not know. Retries, throttling, the concurrency limit and call counts are
// the scale-set side's: the client is built on azure.Client.ARMOptions.
package managed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/poolbot/poolbot/pool"
)

// APIVersion is the Microsoft.DevOpsInfrastructure api-version poolbot speaks.
const APIVersion = "2025-01-21"

// ResourceType is the ARM type of a Managed DevOps Pool.
const ResourceType = "Microsoft.DevOpsInfrastructure/pools"

// Options configures a Client.
type Options struct {
	Credential azcore.TokenCredential
	// ARM are the ARM options to share (azure.Client.ARMOptions): endpoint,
	// retries, the concurrency limit and call counters.
	ARM *arm.ClientOptions
	// Pools are pools named by resource id; ResourceGroups are scopes
	// ("/subscriptions/S/resourceGroups/RG") whose every pool is poolbot's.
	Pools          []string
	ResourceGroups []string
	// Claimed reports whether poolbot's configuration claims a pool's
	// standby (a schedule names it): only then may poolbot overwrite a
	// daysData scheme another tool wrote. Nil claims none.
	Claimed      func(name string) bool
	PollInterval time.Duration // long-running operations without Retry-After; default 5s
	// Now is the time standby schemes are read at; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Client is pool.Service on Managed DevOps Pools. It is safe for
// concurrent use; changes to one pool are serialized by the caller
// (change.Changer), as for elastic pools.
type Client struct {
	o        Options
	pipeline runtime.Pipeline
	endpoint string

	mu     sync.Mutex
	byKey  map[string]string // lower-cased pool name → resource id
	listed time.Time         // when the resource groups were last listed
}

var _ pool.Service = (*Client)(nil)

// New checks the configured resource ids and returns a Client; it makes no call.
func New(o Options) (*Client, error) {
	if o.Credential == nil {
		return nil, errors.New("managed pools: no Azure credential is configured ([azure] auth)")
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{o: o, byKey: map[string]string{}}
	for _, id := range o.Pools {
		rid, err := ParsePoolID(id)
		if err != nil {
			return nil, err
		}
		c.byKey[strings.ToLower(rid.Name)] = rid.String()
	}
	for _, rg := range o.ResourceGroups {
		if _, err := parseGroup(rg); err != nil {
			return nil, err
		}
	}
	cl, err := arm.NewClient("poolbot.managed", "v1.0.0", o.Credential, o.ARM)
	if err != nil {
		return nil, fmt.Errorf("managed pools: %w", err)
	}
	c.pipeline, c.endpoint = cl.Pipeline(), strings.TrimRight(cl.Endpoint(), "/")
	return c, nil
}

// ParsePoolID reads a Managed DevOps Pool's resource id; an id of another
// resource type is an error that names it.
func ParsePoolID(id string) (*arm.ResourceID, error) {
	rid, err := arm.ParseResourceID(strings.TrimSpace(id))
	if err != nil {
		return nil, fmt.Errorf("%q is not an Azure resource id: %w", id, err)
	}
	if !strings.EqualFold(rid.ResourceType.String(), ResourceType) {
		return nil, fmt.Errorf("%q is a %s, not a Managed DevOps Pool (%s)", id, rid.ResourceType.String(), ResourceType)
	}
	return rid, nil
}

func parseGroup(rg string) (*arm.ResourceID, error) {
	rid, err := arm.ParseResourceID(strings.TrimSpace(rg))
	if err != nil || !strings.EqualFold(rid.ResourceType.String(), "Microsoft.Resources/resourceGroups") {
		return nil, fmt.Errorf("%q is not a resource group id (/subscriptions/S/resourceGroups/RG)", rg)
	}
	return rid, nil
}

// Has reports whether name is one of the client's pools. A name it does
// not know makes it list the resource groups' pools again, at most once a
// minute, so that calls for elastic pools do not each cost an ARM call.
func (c *Client) Has(ctx context.Context, name string) bool {
	if _, ok := c.idOf(name); ok {
		return true
	}
	if len(c.o.ResourceGroups) == 0 {
		return false
	}
	c.mu.Lock()
	stale := c.listed.IsZero() || c.now().Sub(c.listed) >= relist
	c.mu.Unlock()
	if stale {
		_, _ = c.list(ctx)
	}
	_, ok := c.idOf(name)
	return ok
}

// relist is how often an unknown name lists the resource groups again.
const relist = time.Minute

func (c *Client) idOf(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.byKey[strings.ToLower(name)]
	return id, ok
}

// do sends one request through the shared pipeline and checks its status.
func (c *Client) do(ctx context.Context, method, u string, body any, ok ...int) (*http.Response, error) {
	req, err := runtime.NewRequest(ctx, method, u)
	if err != nil {
		return nil, err
	}
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			return nil, err
		}
	}
	resp, err := c.pipeline.Do(req)
	if err != nil {
		return nil, err
	}
	if !runtime.HasStatusCode(resp, ok...) {
		return nil, runtime.NewResponseError(resp)
	}
	return resp, nil
}

func (c *Client) url(id string, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	q.Set("api-version", APIVersion)
	return c.endpoint + id + "?" + q.Encode()
}

// resource is a pool resource as Azure holds it.
type resource map[string]any

func (c *Client) get(ctx context.Context, id string) (resource, error) {
	resp, err := c.do(ctx, http.MethodGet, c.url(id, nil), nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var r resource
	return r, runtime.UnmarshalAsJSON(resp, &r)
}

// list reads every configured pool: named ones, then the resource groups'.
func (c *Client) list(ctx context.Context) ([]resource, error) {
	var out []resource
	seen := map[string]bool{}
	for _, id := range c.o.Pools {
		r, err := c.get(ctx, id)
		if err != nil {
			return nil, err
		}
		seen[strings.ToLower(str(r, "id"))] = true
		out = append(out, r)
	}
	for _, rg := range c.o.ResourceGroups {
		next := c.url(strings.TrimRight(rg, "/")+"/providers/"+ResourceType, nil)
		for next != "" {
			resp, err := c.do(ctx, http.MethodGet, next, nil, http.StatusOK)
			if err != nil {
				return nil, err
			}
			var page struct {
				Value    []resource `json:"value"`
				NextLink *string    `json:"nextLink"`
			}
			if err := runtime.UnmarshalAsJSON(resp, &page); err != nil {
				return nil, err
			}
			for _, r := range page.Value {
				if !seen[strings.ToLower(str(r, "id"))] {
					seen[strings.ToLower(str(r, "id"))] = true
					out = append(out, r)
				}
			}
			next = deref(page.NextLink)
		}
	}
	c.mu.Lock()
	for _, r := range out {
		c.byKey[strings.ToLower(str(r, "name"))] = str(r, "id")
	}
	c.listed = c.now()
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return strings.ToLower(str(out[i], "name")) < strings.ToLower(str(out[j], "name"))
	})
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// poolID finds a pool's resource id by name.
func (c *Client) poolID(ctx context.Context, name string) (string, error) {
	if c.Has(ctx, name) {
		id, _ := c.idOf(name)
		return id, nil
	}
	return "", pool.NotFound(name)
}

// List returns the managed pools, with their agents when asked.
func (c *Client) List(ctx context.Context, opts pool.ListOptions) ([]pool.Pool, error) {
	rs, err := c.list(ctx)
	if err != nil {
		return nil, translate(target{op: "list pools"}, err)
	}
	out := make([]pool.Pool, 0, len(rs))
	for _, r := range rs {
		p := c.toPool(r)
		if opts.Nodes {
			nodes, err := c.nodes(ctx, str(r, "id"))
			if err != nil {
				return nil, translate(target{op: "list agents", pool: p.Name}, err)
			}
			p.Nodes, p.Counts = nodes, pool.Count(nodes)
		}
		out = append(out, p)
	}
	return out, nil
}

// Get returns one pool with its agents.
func (c *Client) Get(ctx context.Context, name string) (pool.Pool, error) {
	t := target{op: "get pool", pool: name}
	id, err := c.poolID(ctx, name)
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	r, err := c.get(ctx, id)
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	p := c.toPool(r)
	nodes, err := c.nodes(ctx, id)
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	p.Nodes, p.Counts = nodes, pool.Count(nodes)
	p.ScaleSet.Capacity = len(nodes)
	return p, nil
}

// Nodes returns the pool's agents (resource details).
func (c *Client) Nodes(ctx context.Context, name string) ([]pool.Node, error) {
	t := target{op: "list agents", pool: name}
	id, err := c.poolID(ctx, name)
	if err != nil {
		return nil, translate(t, err)
	}
	n, err := c.nodes(ctx, id)
	return n, translate(t, err)
}

type resourceDetails struct {
	Value []struct {
		Name       string `json:"name"`
		Properties struct {
			Status       string `json:"status"`
			Image        string `json:"image"`
			ImageVersion string `json:"imageVersion"`
		} `json:"properties"`
	} `json:"value"`
	NextLink *string `json:"nextLink"`
}

func (c *Client) nodes(ctx context.Context, id string) ([]pool.Node, error) {
	var out []pool.Node
	next := c.url(id+"/resources", nil)
	for next != "" {
		resp, err := c.do(ctx, http.MethodGet, next, nil, http.StatusOK)
		if err != nil {
			return nil, err
		}
		var page resourceDetails
		if err := runtime.UnmarshalAsJSON(resp, &page); err != nil {
			return nil, err
		}
		for _, v := range page.Value {
			n := pool.Node{ID: nodeID(v.Name), Name: v.Name, State: NodeState(v.Properties.Status),
				AgentState: v.Properties.Status, ComputeState: v.Properties.Status}
			if v.Properties.Image != "" {
				n.Image = imageOf(v.Properties.Image, v.Properties.ImageVersion)
			}
			out = append(out, n)
		}
		next = deref(page.NextLink)
	}
	return out, nil
}

// nodeID gives an agent a stable number, since poolbot names nodes by number.
func nodeID(name string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() & 0x7fffffff)
}

func imageOf(image, version string) pool.Image {
	if strings.HasPrefix(image, "/subscriptions/") {
		if version != "" && !strings.Contains(strings.ToLower(image), "/versions/") {
			image += "/versions/" + version
		}
		return pool.Image{ID: image}
	}
	if version != "" {
		return pool.Image{ID: image + "/" + version}
	}
	return pool.Image{ID: image}
}

// NodeState maps a resource detail's status onto poolbot's node states.
func NodeState(status string) pool.NodeState {
	switch strings.ToLower(status) {
	case "ready":
		return pool.NodeIdle
	case "allocated", "leased":
		return pool.NodeAssigned
	case "provisioning":
		return pool.NodeCreatingCompute
	case "starting", "updating":
		return pool.NodeStartingAgent
	case "notready":
		return pool.NodeUnhealthyVM
	case "pendingreimage":
		return pool.NodePendingReimage
	case "reimaging":
		return pool.NodeReimagingCompute
	case "pendingreturn", "returned":
		return pool.NodePendingDelete
	}
	return pool.NodeNone
}

// Queue is not answered by Azure Resource Manager: the jobs waiting for a
// managed pool are Azure DevOps', which the elastic side reads.
func (c *Client) Queue(ctx context.Context, name string) (int, error) {
	if _, err := c.poolID(ctx, name); err != nil {
		return 0, translate(target{op: "read queue", pool: name}, err)
	}
	return 0, &pool.Error{Kind: pool.KindInvalid, Op: "read queue", Pool: name,
		Msg: "the job queue of a managed pool is read from Azure DevOps, not from its Azure resource"}
}

// Logs returns the pool's provisioning failures of the last day, by
// service error code, as error entries: Azure Monitor's Count metric split
// by ErrorCode, one entry per code and 5-minute bucket (its ID grows with
// the bucket's time), oldest first.
func (c *Client) Logs(ctx context.Context, name string, after uint64) ([]pool.LogEntry, error) {
	t := target{op: "read failures", pool: name}
	id, err := c.poolID(ctx, name)
	if err != nil {
		return nil, translate(t, err)
	}
	now := c.now().UTC()
	q := url.Values{
		"api-version": {metricsAPIVersion}, "metricnames": {"Count"}, "aggregation": {"Total"}, "interval": {"PT5M"},
		"timespan": {now.Add(-24*time.Hour).Truncate(5*time.Minute).Format(time.RFC3339) + "/" + now.Format(time.RFC3339)},
		"$filter":  {"ErrorCode eq '*'"},
	}
	resp, err := c.do(ctx, http.MethodGet, c.endpoint+id+"/providers/Microsoft.Insights/metrics?"+q.Encode(), nil, http.StatusOK)
	if err != nil {
		return nil, translate(t, err)
	}
	var body metrics
	if err := runtime.UnmarshalAsJSON(resp, &body); err != nil {
		return nil, translate(t, err)
	}
	var out []pool.LogEntry
	for _, m := range body.Value {
		for _, ts := range m.Timeseries {
			code := ""
			for _, md := range ts.Metadata {
				if strings.EqualFold(md.Name.Value, "errorcode") {
					code = md.Value
				}
			}
			for _, d := range ts.Data {
				if d.Total < 1 || code == "" {
					continue
				}
				at, err := time.Parse(time.RFC3339, d.TimeStamp)
				if err != nil {
					continue
				}
				e := pool.LogEntry{ID: uint64(at.Unix()/60)<<8 | uint64(codeByte(code)), Level: "error", Operation: "provisioning",
					Time: at, Message: fmt.Sprintf("%d agents failed to start: %s (%s)", int(d.Total), code, codeWords(code))}
				if e.ID > after {
					out = append(out, e)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// metricsAPIVersion is Azure Monitor's metrics api-version.
const metricsAPIVersion = "2018-01-01"

type metrics struct {
	Value []struct {
		Timeseries []struct {
			Metadata []struct {
				Name  struct{ Value string } `json:"name"`
				Value string                 `json:"value"`
			} `json:"metadatavalues"`
			Data []struct {
				TimeStamp string  `json:"timeStamp"`
				Total     float64 `json:"total"`
			} `json:"data"`
		} `json:"timeseries"`
	} `json:"value"`
}

func codeByte(code string) byte {
	h := fnv.New32a()
	_, _ = h.Write([]byte(strings.ToLower(code)))
	return byte(h.Sum32())
}

// codeWords says what a service error code means.
func codeWords(code string) string {
	switch strings.ToLower(code) {
	case "exceedingquota":
		return "the subscription's Managed DevOps Pools quota for the VM size is used up"
	case "clusteroutofcapacity":
		return "Azure has no capacity for the VM size in the region right now"
	case "skunotavailable":
		return "the VM size is not available in the region"
	case "imagenotfound":
		return "the image was not found, or the service may not read it"
	case "invalidsubnetdelegation":
		return "the subnet is not delegated to Microsoft.DevOpsInfrastructure/pools"
	}
	return "see the pool's metrics in the Azure portal"
}

// Create is for elastic pools; a managed pool is made by `poolbot migrate plan --apply`.
func (c *Client) Create(ctx context.Context, spec pool.CreateSpec) (pool.Pool, error) {
	return pool.Pool{}, &pool.Error{Kind: pool.KindInvalid, Op: "create pool", Pool: spec.Name,
		Msg: "create makes scale-set pools; a Managed DevOps Pool is made with `poolbot migrate plan --apply`"}
}

// ReimageNodes is not offered by api-version 2025-01-21 for single agents.
func (c *Client) ReimageNodes(ctx context.Context, name string, nodeIDs []int) error {
	return &pool.Error{Kind: pool.KindInvalid, Op: "reimage nodes", Pool: name,
		Msg: "Managed DevOps Pools replace agents themselves; single agents cannot be reimaged"}
}

// DeleteNodes is not offered by api-version 2025-01-21 for single agents.
func (c *Client) DeleteNodes(ctx context.Context, name string, nodeIDs []int) error {
	return &pool.Error{Kind: pool.KindInvalid, Op: "delete nodes", Pool: name,
		Msg: "Managed DevOps Pools replace agents themselves; single agents cannot be deleted"}
}

// patch sends a merge patch of the pool's resource and waits for the
// operation; it returns the resource after.
func (c *Client) patch(ctx context.Context, id string, body map[string]any) (resource, error) {
	resp, err := c.do(ctx, http.MethodPatch, c.url(id, nil), body, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	return c.wait(ctx, resp)
}

// put creates or replaces a pool's resource and waits for the operation.
func (c *Client) put(ctx context.Context, id string, body map[string]any) (resource, error) {
	resp, err := c.do(ctx, http.MethodPut, c.url(id, nil), body, http.StatusOK, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	return c.wait(ctx, resp)
}

func (c *Client) wait(ctx context.Context, resp *http.Response) (resource, error) {
	poller, err := runtime.NewPoller[resource](resp, c.pipeline, nil)
	if err != nil {
		return nil, err
	}
	r, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: c.o.PollInterval})
	if err != nil {
		return nil, err
	}
	if ps := str(r, "properties", "provisioningState"); ps != "" && !strings.EqualFold(ps, "Succeeded") {
		return r, fmt.Errorf("the pool's provisioning state is %s", ps)
	}
	return r, nil
}

// str reads a nested string field.
func str(m map[string]any, keys ...string) string {
	v, _ := at(m, keys...).(string)
	return v
}

func num(m map[string]any, keys ...string) int {
	v, _ := at(m, keys...).(float64)
	return int(v)
}

func at(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		o, ok := asMap(v)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

func asMap(v any) (map[string]any, bool) {
	switch o := v.(type) {
	case map[string]any:
		return o, true
	case resource:
		return o, true
	}
	return nil, false
}

func obj(m map[string]any, keys ...string) map[string]any {
	o, _ := asMap(at(m, keys...))
	return o
}

// deepCopy copies a JSON value.
func deepCopy[T any](v T) T {
	b, _ := json.Marshal(v)
	var out T
	_ = json.Unmarshal(b, &out)
	return out
}

// JobHistory of a managed pool is read from Azure DevOps, like its queue:
// the Router asks the elastic side, which knows the agent pool of that name.
func (c *Client) JobHistory(ctx context.Context, name string, q pool.JobQuery) (pool.JobPage, error) {
	if _, err := c.poolID(ctx, name); err != nil {
		return pool.JobPage{}, translate(target{op: "read job history", pool: name}, err)
	}
	return pool.JobPage{}, &pool.Error{Kind: pool.KindInvalid, Op: "read job history", Pool: name,
		Msg: "the job history of a managed pool is read from Azure DevOps, not from its Azure resource"}
}
