package managed_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/managed"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/pool/servicetest"
	"github.com/poolbot/poolbot/sim"
)

// A Saturday, so that only standby brings agents up.
var simStart = time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)

type env struct {
	sim *sim.Sim
	srv *httptest.Server
	az  *azure.Client
	c   *managed.Client

	mu      sync.Mutex
	methods []string // PATCH and PUT bodies seen, in order
	bodies  []string
}

func (e *env) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPatch || r.Method == http.MethodPut {
		var b strings.Builder
		body := http.MaxBytesReader(w, r.Body, 1<<20)
		buf := make([]byte, 4096)
		for {
			n, err := body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		e.mu.Lock()
		e.methods = append(e.methods, r.Method)
		e.bodies = append(e.bodies, b.String())
		e.mu.Unlock()
		r.Body = readCloser{strings.NewReader(b.String())}
	}
	e.sim.ServeHTTP(w, r)
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func (e *env) lastBody() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.bodies) == 0 {
		return ""
	}
	return e.bodies[len(e.bodies)-1]
}

func newEnv(t testing.TB, opt ...func(*managed.Options)) *env {
	t.Helper()
	e := &env{sim: sim.New(sim.Options{Start: simStart, Seed: 1})}
	e.sim.AddManagedPool(sim.ManagedSpec{Name: "mdp-linux", Max: 4, Standby: 1})
	e.srv = httptest.NewServer(e)
	t.Cleanup(e.srv.Close)
	az, err := azure.New(context.Background(), azure.Options{
		OrganizationURL: e.srv.URL + "/contoso", PAT: "pat", ResourceManagerURL: e.srv.URL,
		ARMCredential: azure.StaticCredential("arm-token"),
		Retry:         azure.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxAttempts: 6},
		PollInterval:  time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.az = az
	o := managed.Options{
		Credential:     az.ARMCredential(),
		ARM:            az.ARMOptions(),
		ResourceGroups: []string{"/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup},
		PollInterval:   time.Millisecond,
		Now:            e.sim.Now,
	}
	for _, f := range opt {
		f(&o)
	}
	c, err := managed.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return e
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

const gallery = "/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup + "/providers/Microsoft.Compute/galleries/" + sim.Gallery + "/images/"

func TestConformance(t *testing.T) {
	servicetest.Run(t, func(t *testing.T) servicetest.Env {
		e := newEnv(t)
		return servicetest.Env{Service: e.c, Pool: "mdp-linux", Advance: e.sim.Advance,
			Image:   pool.Image{ID: gallery + "ubuntu22/versions/1.2.0"},
			Missing: pool.Image{ID: gallery + "nope/versions/1.0.0"}}
	})
}

func kindIs(t *testing.T, err error, k pool.Kind, msg string) {
	t.Helper()
	var pe *pool.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *pool.Error", err, err)
	}
	if pe.Kind != k || !strings.Contains(pe.Error(), msg) {
		t.Errorf("error %q kind %d, want kind %d containing %q", pe.Error(), pe.Kind, k, msg)
	}
}

func TestStatusSaysKindAndStandbyOwner(t *testing.T) {
	e := newEnv(t)
	p, err := e.c.Get(ctx(t), "mdp-linux")
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != "managed" || p.StandbyBy != "poolbot" || p.Standby != 1 || p.Max != 4 || !p.Recycle {
		t.Errorf("Get = kind %q standby by %q standby %d max %d recycle %t", p.Kind, p.StandbyBy, p.Standby, p.Max, p.Recycle)
	}
	if p.ScaleSetID != sim.ManagedPoolID("mdp-linux") || p.ScaleSet.Image.ID != "ubuntu-22.04/latest" {
		t.Errorf("Get = id %q image %v", p.ScaleSetID, p.ScaleSet.Image)
	}
}

// A PATCH sends only what changed, and fields poolbot does not know survive.
func TestUpdatePatchesOnlyWhatChanges(t *testing.T) {
	e := newEnv(t)
	if _, err := e.c.Update(ctx(t), pool.Pool{Name: "mdp-linux"}, pool.Settings{Max: pool.Int(3)}); err != nil {
		t.Fatal(err)
	}
	if got := e.lastBody(); got != `{"properties":{"maximumConcurrency":3}}` {
		t.Errorf("PATCH body = %s", got)
	}
	if _, err := e.c.Update(ctx(t), pool.Pool{Name: "mdp-linux"}, pool.Settings{Recycle: pool.Bool(false), TTLMinutes: pool.Int(45)}); err != nil {
		t.Fatal(err)
	}
	res, _ := e.sim.ManagedResource("mdp-linux")
	ap := res["properties"].(map[string]any)["agentProfile"].(map[string]any)
	if ap["kind"] != "Stateful" || ap["gracePeriodTimeSpan"] != "00:45:00" || ap["resourcePredictionsProfile"] == nil {
		t.Errorf("agentProfile after recycle=false ttl=45: %v", ap)
	}
	fp := res["properties"].(map[string]any)["fabricProfile"].(map[string]any)
	if fp["osProfile"] == nil || fp["storageProfile"] == nil {
		t.Errorf("fields poolbot does not know were lost: %v", fp)
	}
	p, _ := e.c.Get(ctx(t), "mdp-linux")
	if p.TTLMinutes != 45 || p.Recycle {
		t.Errorf("Get after: ttl %d recycle %t", p.TTLMinutes, p.Recycle)
	}
}

// Another tool's daysData week is refused unless the pool is claimed.
func TestForeignDaysDataIsNotOverwritten(t *testing.T) {
	for _, claimed := range []bool{false, true} {
		e := newEnv(t, func(o *managed.Options) { o.Claimed = func(string) bool { return claimed } })
		// Another tool writes a weekday scheme.
		week := []map[string]int{{}, {"08:00:00": 2, "18:00:00": 0}, {}, {}, {}, {}, {}}
		foreign, _ := managed.New(managed.Options{Credential: e.az.ARMCredential(), ARM: e.az.ARMOptions(),
			Pools: []string{sim.ManagedPoolID("mdp-linux")}, PollInterval: time.Millisecond, Now: e.sim.Now,
			Claimed: func(string) bool { return true }})
		if err := foreign.SetScheme(ctx(t), "mdp-linux", managed.Scheme{Days: week, TimeZone: "UTC"}); err != nil {
			t.Fatal(err)
		}
		// That tool is not poolbot: drop poolbot's tag as it would have none.
		e.sim.ClearManagedTag("mdp-linux", "poolbot-standby")
		p, _ := e.c.Get(ctx(t), "mdp-linux")
		if !strings.Contains(p.StandbyBy, "outside poolbot") {
			t.Errorf("standby by %q, want the service, written outside poolbot", p.StandbyBy)
		}
		_, err := e.c.Update(ctx(t), pool.Pool{Name: "mdp-linux"}, pool.Settings{Standby: pool.Int(3)})
		after, _ := e.sim.ManagedResource("mdp-linux")
		days := after["properties"].(map[string]any)["agentProfile"].(map[string]any)["resourcePredictions"].(map[string]any)["daysData"].([]any)
		if claimed {
			if err != nil || len(days) != 1 {
				t.Errorf("claimed: Update = %v, daysData %v; want poolbot's all-week value", err, days)
			}
			continue
		}
		kindIs(t, err, pool.KindConflict, "would overwrite")
		if len(days) != 7 {
			t.Errorf("a refused standby changed the scheme: %v", days)
		}
	}
}

// A schedule hands standby to the service; commands then leave it alone.
func TestHandedOverStandbyIsTheService(t *testing.T) {
	e := newEnv(t)
	week, err := managed.Week([]managed.Change{{Weekday: time.Monday, Hour: 8, Standby: 2}, {Weekday: time.Monday, Hour: 18}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.SetScheme(ctx(t), "mdp-linux", managed.Scheme{Days: week, TimeZone: "Romance Standard Time"}); err != nil {
		t.Fatal(err)
	}
	p, _ := e.c.Get(ctx(t), "mdp-linux")
	if !strings.Contains(p.StandbyBy, "poolbot's schedule") {
		t.Errorf("standby by %q", p.StandbyBy)
	}
	_, err = e.c.Update(ctx(t), pool.Pool{Name: "mdp-linux"}, pool.Settings{Standby: pool.Int(3)})
	kindIs(t, err, pool.KindConflict, "schedule")
	// What the week holds now (Saturday: Monday's 18:00 entry, 0) is what a
	// schedule entry asks for: nothing to change, nothing refused.
	if _, err := e.c.Update(ctx(t), pool.Pool{Name: "mdp-linux"}, pool.Settings{Standby: pool.Int(0)}); err != nil {
		t.Errorf("standby the week holds: %v", err)
	}
	if err := e.c.SetScheme(ctx(t), "mdp-linux", managed.Scheme{Automatic: true, Preference: "balanced"}); err != nil {
		t.Fatal(err)
	}
	p, _ = e.c.Get(ctx(t), "mdp-linux")
	if !strings.Contains(p.StandbyBy, "Automatic, Balanced") {
		t.Errorf("standby by %q", p.StandbyBy)
	}
	err = e.c.SetScheme(ctx(t), "mdp-linux", managed.Scheme{Automatic: true, Preference: "cheap"})
	kindIs(t, err, pool.KindInvalid, "MostCostEffective")
	// Taking it back: a Manual value.
	if err := e.c.SetScheme(ctx(t), "mdp-linux", managed.Scheme{Standby: 1}); err != nil {
		t.Fatal(err)
	}
	if p, _ = e.c.Get(ctx(t), "mdp-linux"); p.StandbyBy != "poolbot" || p.Standby != 1 {
		t.Errorf("taken back: by %q standby %d", p.StandbyBy, p.Standby)
	}
}

func TestServiceErrorsInWords(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.Update(ctx(t), pool.Pool{Name: "mdp-linux"}, pool.Settings{Max: pool.Int(200)})
	kindIs(t, err, pool.KindQuota, "quota in westeurope")
	p, _ := e.c.Get(ctx(t), "mdp-linux")
	if p.Max != 4 {
		t.Errorf("a refused max changed the pool: %d", p.Max)
	}
	// An operation that fails: the service's code reaches the user.
	_ = e.sim.SetManagedFault("mdp-linux", sim.CodeClusterOutOfCapacity)
	_, err = e.c.Update(ctx(t), pool.Pool{Name: "mdp-linux"}, pool.Settings{Max: pool.Int(3)})
	kindIs(t, err, pool.KindQuota, "no capacity")
	_ = e.sim.SetManagedFault("mdp-linux", "")
	res, _ := e.sim.ManagedResource("mdp-linux")
	if err := e.c.CreateResource(ctx(t), sim.ManagedPoolID("mdp-other"), res); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := e.c.Get(ctx(t), "mdp-other"); err != nil {
		t.Fatal(err)
	}
	err = e.c.CreateResource(ctx(t), sim.ManagedPoolID("mdp-other"), res)
	kindIs(t, err, pool.KindConflict, "already exists")
	err = e.c.CreateResource(ctx(t), "/subscriptions/"+sim.Subscription+"/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/x", res)
	kindIs(t, err, pool.KindInvalid, "not a Managed DevOps Pool")
	_, err = e.c.Queue(ctx(t), "mdp-linux")
	kindIs(t, err, pool.KindInvalid, "Azure DevOps")
	err = e.c.ReimageNodes(ctx(t), "mdp-linux", []int{1})
	kindIs(t, err, pool.KindInvalid, "cannot be reimaged")
}

func TestResourceIDOfAnotherType(t *testing.T) {
	_, err := managed.New(managed.Options{Credential: azure.StaticCredential("x"),
		Pools: []string{"/subscriptions/" + sim.Subscription + "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/linux-ci"}})
	if err == nil || !strings.Contains(err.Error(), "not a Managed DevOps Pool") {
		t.Errorf("New with a scale set id = %v", err)
	}
	_, err = managed.New(managed.Options{Credential: azure.StaticCredential("x"), ResourceGroups: []string{"/subscriptions/x"}})
	if err == nil || !strings.Contains(err.Error(), "not a resource group id") {
		t.Errorf("New with a subscription as resource group = %v", err)
	}
}

func TestNodesPageThroughNextLink(t *testing.T) {
	e := newEnv(t)
	e.sim.AddManagedPool(sim.ManagedSpec{Name: "big", Max: 30, Standby: 30})
	e.sim.Advance(2 * time.Hour)
	nodes, err := e.c.Nodes(ctx(t), "big")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, n := range nodes {
		seen[n.ID] = true
	}
	if len(nodes) != 30 || len(seen) != 30 || pool.Count(nodes).Idle != 30 {
		t.Errorf("nodes %d (distinct ids %d) counts %+v, want 30 idle", len(nodes), len(seen), pool.Count(nodes))
	}
}

func TestUsages(t *testing.T) {
	e := newEnv(t)
	e.sim.Advance(10 * time.Minute)
	us, err := e.c.Usages(ctx(t), sim.Subscription, "westeurope")
	if err != nil {
		t.Fatal(err)
	}
	var dads *managed.Usage
	for i := range us {
		if us[i].Family == "standardDADSv5Family" {
			dads = &us[i]
		}
	}
	if dads == nil || dads.Limit != 80 || dads.Current != 2 {
		t.Errorf("usages = %+v, want DADSv5 2 of 80 (one standby D2ads_v5 agent)", us)
	}
}

// Provisioning failures reach the watcher as error entries naming the
// service's code, each once.
func TestLogsTellFailuresByErrorCode(t *testing.T) {
	e := newEnv(t)
	if logs, err := e.c.Logs(ctx(t), "mdp-linux", 0); err != nil || len(logs) != 0 {
		t.Fatalf("Logs of a healthy pool = %v, %v", logs, err)
	}
	_ = e.sim.SetManagedFault("mdp-linux", sim.CodeClusterOutOfCapacity)
	if _, err := e.c.Update(ctx(t), pool.Pool{Name: "mdp-linux"}, pool.Settings{Standby: pool.Int(0)}); err == nil {
		t.Fatal("an operation on a pool out of capacity succeeded")
	}
	e.sim.AddManagedPool(sim.ManagedSpec{Name: "mdp-gpu", Max: 2, Standby: 2, SKU: "Standard_D4ads_v5"})
	_ = e.sim.SetManagedFault("mdp-gpu", sim.CodeExceedingQuota)
	e.sim.Advance(20 * time.Minute)
	logs, err := e.c.Logs(ctx(t), "mdp-gpu", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) == 0 {
		t.Fatal("no failures reported")
	}
	for i, l := range logs {
		if l.Level != "error" || !strings.Contains(l.Message, "ExceedingQuota (the subscription's Managed DevOps Pools quota") {
			t.Errorf("entry %+v", l)
		}
		if i > 0 && l.ID <= logs[i-1].ID {
			t.Errorf("entries not in ID order: %d after %d", l.ID, logs[i-1].ID)
		}
	}
	if again, _ := e.c.Logs(ctx(t), "mdp-gpu", logs[len(logs)-1].ID); len(again) != 0 {
		t.Errorf("after the last ID: %v", again)
	}
}

// The Router lists both kinds, sends each call to its pool's kind, and
// reads a managed pool's queue from its Azure DevOps agent pool.
func TestRouter(t *testing.T) {
	e := newEnv(t)
	e.sim.AddManagedPool(sim.ManagedSpec{Name: "busy", Max: 1, JobsPerHour: 120})
	r := managed.NewRouter(e.az, e.c)
	ps, err := r.List(ctx(t), pool.ListOptions{Nodes: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name+":"+p.Kind)
	}
	if got := strings.Join(names, ","); got != "gpu-nightly:,linux-ci:,windows-ci:,busy:managed,mdp-linux:managed" {
		t.Errorf("List = %s", got)
	}
	// Monday 10:00 in Paris: jobs arrive faster than one agent runs them.
	e.sim.Advance(48*time.Hour + 30*time.Minute)
	p, err := r.Get(ctx(t), "busy")
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != "managed" || p.Queue < 1 {
		t.Errorf("Get busy: kind %q queue %d, want managed with jobs waiting", p.Kind, p.Queue)
	}
	if q, err := r.Queue(ctx(t), "busy"); err != nil || q != p.Queue {
		t.Errorf("Queue busy = %d, %v; Get said %d", q, err, p.Queue)
	}
	if p, err := r.Get(ctx(t), "linux-ci"); err != nil || p.Kind != "" || p.ID == 0 {
		t.Errorf("Get linux-ci = kind %q id %d, %v", p.Kind, p.ID, err)
	}
	if _, err := r.Update(ctx(t), pool.Pool{Name: "busy"}, pool.Settings{Max: pool.Int(2)}); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.sim.ManagedResource("busy"); res["properties"].(map[string]any)["maximumConcurrency"] != 2.0 {
		t.Errorf("Update through the Router did not reach the managed pool")
	}
	err = r.DeleteNodes(ctx(t), "busy", []int{1})
	kindIs(t, err, pool.KindInvalid, "cannot be deleted")
}

// Calls for elastic pools do not each list the managed pools again.
func TestRouterListsManagedPoolsOnceAMinute(t *testing.T) {
	e := newEnv(t)
	r := managed.NewRouter(e.az, e.c)
	for i := 0; i < 5; i++ {
		if _, err := r.Nodes(ctx(t), "linux-ci"); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.sim.Calls()["mdp.pools.list"]; n != 1 {
		t.Errorf("5 calls for an elastic pool listed the managed pools %d times, want 1", n)
	}
	e.sim.Advance(time.Minute)
	if _, err := r.Nodes(ctx(t), "linux-ci"); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.Calls()["mdp.pools.list"]; n != 2 {
		t.Errorf("a minute later: %d lists, want 2", n)
	}
	// A pool made since is found within the minute.
	e.sim.AddManagedPool(sim.ManagedSpec{Name: "new-mdp", Max: 2})
	e.sim.Advance(time.Minute)
	if _, err := r.Nodes(ctx(t), "new-mdp"); err != nil {
		t.Errorf("a new managed pool: %v", err)
	}
}
