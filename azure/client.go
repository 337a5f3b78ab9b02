// Package azure implements pool.Service on the real Azure DevOps and Azure
// Resource Manager SDKs: azure-devops-go-api (elastic, taskagent) for the
// pools, nodes, logs and job queue, and armcompute for the scale sets behind
// them. It adds what the Azure DevOps SDK lacks, with azcore's pipeline as
// the SDK's transport: per-request authentication with refreshed Microsoft
// Entra ID tokens (azcore's bearer token policy), retries that honour
// Retry-After (azcore's retry policy), bounded concurrency, pacing under
// Azure DevOps' rate limit (a policy of poolbot's own), and errors told in
// words a Slack user understands.
package azure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/elastic"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

// DefaultResourceManagerURL is public Azure's Resource Manager endpoint.
const DefaultResourceManagerURL = "https://management.azure.com"

// Options configures a Client.
type Options struct {
	OrganizationURL  string                 // https://dev.azure.com/org, or the simulator's http://127.0.0.1:port/contoso
	PAT              string                 // PAT authentication when set…
	DevOpsCredential azcore.TokenCredential // …else Microsoft Entra ID tokens for DevOpsScope

	ResourceManagerURL string // default DefaultResourceManagerURL
	ARMCredential      azcore.TokenCredential
	Subscription       string // default subscription and resource group for Create
	ResourceGroup      string

	Concurrency int          // calls in flight at once, default 8
	HTTPClient  *http.Client // its Transport is the base transport (tests)
	Logger      *slog.Logger

	Clock        clock.Clock   // times the waits for Azure DevOps' throttle and pacing; default clock.Real
	Retry        RetryPolicy   // zero fields take defaults
	PollInterval time.Duration // ARM long-running operations, without Retry-After; default 5s
}

// Client is pool.Service on Azure DevOps and Azure Resource Manager.
type Client struct {
	opts    Options
	log     *slog.Logger
	clock   clock.Clock
	limit   limiter
	pacer   *pacer
	core    *azuredevops.Client
	elastic *elastic.ClientImpl
	agents  *taskagent.ClientImpl

	devStats, armStats counters

	armOpts *arm.ClientOptions
	armMu   sync.Mutex
	vmss    map[string]*armcompute.VirtualMachineScaleSetsClient // by subscription
	images  map[string]*armcompute.GalleryImageVersionsClient
	vms     map[string]*armcompute.VirtualMachineScaleSetVMsClient // by subscription

	namesMu sync.Mutex
	byName  map[string]int // lower-cased agent pool name → id
	byID    map[int]string
	// lastList is the last pool list read (names and settings), kept for a
	// person's command during a throttle; guarded by namesMu.
	lastList   []pool.Pool
	lastListAt time.Time
}

var _ pool.Service = (*Client)(nil)

// New returns a Client. It makes no call; the first operation discovers the
// Azure DevOps routes.
func New(ctx context.Context, o Options) (*Client, error) {
	u, err := url.Parse(o.OrganizationURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("azure devops organization url %q is not an http(s) URL", o.OrganizationURL)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("azure devops organization url %q: credentials go only over https (or to a loopback simulator)", o.OrganizationURL)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.ResourceManagerURL == "" {
		o.ResourceManagerURL = DefaultResourceManagerURL
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	o.Retry = o.Retry.withDefaults()
	var auth policy.Policy
	switch {
	case o.PAT != "":
		auth = newPATPolicy(o.PAT)
	case o.DevOpsCredential != nil:
		auth = newTokenPolicy(o.DevOpsCredential, u.Scheme == "http")
	default:
		return nil, errors.New("azure devops: neither a PAT nor a credential given")
	}

	var base http.RoundTripper
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		base = o.HTTPClient.Transport
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Keep a connection per concurrent call instead of the default two.
		t.MaxIdleConnsPerHost = o.Concurrency
		// A server that accepts a request and never answers must not hold
		// a call forever when its context has no deadline.
		t.ResponseHeaderTimeout = 2 * time.Minute
		base = t
	}
	c := &Client{
		opts:   o,
		log:    o.Logger,
		clock:  o.Clock,
		limit:  make(limiter, o.Concurrency),
		vmss:   map[string]*armcompute.VirtualMachineScaleSetsClient{},
		images: map[string]*armcompute.GalleryImageVersionsClient{},
		vms:    map[string]*armcompute.VirtualMachineScaleSetVMsClient{},
	}
	c.pacer = &pacer{clock: o.Clock, policy: o.Retry, stats: &c.devStats, log: o.Logger, rnd: defaultRand}

	orgURL := strings.TrimRight(o.OrganizationURL, "/")
	conn := azuredevops.NewAnonymousConnection(orgURL) // authorization is set per request by the pipeline
	hc := &http.Client{Transport: newDevOpsPipeline(base, auth, c.pacer, c.limit)}
	c.core = azuredevops.NewClientWithOptions(conn, strings.ToLower(orgURL), azuredevops.WithHTTPClient(hc))
	c.elastic = &elastic.ClientImpl{Client: *c.core}
	c.agents = &taskagent.ClientImpl{Client: *c.core}

	rm, err := url.Parse(o.ResourceManagerURL)
	if err != nil || rm.Host == "" {
		return nil, fmt.Errorf("resource manager url %q is not a URL", o.ResourceManagerURL)
	}
	c.armOpts = &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: strings.TrimRight(o.ResourceManagerURL, "/"), Audience: "https://management.core.windows.net/"},
			}},
			// Bearer tokens over plain http only to a loopback simulator.
			InsecureAllowCredentialWithHTTP: rm.Scheme == "http" && loopback(rm.Hostname()),
			Transport:                       &http.Client{Transport: &armTransport{base: base, limit: c.limit, stats: &c.armStats}},
			Retry: policy.RetryOptions{
				MaxRetries:    int32(o.Retry.MaxAttempts - 1),
				RetryDelay:    o.Retry.BaseDelay,
				MaxRetryDelay: o.Retry.MaxDelay,
				TryTimeout:    time.Minute,
			},
			PerCallPolicies:  []policy.Policy{armCallCounter{&c.armStats}},
			PerRetryPolicies: []policy.Policy{armAttemptCounter{}},
		},
		DisableRPRegistration: true,
	}
	return c, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServiceStats are one service's call counts since the Client was made.
