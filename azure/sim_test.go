package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

// env is a simulator on a loopback HTTP server and a Client of it.
type env struct {
	sim  *sim.Sim
	srv  *httptest.Server
	c    *Client
	logs *bytes.Buffer

	mu   sync.Mutex
	auth []string // Authorization headers the simulator received on Azure DevOps routes
	// hook, when set, may answer a request instead of the simulator.
	hook func(w http.ResponseWriter, r *http.Request) bool
}

func (e *env) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	if strings.HasPrefix(r.URL.Path, "/contoso") {
		e.auth = append(e.auth, r.Header.Get("Authorization"))
	}
	hook := e.hook
	e.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	e.sim.ServeHTTP(w, r)
}

func (e *env) seenAuth() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.auth...)
}

var simStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) // a Monday morning

// newEnv starts a simulator an hour into a working day, so that pools have
// nodes and jobs, and a Client with small retry waits.
func newEnv(t testing.TB, faults sim.Faults, opt ...func(*Options)) *env {
	t.Helper()
	e := &env{sim: sim.New(sim.Options{Start: simStart, Seed: 1}), logs: &bytes.Buffer{}}
	e.sim.Advance(time.Hour)
	e.sim.SetFaults(faults)
	e.srv = httptest.NewServer(e)
	t.Cleanup(e.srv.Close)
	o := Options{
		OrganizationURL:    e.srv.URL + "/contoso",
		PAT:                "pat-for-tests",
		ResourceManagerURL: e.srv.URL,
		ARMCredential:      StaticCredential("arm-token"),
		Subscription:       sim.Subscription,
		ResourceGroup:      sim.ResourceGroup,
		Logger:             slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Retry:              RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxAttempts: 6},
		PollInterval:       5 * time.Millisecond,
	}
	for _, f := range opt {
		f(&o)
	}
	c, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	e.sim.ResetCalls()
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func kindIs(t *testing.T, err error, k pool.Kind, msg string) *pool.Error {
	t.Helper()
	var pe *pool.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *pool.Error", err, err)
	}
	if pe.Kind != k || !strings.Contains(pe.Error(), msg) {
		t.Fatalf("error kind %v %q; want kind %v containing %q", pe.Kind, pe.Error(), k, msg)
	}
	return pe
}

