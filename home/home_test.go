package home

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/cost"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
	"github.com/poolbot/poolbot/store/sqlite"
)

const wait = 5 * time.Second

var start = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) // a Monday morning

var roles = []commands.Grant{
	{Role: "viewer", Users: []string{"UV", "UL"}},
	{Role: "operator", Users: []string{"UO"}},
	{Role: "operator", Users: []string{"UL"}, Pools: []string{"linux-*"}},
	{Role: "admin", Users: []string{"UA"}},
	{Role: "viewer", Channels: []string{"C-ops"}},
}

var templates = []commands.Template{{Name: "linux", OS: "linux", SKU: "Standard_D2s_v5", Region: sim.Region,
	Image: "Canonical:ubuntu:22_04-lts:latest", Standby: 1, Max: 4,
	SubnetID: "/subscriptions/x/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/agents"}}

// schedule is a scheduler whose next changes are given; it holds nothing.
type schedule struct {
	commands.Scheduler
	next []pool.Change
}

func (s *schedule) Next(_ context.Context, name string, n int) ([]pool.Change, error) {
	if name != "linux-ci" {
		return nil, nil
	}
	return s.next[:min(n, len(s.next))], nil
}

func (s *schedule) Daytime(_ context.Context, name string) (pool.Settings, bool, error) {
	return pool.Settings{Standby: pool.Int(3)}, name == "linux-ci", nil
}

// costs is a cost source of fixed figures.
type costs struct{}

func (costs) Today(context.Context, string) (float64, string, bool) { return 12.5, "USD", true }
func (costs) DailyCosts(_ context.Context, _ string, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i)
	}
	return out
}

type rig struct {
	sim   *sim.Sim
	h     *Home
	stub  *slackstub.Stub
	store *sqlite.Store
	sched *schedule
	clk   *clock.Fake
}

// newRig is the Home tab on the simulator, a SQLite store, the real
// commands handler's roles and the Slack stub.
func newRig(t testing.TB, mod ...func(*Options)) *rig {
	t.Helper()
	ctx := context.Background()
	s := sim.New(sim.Options{Start: start, Seed: 1})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	svc, err := azure.New(ctx, azure.Options{OrganizationURL: srv.URL + "/contoso", PAT: "x", ResourceManagerURL: srv.URL,
		ARMCredential: azure.StaticCredential("t"), Subscription: sim.Subscription, ResourceGroup: sim.ResourceGroup, Clock: s})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	stub := slackstub.New()
	t.Cleanup(stub.Close)
	clk := clock.NewFake(start)
	paris, _ := time.LoadLocation("Europe/Paris")
	sched := &schedule{next: []pool.Change{
		{At: time.Date(2026, 1, 5, 20, 0, 0, 0, paris), Pool: "linux-ci", Schedule: "office-hours", Settings: pool.Settings{Standby: pool.Int(0)}},
		{At: time.Date(2026, 1, 6, 7, 45, 0, 0, paris), Pool: "linux-ci", Schedule: "office-hours", Settings: pool.Settings{Standby: pool.Int(3)}},
	}}
	cmds, err := commands.New(commands.Options{Service: svc, Changer: change.New(svc, st, clk, nil), Store: st, Roles: roles, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Slack: slack.New("xoxb-test", slack.OptionAPIURL(stub.APIURL())), Roles: cmds, Service: svc, Store: st,
		Scheduler: sched, Cost: costs{}, Templates: templates, Clock: clk,
		PoolURL: func(p pool.Pool) string { return "https://dev.azure.com/contoso/_settings/agentpools?poolId=" + p.Name }}
	for _, m := range mod {
		m(&o)
	}
	h := New(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = h.Idle(ctx)
	})
	return &rig{sim: s, h: h, stub: stub, store: st, sched: sched, clk: clk}
}

func viewOf(t *testing.T, r *rig, user string) slackstub.View {
	t.Helper()
	n := len(r.stub.HomeViews(user))
	r.h.Opened(context.Background(), commands.Request{UserID: user})
	hs, err := r.stub.WaitForHome(user, n+1, wait)
	if err != nil {
		t.Fatal(err)
	}
	return hs[n]
}

// summary lists a view's pool sections and buttons, one line each.
func summary(t *testing.T, v slackstub.View) (pools, buttons []string) {
	t.Helper()
	bs, err := v.Blocks()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs.BlockSet {
		switch b := b.(type) {
		case *slack.SectionBlock:
			if name, ok := strings.CutPrefix(b.BlockID, "pool."); ok {
				pools = append(pools, name)
			}
		case *slack.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					buttons = append(buttons, btn.ActionID+" "+btn.Value)
				}
			}
		}
	}
	return pools, buttons
}