type ServiceStats struct {
	Calls     int64 // HTTP requests sent, retries included
	Retries   int64
	Throttled int64 // 429 answers
	Errors    int64 // failed requests: no answer, 5xx, or a final 4xx
	Slowed    int64 // times poolbot held back because the rate-limit budget ran low
	Refused   int64 // calls failed at once, unsent, because a throttle outlasts what their caller may wait
}

// Stats are a Client's call counts by service, for metrics.
type Stats struct {
	DevOps          ServiceStats
	ResourceManager ServiceStats
}

// ByService returns s keyed by a metric label: "devops", "arm".
func (s Stats) ByService() map[string]ServiceStats {
	return map[string]ServiceStats{"devops": s.DevOps, "arm": s.ResourceManager}
}

// Stats returns the call counts so far.
// ARMCredential is the credential the client uses for Azure Resource
// Manager, for other ARM readers (Cost Management) to share; nil when the
// client has none.
func (c *Client) ARMCredential() azcore.TokenCredential { return c.opts.ARMCredential }

// ARMOptions are the client's Azure Resource Manager options — endpoint,
// retries, its concurrency limit and call counters — for other ARM readers
// to share, so that their calls are limited and counted with the client's.
func (c *Client) ARMOptions() *arm.ClientOptions { return c.armOpts }

func (c *Client) Stats() Stats {
	return Stats{DevOps: c.devStats.snapshot(), ResourceManager: c.armStats.snapshot()}
}

// armTransport counts ARM requests and bounds them with the Client's limit.
// azcore retries above it.
type armTransport struct {
	base  http.RoundTripper
	limit limiter
	stats *counters
}

func (t *armTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.limit.acquire(req.Context()); err != nil {
		return nil, err
	}
	defer t.limit.release()
	t.stats.calls.Add(1)
	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil:
		t.stats.errors.Add(1)
	case resp.StatusCode == http.StatusTooManyRequests:
		t.stats.throttled.Add(1)
	case resp.StatusCode >= 400:
		t.stats.errors.Add(1)
	}
	return resp, err
}

// armAttempts counts the tries of one ARM operation call.
type armAttempts struct{ n int64 }

// armCallCounter runs once per ARM call and counts its retries, which
// azcore's retry policy makes below it.
type armCallCounter struct{ stats *counters }

func (p armCallCounter) Do(req *policy.Request) (*http.Response, error) {
	a := &armAttempts{}
	req.SetOperationValue(a)
	resp, err := req.Next()
	if a.n > 1 {
		p.stats.retries.Add(a.n - 1)
	}
	return resp, err
}

// armAttemptCounter runs on every try.
type armAttemptCounter struct{}

func (armAttemptCounter) Do(req *policy.Request) (*http.Response, error) {
	var a *armAttempts
	if req.OperationValue(&a) {
		a.n++
	}
	return req.Next()
}