func byName(t *testing.T, ps []pool.Pool, name string) pool.Pool {
	t.Helper()
	for _, p := range ps {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no pool %s in %d pools", name, len(ps))
	return pool.Pool{}
}

func TestList(t *testing.T) {
	e := newEnv(t, sim.Faults{})
	ps, err := e.c.List(ctx(t), pool.ListOptions{Nodes: true, Queue: true, ScaleSets: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 {
		t.Fatalf("%d pools", len(ps))
	}
	tests := []struct {
		name         string
		os           pool.OS
		max, standby int
		sku          string
	}{
		{"linux-ci", pool.Linux, 10, 2, "Standard_D4s_v5"},
		{"windows-ci", pool.Windows, 6, 1, "Standard_D4s_v5"},
		{"gpu-nightly", pool.Linux, 2, 0, "Standard_NC4as_T4_v3"},
	}
	for _, tt := range tests {
		p := byName(t, ps, tt.name)
		if p.OS != tt.os || p.Max != tt.max || p.Standby != tt.standby || p.ID == 0 || p.TTLMinutes != 30 {
			t.Errorf("%s: %+v", tt.name, p)
		}
		if p.ScaleSet == nil || p.ScaleSet.SKU != tt.sku || p.ScaleSet.Region != "westeurope" || p.ScaleSet.Name != tt.name ||
			!strings.Contains(p.ScaleSet.Image.ID, "/galleries/poolbotgallery/images/") {
			t.Errorf("%s scale set: %+v", tt.name, p.ScaleSet)
		}
		states, err := e.sim.NodeStates(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, n := range states {
			total += n
		}
		if len(p.Nodes) != total || p.Counts.Total() != total {
			t.Errorf("%s: %d nodes, counts %+v; simulator has %v", tt.name, len(p.Nodes), p.Counts, states)
		}
		st, _ := e.sim.Stats(tt.name)
		if p.Queue != st.Waiting {
			t.Errorf("%s: queue %d, simulator has %d waiting", tt.name, p.Queue, st.Waiting)
		}
	}
	if lc := byName(t, ps, "linux-ci"); lc.Counts.Idle+lc.Counts.Busy == 0 {
		t.Errorf("linux-ci has no agents after an hour of a working day: %+v", lc.Counts)
	}
	calls := e.sim.Calls()
	for k, want := range map[string]int{"ado.elasticpools.list": 1, "ado.pools.list": 1, "ado.nodes.list": 3, "ado.jobrequests": 3} {
		if calls[k] != want {
			t.Errorf("calls[%s] = %d, want %d (%v)", k, calls[k], want, calls)
		}
	}

	// The names are cached: a plain listing is one call.
	e.sim.ResetCalls()
	if _, err := e.c.List(ctx(t), pool.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := adoCalls(e.sim.Calls()); n != 1 {
		t.Errorf("second listing made %d Azure DevOps calls: %v", n, e.sim.Calls())
	}
	st := e.c.Stats()
	if st.DevOps.Calls == 0 || st.ResourceManager.Calls != 3 || st.DevOps.Retries != 0 {
		t.Errorf("stats %+v", st)
	}
}

// adoCalls counts the Azure DevOps API requests the simulator answered,
// resource-location discovery included.
func adoCalls(calls map[string]int) int {
	n := 0
	for k, v := range calls {
		if strings.HasPrefix(k, "ado.") {
			n += v
		}
	}
	return n
}

func TestGet(t *testing.T) {
	e := newEnv(t, sim.Faults{})
	p, err := e.c.Get(ctx(t), "Linux-CI") // names are case-insensitive
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "linux-ci" || p.ScaleSet == nil || len(p.Nodes) == 0 || p.Queue < 0 {
		t.Errorf("Get: %+v", p)
	}
	// Each node's image, from its VM, with the version it got.
	for _, n := range p.Nodes {
		if n.ComputeID != "" && !strings.EqualFold(n.Image.String(), galleryImage("ubuntu22")+"/versions/1.1.0") {
			t.Errorf("node %d (%s) image %q, want ubuntu22 1.1.0", n.ID, n.Name, n.Image)
		}
	}
	_, err = e.c.Get(ctx(t), "no-such-pool")
	kindIs(t, err, pool.KindNotFound, `no pool named "no-such-pool"`)
	nodes, err := e.c.Nodes(ctx(t), "linux-ci")
	if err != nil || len(nodes) != len(p.Nodes) {
		t.Errorf("Nodes: %d, %v", len(nodes), err)
	}
	q, err := e.c.Queue(ctx(t), "linux-ci")
	if st, _ := e.sim.Stats("linux-ci"); err != nil || q != st.Waiting {
		t.Errorf("Queue = %d, %v; simulator has %d waiting", q, err, st.Waiting)
	}
}

func TestUpdate(t *testing.T) {
	e := newEnv(t, sim.Faults{})
	tests := []struct {
		name    string
		s       pool.Settings
		want    pool.Settings // as the simulator has it afterwards
		invalid string
	}{
		{"standby 0", pool.Settings{Standby: pool.Int(0)}, pool.Settings{Standby: pool.Int(0), Max: pool.Int(10), TTLMinutes: pool.Int(30), Recycle: pool.Bool(false)}, ""},
		{"max, ttl, recycle", pool.Settings{Max: pool.Int(4), TTLMinutes: pool.Int(15), Recycle: pool.Bool(true)},
			pool.Settings{Standby: pool.Int(0), Max: pool.Int(4), TTLMinutes: pool.Int(15), Recycle: pool.Bool(true)}, ""},
		{"standby above max", pool.Settings{Standby: pool.Int(5)}, pool.Settings{}, "cannot be greater than the maximum number of virtual machines (4)"},
		{"negative ttl", pool.Settings{TTLMinutes: pool.Int(-1)}, pool.Settings{}, "idle agents (-1) cannot be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.sim.ResetCalls()
			was, _ := e.sim.Settings("linux-ci")
			p, err := e.c.Update(ctx(t), pool.Pool{Name: "linux-ci"}, tt.s)
			if tt.invalid != "" {
				// The Changer checks before calling; Azure DevOps refuses
				// what gets past it, and changes nothing.
				kindIs(t, err, pool.KindInvalid, tt.invalid)
				if now, _ := e.sim.Settings("linux-ci"); now.String() != was.String() {
					t.Errorf("a refused change changed %s to %s", was, now)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The name is known from the list before: one PATCH, no read.
			if calls := e.sim.Calls(); calls["ado.elasticpools.update"] != 1 || calls["ado.elasticpools.get"]+calls["ado.elasticpools.list"] != 0 {
				t.Errorf("Update made %v; want one PATCH and no read", calls)
			}
			got, _ := e.sim.Settings("linux-ci")
			if got.String() != tt.want.String() || pool.Of(p).String() != tt.want.String() {
				t.Errorf("simulator has %s, Update returned %s; want %s", got, pool.Of(p), tt.want)
			}
		})
	}
	_, err := e.c.Update(ctx(t), pool.Pool{Name: "no-such-pool"}, pool.Settings{Standby: pool.Int(1)})
	kindIs(t, err, pool.KindNotFound, "no-such-pool")
}

func galleryImage(name string) string {
	return "/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup +
		"/providers/Microsoft.Compute/galleries/poolbotgallery/images/" + name
}

func TestSetImage(t *testing.T) {
	e := newEnv(t, sim.Faults{})
	tests := []struct {
		name       string
		img        string
		wantBefore string
		wantAfter  string
		kind       pool.Kind
	}{
		{"newest of the gallery image", galleryImage("ubuntu22"), galleryImage("ubuntu22") + "/versions/1.1.0", galleryImage("ubuntu22") + "/versions/1.2.0", 0},
		{"explicit version", galleryImage("ubuntu22") + "/versions/1.0.0", galleryImage("ubuntu22") + "/versions/1.2.0", galleryImage("ubuntu22") + "/versions/1.0.0", 0},
		{"latest", galleryImage("ubuntu22") + "/versions/latest", galleryImage("ubuntu22") + "/versions/1.0.0", galleryImage("ubuntu22") + "/versions/1.2.0", 0},
		{"marketplace", "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest", galleryImage("ubuntu22") + "/versions/1.2.0", "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest", 0},
		{"unknown gallery image", galleryImage("nosuchimage"), "", "", pool.KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := pool.ParseImage(tt.img)
			if err != nil {
				t.Fatal(err)
			}
			before, after, err := e.c.SetImage(ctx(t), "linux-ci", img)
			if tt.kind != 0 {
				kindIs(t, err, tt.kind, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(before.String(), tt.wantBefore) || !strings.EqualFold(after.String(), tt.wantAfter) {
				t.Errorf("before %s after %s; want %s, %s", before, after, tt.wantBefore, tt.wantAfter)
			}
			p, err := e.c.Get(ctx(t), "linux-ci")
			if err != nil || !strings.EqualFold(p.ScaleSet.Image.String(), tt.wantAfter) {
				t.Errorf("scale set now has %v (%v)", p.ScaleSet, err)
			}
		})
	}
}

func createSpec(name string) pool.CreateSpec {
	return pool.CreateSpec{
		Name: name, OS: pool.Linux, Region: "westeurope", SKU: "Standard_D2s_v5",
		Image:                pool.Image{ID: galleryImage("ubuntu22")},
		SubnetID:             "/subscriptions/" + sim.Subscription + "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/agents",
		EphemeralOSDisk:      true,
		AdminUser:            "azureuser",
		SSHPublicKey:         "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample poolbot",
		Standby:              1,
		Max:                  4,
		TTLMinutes:           20,
		ServiceEndpointID:    "11111111-2222-3333-4444-555555555555",
		ServiceEndpointScope: "66666666-7777-8888-9999-000000000000",
		Tags:                 map[string]string{"team": "build"},
	}
}

func TestCreate(t *testing.T) {
	e := newEnv(t, sim.Faults{})
	p, err := e.c.Create(ctx(t), createSpec("new-pool"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "new-pool" || p.ID == 0 || p.Max != 4 || p.Standby != 1 || p.TTLMinutes != 20 || p.OS != pool.Linux || p.ScaleSet == nil ||
		!strings.HasSuffix(p.ScaleSet.Image.ID, "/versions/1.2.0") || !p.ScaleSet.EphemeralOSDisk || p.ScaleSet.Tags["team"] != "build" {
		t.Errorf("created %+v, scale set %+v", p, p.ScaleSet)
	}
	// The scale set as Azure holds it has what Azure DevOps requires.
	req, _ := http.NewRequest("GET", e.srv.URL+p.ScaleSetID+"?api-version=2024-11-01", nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ss struct {
		Properties struct {
			OrchestrationMode        string `json:"orchestrationMode"`
			Overprovision            *bool  `json:"overprovision"`
			SinglePlacementGroup     *bool  `json:"singlePlacementGroup"`
			PlatformFaultDomainCount int    `json:"platformFaultDomainCount"`
			UpgradePolicy            struct {
				Mode string `json:"mode"`
			} `json:"upgradePolicy"`
			VirtualMachineProfile struct {
				StorageProfile struct {
					OSDisk struct {
						Caching          string `json:"caching"`
						DiffDiskSettings *struct {
							Option string `json:"option"`
						} `json:"diffDiskSettings"`
					} `json:"osDisk"`
				} `json:"storageProfile"`
				NetworkProfile struct {
					NetworkInterfaceConfigurations []struct {
						Properties struct {
							IPConfigurations []struct {
								Properties map[string]any `json:"properties"`
							} `json:"ipConfigurations"`
						} `json:"properties"`
					} `json:"networkInterfaceConfigurations"`
				} `json:"networkProfile"`
			} `json:"virtualMachineProfile"`
		} `json:"properties"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ss)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	pr := ss.Properties
	if pr.OrchestrationMode != "Uniform" || pr.Overprovision == nil || *pr.Overprovision || pr.SinglePlacementGroup == nil || *pr.SinglePlacementGroup ||
		pr.PlatformFaultDomainCount != 1 || pr.UpgradePolicy.Mode != "Manual" ||
		pr.VirtualMachineProfile.StorageProfile.OSDisk.Caching != "ReadOnly" || pr.VirtualMachineProfile.StorageProfile.OSDisk.DiffDiskSettings == nil {
		t.Errorf("scale set properties: %+v", pr)
	}
	for _, nic := range pr.VirtualMachineProfile.NetworkProfile.NetworkInterfaceConfigurations {
		for _, ip := range nic.Properties.IPConfigurations {
			if _, ok := ip.Properties["loadBalancerBackendAddressPools"]; ok {
				t.Errorf("scale set has a load balancer: %v", ip.Properties)
			}
		}
	}
	ps, err := e.c.List(ctx(t), pool.ListOptions{})
	if err != nil || len(ps) != 4 {
		t.Fatalf("after create: %d pools, %v", len(ps), err)
	}
	_ = byName(t, ps, "new-pool")

	_, err = e.c.Create(ctx(t), createSpec("linux-ci"))
	kindIs(t, err, pool.KindConflict, `a pool named "linux-ci" already exists`)
	// A scale set of the name that poolbot did not make for this pool is
	// left alone; one left over from an earlier attempt is used.
	cl, err := e.c.scaleSetsClient(sim.Subscription)
	if err != nil {
		t.Fatal(err)
	}
	for name, tag := range map[string]string{"someone-elses": "", "leftover": "leftover"} {
		m := scaleSetModel(createSpec(name), pool.Image{ID: galleryImage("ubuntu22") + "/versions/1.0.0"})
		m.Tags = map[string]*string{}
		if tag != "" {
			m.Tags["poolbot-pool"] = &tag
		}
		poller, err := cl.BeginCreateOrUpdate(ctx(t), sim.ResourceGroup, name, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := poller.PollUntilDone(ctx(t), nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.c.Create(ctx(t), createSpec("someone-elses"))
	kindIs(t, err, pool.KindConflict, "a scale set named someone-elses already exists")
	if p, err := e.c.Create(ctx(t), createSpec("leftover")); err != nil || !strings.HasSuffix(p.ScaleSet.Image.ID, "1.2.0") {
		t.Errorf("create over a leftover scale set: %+v, %v", p, err)
	}
	bad := createSpec("bad pool!")
	bad.Max, bad.Standby = 1, 3
	_, err = e.c.Create(ctx(t), bad)
	kindIs(t, err, pool.KindInvalid, "standby (3) cannot be more than max (1)")
}

// When the answer to the pool creation is lost, Create looks the pool up
// instead of creating it a second time.
func TestCreateAnswerLost(t *testing.T) {
	e := newEnv(t, sim.Faults{})
	var posts int
	e.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "elasticpools") {
			return false
		}
		posts++
		if posts > 1 {
			return false
		}
		e.sim.ServeHTTP(httptest.NewRecorder(), r) // created…
		panic(http.ErrAbortHandler)                // …but the answer never arrives
	}
	p, err := e.c.Create(ctx(t), createSpec("lost-answer"))
	if err != nil {
		t.Fatal(err)
	}
	if posts != 1 || p.Name != "lost-answer" || p.ID == 0 {
		t.Errorf("posts %d, pool %+v", posts, p)
	}
	n := 0
	for _, name := range e.sim.PoolNames() {
		if name == "lost-answer" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("simulator has %d pools named lost-answer", n)
	}
}

func TestNodesReimageDelete(t *testing.T) {
	e := newEnv(t, sim.Faults{})
	nodes, err := e.c.Nodes(ctx(t), "linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	var idle []int
	for _, n := range nodes {
		if n.State == pool.NodeIdle {
			idle = append(idle, n.ID)
		}
	}
	if len(idle) < 2 {
		t.Fatalf("need two idle nodes, have %v", nodes)
	}
	if err := e.c.ReimageNodes(ctx(t), "linux-ci", idle[:1]); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeleteNodes(ctx(t), "linux-ci", idle[1:2]); err != nil {
		t.Fatal(err)
	}
	after, err := e.c.Nodes(ctx(t), "linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]pool.NodeState{}
	for _, n := range after {
		got[n.ID] = n.State
	}
	if got[idle[0]] != pool.NodePendingReimage || got[idle[1]] != pool.NodePendingDelete {
		t.Errorf("node states after reimage/delete: %v", got)
	}
	kindIs(t, e.c.DeleteNodes(ctx(t), "linux-ci", []int{999999}), pool.KindNotFound, "no node 999999")
	kindIs(t, e.c.ReimageNodes(ctx(t), "linux-ci", nil), pool.KindInvalid, "no nodes")
}

func TestLogs(t *testing.T) {
	e := newEnv(t, sim.Faults{})
	e.sim.Advance(24 * time.Hour) // gpu-nightly fails overnight
	logs, err := e.c.Logs(ctx(t), "gpu-nightly", 0)
	if err != nil {
		t.Fatal(err)
	}
	errs := 0
	for i, l := range logs {
		if i > 0 && l.ID <= logs[i-1].ID {
			t.Fatalf("logs not oldest first: %v", logs)
		}
		if l.Level == "error" {
			errs++
		}
	}
	if len(logs) == 0 || errs == 0 {
		t.Fatalf("gpu-nightly: %d logs, %d errors", len(logs), errs)
	}
	last := logs[len(logs)-1].ID
	more, err := e.c.Logs(ctx(t), "gpu-nightly", last)
	if err != nil || len(more) != 0 {
		t.Errorf("after the last id: %v, %v", more, err)
	}
	mid := logs[len(logs)/2].ID
	if some, _ := e.c.Logs(ctx(t), "gpu-nightly", mid); len(some) == 0 || some[0].ID <= mid {
		t.Errorf("after %d: %v", mid, some)
	}
}

func TestRejectedPAT(t *testing.T) {
	e := newEnv(t, sim.Faults{}, func(o *Options) { o.PAT = sim.RejectedPAT })
	_, err := e.c.List(ctx(t), pool.ListOptions{})
	pe := kindIs(t, err, pool.KindAuth, "Azure DevOps rejected the credentials (PAT expired or revoked?)")
	if strings.Contains(pe.Error(), sim.RejectedPAT) || strings.Contains(e.logs.String(), sim.RejectedPAT) {
		t.Error("the PAT leaked into an error or a log")
	}
}

// Entra ID tokens are fetched by azcore's bearer token policy, cached while
// valid and replaced once they are not. (It also replaces a token 5 minutes
// before it expires, at most every 30 s, on the real clock, which it reads
// itself: the test hands it a token that has expired, then tokens good for
// an hour.)
func TestTokenRefresh(t *testing.T) {
	cred := &fakeCredential{clock: clock.Real{}, lifetime: time.Hour, first: -time.Second}
	e := newEnv(t, sim.Faults{}, func(o *Options) { o.PAT = ""; o.DevOpsCredential = cred })
	list := func() {
		t.Helper()
		if _, err := e.c.List(ctx(t), pool.ListOptions{Nodes: true}); err != nil {
			t.Fatal(err)
		}
	}
	list()
	list()
	seen := e.seenAuth()
	if seen[0] != "Bearer token-1" || seen[len(seen)-1] != "Bearer token-2" || cred.n.Load() != 2 {
		t.Errorf("simulator saw %v first and %v last; %d tokens fetched, want the expired one and one more",
			seen[0], seen[len(seen)-1], cred.n.Load())
	}
	if strings.Contains(e.logs.String(), "token-") {
		t.Error("a token leaked into the logs")
	}
}

func TestRetriesUnderFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults sim.Faults
		check  func(t *testing.T, st Stats, calls map[string]int)
	}{
		{"429", sim.Faults{Rate429: 0.3, RetryAfter: 2 * time.Millisecond}, func(t *testing.T, st Stats, calls map[string]int) {
			if calls["fault:429"] == 0 || st.DevOps.Throttled == 0 || st.DevOps.Retries == 0 || st.ResourceManager.Throttled == 0 || st.ResourceManager.Retries == 0 {
				t.Errorf("stats %+v, calls %v", st, calls)
			}
		}},
		{"5xx", sim.Faults{Rate5xx: 0.3}, func(t *testing.T, st Stats, calls map[string]int) {
			if calls["fault:5xx"] == 0 || st.DevOps.Retries == 0 || st.ResourceManager.Retries == 0 {
				t.Errorf("stats %+v, calls %v", st, calls)
			}
		}},
		{"dropped connections", sim.Faults{RateDrop: 0.2}, func(t *testing.T, st Stats, calls map[string]int) {
			if calls["fault:drop"] == 0 || st.DevOps.Retries == 0 {
				t.Errorf("stats %+v, calls %v", st, calls)
			}
		}},
		{"latency", sim.Faults{Latency: 20 * time.Millisecond}, func(t *testing.T, st Stats, calls map[string]int) {
			if st.DevOps.Retries != 0 {
				t.Errorf("stats %+v", st)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.faults)
			// Three rounds at least; while a side has seen no fault yet (a
			// scale set's few ARM calls can all be spared at 30%), a few
			// more, so that the check judges retries, not luck.
			for round := 0; round < 3 || (round < 30 && tt.faults.Latency == 0 && e.c.Stats().ResourceManager.Retries == 0); round++ {
				ps, err := e.c.List(ctx(t), pool.ListOptions{Nodes: true, Queue: true, ScaleSets: true})
				if err != nil {
					t.Fatal(err)
				}
				if len(ps) != 3 || byName(t, ps, "linux-ci").ScaleSet == nil {
					t.Fatalf("pools %+v", ps)
				}
			}
			if _, err := e.c.Update(ctx(t), pool.Pool{Name: "windows-ci"}, pool.Settings{Standby: pool.Int(0)}); err != nil {
				t.Fatal(err)
			}
			tt.check(t, e.c.Stats(), e.sim.Calls())
			// Every request sent is counted once, retries included: what
			// poolbot_api_calls_total reports is what Azure DevOps saw. (A
			// dropped connection can be sent again by net/http itself.)
			if tt.faults.RateDrop == 0 {
				sent := 0
				for k, n := range e.sim.Calls() {
					if strings.HasPrefix(k, "ado.") {
						sent += n
					}
				}
				if got := e.c.Stats().DevOps.Calls; got != int64(sent) {
					t.Errorf("counted %d Azure DevOps calls; the simulator had %d", got, sent)
				}
			}
		})
	}
}

// Retry-After is waited out on the client's clock before the call is sent
// again, and a cancelled context ends the wait.
func TestRetryAfterHonoured(t *testing.T) {
	fc := clock.NewFake(simStart)
	e := newEnv(t, sim.Faults{Rate429: 1, RetryAfter: 30 * time.Second}, func(o *Options) { o.Clock = fc })
	done := make(chan error, 1)
	go func() {
		_, err := e.c.Nodes(ctx(t), "linux-ci")
		done <- err
	}()
	fc.WaitFor(1)
	e.sim.SetFaults(sim.Faults{})
	fc.Advance(29 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("finished (%v) before Retry-After passed", err)
	default:
	}
	if n := e.sim.Calls()["fault:429"]; n != 1 {
		t.Fatalf("%d throttled calls while waiting", n)
	}
	fc.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A Retry-After longer than poolbot waits comes back as "throttled".
	e.sim.SetFaults(sim.Faults{Rate429: 1, RetryAfter: 5 * time.Minute})
	_, err := e.c.Nodes(ctx(t), "linux-ci")
	pe := kindIs(t, err, pool.KindThrottled, "Azure DevOps is throttling poolbot until 09:05:30 UTC")
	if pe.RetryAfter != 5*time.Minute {
		t.Errorf("RetryAfter %v", pe.RetryAfter)
	}

	fc.Advance(5 * time.Minute) // that throttle ends
	c, cancel := context.WithCancel(context.Background())
	e.sim.SetFaults(sim.Faults{Rate429: 1, RetryAfter: 30 * time.Second})
	go func() {
		_, err := e.c.Nodes(c, "linux-ci")
		done <- err
	}()
	fc.WaitFor(1)
	cancel()
	kindIs(t, <-done, pool.KindUnavailable, "cancelled")
}

// Latency is paid Concurrency calls at a time, and a deadline ends a slow
// call with a plain message.
func TestLatencyAndDeadline(t *testing.T) {
	e := newEnv(t, sim.Faults{Latency: 50 * time.Millisecond}, func(o *Options) { o.Concurrency = 8 })
	start := time.Now()
	if _, err := e.c.List(ctx(t), pool.ListOptions{Nodes: true, Queue: true, ScaleSets: true}); err != nil {
		t.Fatal(err)
	}
	// Sequentially: OPTIONS, list, names, then 9 calls at once; 12 × 50 ms
	// one after another would be 600 ms.
	if d := time.Since(start); d > 450*time.Millisecond {
		t.Errorf("listing took %v; the per-pool calls did not overlap", d)
	}
	c, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := e.c.Get(c, "linux-ci")
	kindIs(t, err, pool.KindUnavailable, "timed out")
}