// Each user's Home tab shows the pools they may see and the buttons their
// role allows there: the commands' own grants, per pool.
func TestViewByRole(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if err := r.store.PutAlert(ctx, pool.Alert{Key: "gpu-nightly/failed-nodes", Pool: "gpu-nightly", Condition: "failed-nodes",
		Severity: "critical", Firing: true, Summary: "2 failed VMs"}); err != nil {
		t.Fatal(err)
	}
	if err := r.store.PutMute(ctx, pool.Mute{Pool: "gpu-nightly", Condition: "error-logs", Until: start.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// windows-ci was scaled down: up knows what to bring back.
	if _, err := r.store.SaveSettings(ctx, pool.Saved{Pool: "windows-ci", Settings: pool.Settings{Standby: pool.Int(1)}}); err != nil {
		t.Fatal(err)
	}
	all := []string{"gpu-nightly", "linux-ci", "windows-ci"}
	tests := []struct {
		user    string
		pools   []string
		buttons []string // those expected; and none on a pool not listed here
		on      []string // the pools with buttons
	}{
		{"UV", all, nil, nil},
		{"UL", all, []string{ActUp + " linux-ci", ActHold + " linux-ci", ActSkip + " linux-ci", ActOpen + " linux-ci"}, []string{"linux-ci"}},
		{"UO", all, []string{ActDown + " windows-ci", ActMute + " gpu-nightly", ActStandby + " linux-ci", ActUp + " windows-ci"}, all},
		{"UA", all, []string{ActCreate + " "}, all},
		{"U-nobody", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			v := viewOf(t, r, tt.user)
			pools, buttons := summary(t, v)
			slices.Sort(pools)
			if !slices.Equal(pools, tt.pools) {
				t.Errorf("pools %v, want %v", pools, tt.pools)
			}
			for _, b := range tt.buttons {
				if !slices.Contains(buttons, b) {
					t.Errorf("no button %q in %v", b, buttons)
				}
			}
			for _, b := range buttons {
				_, p, _ := strings.Cut(b, " ")
				if p != "" && !slices.Contains(tt.on, p) {
					t.Errorf("button %q on a pool the role does not allow", b)
				}
				if strings.HasPrefix(b, ActCreate) && tt.user != "UA" {
					t.Errorf("create offered to %s", tt.user)
				}
				if strings.HasPrefix(b, ActHold) && p != "linux-ci" {
					t.Errorf("a hold offered on unscheduled %s", p)
				}
				if b == ActUp+" gpu-nightly" {
					t.Error("Up offered on gpu-nightly, which has no schedule and no saved settings")
				}
			}
			js := string(v.JSON)
			if tt.pools != nil {
				for _, want := range []string{cost.Sparkline(costs{}.DailyCosts(ctx, "", 14)), "$12.50", "20:00 CET → standby=0", "2 failed VMs", "error-logs muted until"} {
					if !strings.Contains(js, want) {
						t.Errorf("the tab lacks %q", want)
					}
				}
			} else if !strings.Contains(js, "no role") {
				t.Errorf("a user with no role is not told so: %s", js)
			}
		})
	}
}

// blockingSlack holds every views.publish until released, counting them.
type blockingSlack struct {
	Slack
	mu      sync.Mutex
	calls   []string
	started chan struct{}
	release chan struct{}
	fail    error // returned once, when set
}

func (b *blockingSlack) PublishViewContext(ctx context.Context, req slack.PublishViewContextRequest) (*slack.ViewResponse, error) {
	b.mu.Lock()
	b.calls = append(b.calls, req.UserID)
	err := b.fail
	b.fail = nil
	b.mu.Unlock()
	b.started <- struct{}{}
	<-b.release
	return &slack.ViewResponse{}, err
}

func (b *blockingSlack) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}

// Refreshes that come while a user's tab is being published make one more
// publish, not one each; other users' tabs are not held up.
func TestRefreshCoalesces(t *testing.T) {
	bs := &blockingSlack{started: make(chan struct{}, 16), release: make(chan struct{})}
	r := newRig(t, func(o *Options) { o.Slack = bs })
	u := commands.Request{UserID: "UO"}
	r.h.Refresh(u)
	<-bs.started
	for range 10 {
		r.h.Refresh(u)
	}
	r.h.Refresh(commands.Request{UserID: "UV"})
	<-bs.started // UV's, while UO's is still under way
	bs.release <- struct{}{}
	bs.release <- struct{}{}
	<-bs.started // UO's second
	bs.release <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.h.Idle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := bs.count(); n != 3 {
		t.Errorf("%d publishes for 11 refreshes of one user and 1 of another, want 3", n)
	}
}

// Publishes keep within views.publish's rate (a burst, then one per
// 60/PerMinute s on the clock) and wait out a 429's Retry-After.
func TestPublishRate(t *testing.T) {
	r := newRig(t, func(o *Options) { o.PerMinute, o.Burst = 60, 2 })
	for _, u := range []string{"U1", "U2", "U3"} {
		r.h.Refresh(commands.Request{UserID: u})
	}
	r.clk.WaitFor(1) // one of them waits for a token
	published := func() int {
		n := 0
		for _, u := range []string{"U1", "U2", "U3"} {
			n += len(r.stub.HomeViews(u))
		}
		return n
	}
	deadline := time.Now().Add(wait)
	for published() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // a real hand-off to the publishing goroutines, bounded above
	}
	if n := published(); n != 2 {
		t.Fatalf("%d publishes before the clock moved, want the burst of 2", n)
	}
	r.clk.Advance(time.Second)
	for _, u := range []string{"U1", "U2", "U3"} {
		if _, err := r.stub.WaitForHome(u, 1, wait); err != nil {
			t.Fatal(err)
		}
	}

	r.stub.RateLimit(1, 30*time.Second, "views.publish")
	r.clk.Advance(time.Minute) // tokens again
	r.h.Refresh(commands.Request{UserID: "U1"})
	r.clk.WaitFor(1) // waiting out Retry-After
	if n := r.stub.Calls("views.publish"); n != 4 {
		t.Errorf("%d views.publish calls, want 4 (3 and one refused)", n)
	}
	r.clk.Advance(30 * time.Second)
	if _, err := r.stub.WaitForHome("U1", 2, wait); err != nil {
		t.Fatal(err)
	}
}

// Wrap opens the create form for `/pool create` typed without arguments by
// an admin, and refreshes the Home tab after a command that may change
// something, never after a read.
func TestWrap(t *testing.T) {
	r := newRig(t)
	var ran []string
	next := handlerFunc(func(_ context.Context, req commands.Request, resp commands.Responder) error {
		ran = append(ran, req.Text)
		return resp.Respond(context.Background(), commands.Reply{Text: "ok"})
	})
	w := r.h.Wrap(next)
	ctx := context.Background()
	rec := &replies{}
	run := func(user, text string, trigger bool) {
		t.Helper()
		req := commands.Request{UserID: user, Text: text, Source: "slack"}
		if trigger {
			req.TriggerID = r.stub.Trigger(user)
		}
		if err := w.Handle(ctx, req, rec); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		if err := r.h.Idle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run("UA", "create", true)
	if ms := r.stub.Modals(); len(ms) != 1 || ms[0].CallbackID != FormCreate || ms[0].User != "UA" || len(ran) != 0 {
		t.Errorf("create without arguments: modals %+v, commands run %v", ms, ran)
	}
	run("UO", "create", true)  // not an admin: the command says so
	run("UA", "create", false) // the console: no trigger, no form
	if len(r.stub.Modals()) != 1 || len(ran) != 2 {
		t.Errorf("create by an operator or without a trigger: %d modals, commands %v", len(r.stub.Modals()), ran)
	}
	for _, text := range []string{"list", "status linux-ci", "help", "history"} {
		run("UO", text, true)
	}
	if n := len(r.stub.HomeViews("UO")); n != 1 { // the create above
		t.Errorf("reads refreshed the Home tab: %d publishes", n)
	}
	run("UO", "standby linux-ci 1", true)
	if n := len(r.stub.HomeViews("UO")); n != 2 {
		t.Errorf("a change made %d publishes, want one more", n-1)
	}
}

type handlerFunc func(ctx context.Context, req commands.Request, resp commands.Responder) error

func (f handlerFunc) Handle(ctx context.Context, req commands.Request, resp commands.Responder) error {
	return f(ctx, req, resp)
}

type replies struct{ all []commands.Reply }

func (r *replies) Respond(_ context.Context, rep commands.Reply) error {
	r.all = append(r.all, rep)
	return nil
}

// Answers to the tab's commands go to the user's messages with poolbot; a
// reply that replaces the original edits the message posted before.
func TestResponder(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	resp := r.h.Responder("UO")
	if err := resp.Respond(ctx, commands.Reply{Text: "Create linux-new?"}); err != nil {
		t.Fatal(err)
	}
	if err := resp.Respond(ctx, commands.Reply{Text: "Creating linux-new…", ReplaceOriginal: true}); err != nil {
		t.Fatal(err)
	}
	ms, us := r.stub.Messages(), r.stub.Updates()
	if len(ms) != 1 || ms[0].Channel != "UO" || ms[0].Text != "Create linux-new?" {
		t.Fatalf("posted %+v", ms)
	}
	if len(us) != 1 || us[0].TS != ms[0].TS || us[0].Text != "Creating linux-new…" {
		t.Errorf("updated %+v", us)
	}

	// A change is announced in the channel, when there is one.
	r.h.o.Channel = "C-pools"
	if err := resp.Respond(ctx, commands.Reply{Text: "<@UO> created pool linux-new", InChannel: true}); err != nil {
		t.Fatal(err)
	}
	if ms := r.stub.Messages(); len(ms) != 2 || ms[1].Channel != "C-pools" {
		t.Errorf("announced %+v", ms)
	}
}
