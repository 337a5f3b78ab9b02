package commands

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/pool/pooltest"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackmsg"
	"github.com/poolbot/poolbot/store/memstore"
	"github.com/poolbot/poolbot/store/sqlite"
	"github.com/poolbot/poolbot/watch"
)

// simStart is a Monday morning in Paris, an hour into the working day once
// newEnv has advanced, so that pools have nodes and jobs.
var simStart = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// stack is poolbot's real stack on loopback: the simulator behind an HTTP
// server, the Azure client, a SQLite store, a Changer and a Handler.
// newMemStack makes one on fakes instead, for the commands' own logic.
type stack struct {
	t     testing.TB
	sim   *sim.Sim      // nil in a stack on fakes
	az    *azure.Client // nil in a stack on fakes
	svc   pool.Service
	clk   testClock
	store pool.Store
	ch    *change.Changer
	sched *testScheduler
	h     *Handler
	opts  Options

	mu       sync.Mutex
	observed []string
}

var testRoles = []Grant{
	{Role: "viewer", Users: []string{"U-viewer"}},
	{Role: "operator", Users: []string{"U-operator", "U-operator2"}},
	{Role: "admin", Users: []string{"U-admin", "U-admin2"}},
	{Role: "operator", Groups: []string{"S-linux"}, Pools: []string{"linux-*"}},
	{Role: "viewer", Channels: []string{"C-ops"}},
}

var testTemplates = []Template{{
	Name: "linux", OS: "linux", SKU: "Standard_D2s_v5", Region: sim.Region,
	Image:     "/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup + "/providers/Microsoft.Compute/galleries/" + sim.Gallery + "/images/ubuntu22",
	AdminUser: "azureuser", SSHPublicKey: "ssh-ed25519 AAAA test", Standby: 1, Max: 4, TTLMinutes: 30,
	Tags:                 []string{"team=platform"},
	SubnetID:             "/subscriptions/" + sim.Subscription + "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/agents",
	ServiceEndpointID:    "11111111-1111-1111-1111-111111111111",
	ServiceEndpointScope: "22222222-2222-2222-2222-222222222222",
}}

func newStack(t testing.TB, mod ...func(*Options)) *stack {
	t.Helper()
	ctx := context.Background()
	s := &stack{t: t, sim: sim.New(sim.Options{Start: simStart, Seed: 1})}
	s.sim.Advance(time.Hour)
	srv := httptest.NewServer(s.sim)
	t.Cleanup(srv.Close)
	svc, err := azure.New(ctx, azure.Options{OrganizationURL: srv.URL + "/contoso", PAT: "x", ResourceManagerURL: srv.URL,
		ARMCredential: azure.StaticCredential("t"), Subscription: sim.Subscription, ResourceGroup: sim.ResourceGroup, Clock: s.sim})
	if err != nil {
		t.Fatal(err)
	}
	s.svc, s.az, s.clk = svc, svc, s.sim
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s.store = st
	return s.finish(mod)
}

// testClock is the simulator's clock or a fake one: tests move either.
type testClock interface {
	clock.Clock
	Advance(d time.Duration)
}

// memPools are the simulator's pools as a fake holds them: linux-ci with
// four idle nodes, the others with none.
func memPools() []pool.Pool {
	var nodes []pool.Node
	for id := 1; id <= 4; id++ {
		nodes = append(nodes, pool.Node{ID: id, Name: fmt.Sprintf("linux-ci%06d", id), State: pool.NodeIdle})
	}
	return []pool.Pool{
		{ID: 1, Name: "linux-ci", OS: pool.Linux, State: pool.StateOnline, Standby: 2, Max: 10, TTLMinutes: 30, Queue: -1,
			Nodes: nodes, Counts: pool.Count(nodes)},
		{ID: 2, Name: "windows-ci", OS: pool.Windows, State: pool.StateOnline, Standby: 1, Max: 6, TTLMinutes: 30, Queue: -1},
		{ID: 3, Name: "gpu-nightly", OS: pool.Linux, State: pool.StateOnline, Standby: 0, Max: 2, TTLMinutes: 30, Queue: -1},
	}
}

// newMemStack is the stack on fakes: the pools in memory (memPools: list,
// read, nodes, logs, queue and settings changes), an in-memory store and a
// fake clock at simStart plus an hour, as newStack's.
func newMemStack(t testing.TB, mod ...func(*Options)) *stack {
	t.Helper()
	svc := pooltest.Pools(memPools()...)
	svc.NodesFn = func(ctx context.Context, name string) ([]pool.Node, error) {
		p, err := svc.Get(ctx, name)
		return p.Nodes, err
	}
	svc.QueueFn = func(context.Context, string) (int, error) { return 0, nil }
	nodeOp := func(ctx context.Context, name string, ids []int) error {
		p, err := svc.Get(ctx, name)
		for _, id := range ids {
			if err == nil && !slices.ContainsFunc(p.Nodes, func(n pool.Node) bool { return n.ID == id }) {
				err = &pool.Error{Kind: pool.KindNotFound, Pool: name, Msg: fmt.Sprintf("%s has no node %d", name, id)}
			}
		}
		return err
	}
	svc.ReimageNodesFn, svc.DeleteNodesFn = nodeOp, nodeOp
	clk := clock.NewFake(simStart.Add(time.Hour))
	s := &stack{t: t, svc: svc, clk: clk, store: memstore.New(clk)}
	return s.finish(mod)
}

// finish makes the stack's Changer and Handler, with mod applied to the
// options.
func (s *stack) finish(mod []func(*Options)) *stack {
	t := s.t
	t.Helper()
	s.ch = change.New(s.svc, s.store, s.clk, nil)
	s.sched = newTestScheduler(s.clk)
	s.opts = Options{Service: s.svc, Changer: s.ch, Store: s.store, Scheduler: s.sched, Cost: testCost{},
		Roles: testRoles, Templates: testTemplates, Conditions: watch.Conditions,
		Azure: Azure{Subscription: sim.Subscription, ResourceGroup: sim.ResourceGroup},
		Clock: s.clk,
		Observe: func(command, result string, d time.Duration) {
			s.mu.Lock()
			s.observed = append(s.observed, command+" "+result)
			s.mu.Unlock()
		}}
	for _, m := range mod {
		m(&s.opts)
	}
	h, err := New(s.opts)
	if err != nil {
		t.Fatal(err)
	}
	s.h = h
	return s
}

// replies records what a command answers.
type replies struct {
	mu  sync.Mutex
	all []Reply
}

func (r *replies) Respond(_ context.Context, rep Reply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, rep)
	return nil
}

func (r *replies) last() Reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.all) == 0 {
		return Reply{}
	}
	return r.all[len(r.all)-1]
}

func (r *replies) texts() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b []string
	for _, x := range r.all {
		b = append(b, x.Text)
	}
	return strings.Join(b, "\n---\n")
}

func req(user, text string) Request {
	return Request{UserID: user, UserName: strings.TrimPrefix(user, "U-"), ChannelID: "C-x", Text: text,
		Source: "slack", RequestID: "r-" + user}
}

func (s *stack) run(r Request) *replies {
	s.t.Helper()
	rec := &replies{}
	if err := s.h.Handle(context.Background(), r, rec); err != nil {
		s.t.Fatalf("Handle(%q): %v", r.Text, err)
	}
	if len(rec.all) == 0 {
		s.t.Fatalf("Handle(%q) answered nothing", r.Text)
	}
	for _, rep := range rec.all {
		if rep.Text == "" {
			s.t.Errorf("Handle(%q): a reply without plain text", r.Text)
		}
	}
	return rec
}

// plainOf is a reply's fallback text as a person reads it: Slack's escapes
// undone.
func plainOf(r Reply) string { return slackmsg.Unescape(r.Text) }

func (s *stack) audit(poolName string) []pool.AuditEntry {
	s.t.Helper()
	es, err := s.store.Audit(context.Background(), pool.AuditQuery{Pool: poolName, Limit: 100})
	if err != nil {
		s.t.Fatal(err)
	}
	return es
}

func (s *stack) settings(name string) pool.Pool {
	s.t.Helper()
	p, err := s.ch.Current(context.Background(), name)
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *stack) nodes(name string) []pool.Node {
	s.t.Helper()
	ns, err := s.svc.Nodes(context.Background(), name)
	if err != nil {
		s.t.Fatal(err)
	}
	return ns
}

// testScheduler is an in-memory commands.Scheduler: fixed next changes in
// Paris time, and a record of holds, releases and skips.
type testScheduler struct {
	clk interface{ Now() time.Time }
	loc *time.Location

	mu       sync.Mutex
	holds    map[string]heldAt
	released []string
	skipped  []string
	skips    map[string]time.Time // pool → the instant skipped
	daytime  map[string]pool.Settings
}

type heldAt struct {
	s     pool.Settings
	until time.Time
	by    string
}

func newTestScheduler(clk interface{ Now() time.Time }) *testScheduler {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		loc = time.FixedZone("CET", 3600)
	}
	return &testScheduler{clk: clk, loc: loc, holds: map[string]heldAt{}, skips: map[string]time.Time{},
		daytime: map[string]pool.Settings{"linux-ci": {Standby: pool.Int(3), Max: pool.Int(10)}}}
}

// Next: standby 0 at 19:00 and back at 07:00, Paris time, every day.
func (ts *testScheduler) Next(_ context.Context, name string, n int) ([]pool.Change, error) {
	if name == "gpu-nightly" {
		return nil, nil
	}
	now := ts.clk.Now().In(ts.loc)
	var out []pool.Change
	for d := 0; len(out) < n; d++ {
		day := time.Date(now.Year(), now.Month(), now.Day()+d, 0, 0, 0, 0, ts.loc)
		for _, c := range []pool.Change{
			{At: day.Add(7 * time.Hour), Pool: name, Schedule: "office", Restore: true},
			{At: day.Add(19 * time.Hour), Pool: name, Schedule: "office", Settings: pool.Settings{Standby: pool.Int(0)}},
		} {
			if c.At.After(now) && len(out) < n {
				ts.mu.Lock()
				c.Skipped = ts.skips[name].Equal(c.At)
				ts.mu.Unlock()
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func (ts *testScheduler) Hold(ctx context.Context, name string, s pool.Settings, until time.Time, by string) (time.Time, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if until.IsZero() {
		ts.mu.Unlock()
		next, _ := ts.Next(ctx, name, 1)
		ts.mu.Lock()
		if len(next) > 0 {
			until = next[0].At
		}
	}
	ts.holds[name] = heldAt{s: s, until: until, by: by}
	return until, nil
}

func (ts *testScheduler) Release(_ context.Context, name string) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.holds, name)
	ts.released = append(ts.released, name)
	return nil
}

func (ts *testScheduler) Skip(ctx context.Context, name string, by string) (pool.Change, error) {
	next, _ := ts.Next(ctx, name, 1)
	if len(next) == 0 {
		return pool.Change{}, &pool.Error{Kind: pool.KindNotFound, Pool: name, Msg: "no schedule claims " + name}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.skipped = append(ts.skipped, name)
	ts.skips[name] = next[0].At
	next[0].Skipped = true
	return next[0], nil
}

func (ts *testScheduler) Unskip(_ context.Context, name string) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, ok := ts.skips[name]; !ok {
		return pool.ErrNotFound
	}
	delete(ts.skips, name)
	return nil
}

func (ts *testScheduler) Daytime(_ context.Context, name string) (pool.Settings, bool, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	s, ok := ts.daytime[name]
	return s, ok, nil
}

func (ts *testScheduler) hold(name string) (heldAt, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	h, ok := ts.holds[name]
	return h, ok
}

type testCost struct{}

func (testCost) Today(_ context.Context, name string) (float64, string, bool) {
	return 12.5, "USD", name == "linux-ci"
}

// idleNode returns an idle node of the pool, advancing the simulator until
// there is one.
func (s *stack) idleNode(name string) int {
	s.t.Helper()
	for i := 0; i < 30; i++ {
		for _, n := range s.nodes(name) {
			if n.State == pool.NodeIdle {
				return n.ID
			}
		}
		s.clk.Advance(time.Minute)
	}
	s.t.Fatalf("%s has no idle node", name)
	return 0
}

// TestCommandsByRole runs every command as each role: those the role allows
// do their work and write their audit record; the others are denied, told
// the role they need, and audited as denied.
func TestCommandsByRole(t *testing.T) {
	type tc struct {
		text  string
		setup func(s *stack) string // returns the text when it depends on the stack
		need  Role
		pool  string // the pool audits name
		// want is in the reply of an allowed request.
		want string
		// audit is the Result of the audit record an allowed request
		// writes; "" for none.
		audit     string
		inChannel bool
		check     func(t *testing.T, s *stack)
	}
	cases := []tc{
		{text: "help", need: RoleViewer, want: "What you can do"},
		{text: "list", need: RoleViewer, want: "linux-ci"},
		{text: "status linux-ci", need: RoleViewer, pool: "linux-ci", want: "linux-ci"},
		{text: "history linux-ci", need: RoleViewer, pool: "linux-ci", want: "audit trail"},
		{text: "schedule linux-ci", need: RoleViewer, pool: "linux-ci", want: "Next changes of linux-ci"},
		{text: "up linux-ci", need: RoleOperator, pool: "linux-ci", want: "standby 2 → 3", audit: "ok", inChannel: true,
			check: func(t *testing.T, s *stack) {
				if p := s.settings("linux-ci"); p.Standby != 3 {
					t.Errorf("standby %d after up, want 3", p.Standby)
				}
				if h, ok := s.sched.hold("linux-ci"); !ok || *h.s.Standby != 3 {
					t.Errorf("up did not hold linux-ci at standby 3: %+v %t", h, ok)
				}
			}},
		{text: "down linux-ci", need: RoleOperator, pool: "linux-ci", want: "standby 2 → 0", audit: "ok", inChannel: true,
			check: func(t *testing.T, s *stack) {
				if p := s.settings("linux-ci"); p.Standby != 0 {
					t.Errorf("standby %d after down, want 0", p.Standby)
				}
				saved, err := s.store.SavedSettings(context.Background(), "linux-ci")
				if err != nil || *saved.Settings.Standby != 2 {
					t.Errorf("down saved %+v, %v; want standby 2", saved, err)
				}
			}},
		{text: "standby linux-ci 4", need: RoleOperator, pool: "linux-ci", want: "standby 2 → 4", audit: "ok", inChannel: true},
		{text: "max linux-ci 8", need: RoleOperator, pool: "linux-ci", want: "max 10 → 8", audit: "ok", inChannel: true},
		{text: "ttl linux-ci 15", need: RoleOperator, pool: "linux-ci", want: "ttl 30m → 15m", audit: "ok", inChannel: true},
		{text: "skip linux-ci next", need: RoleOperator, pool: "linux-ci", want: "skipped the next scheduled change", audit: "ok", inChannel: true},
		{text: "mute linux-ci failed-nodes for=1h", need: RoleOperator, pool: "linux-ci", want: "muted failed-nodes alerts", audit: "ok", inChannel: true,
			check: func(t *testing.T, s *stack) {
				ms, _ := s.store.Mutes(context.Background())
				if len(ms) != 1 || ms[0].Condition != "failed-nodes" || !ms[0].Until.Equal(s.clk.Now().Add(time.Hour)) {
					t.Errorf("mutes %+v", ms)
				}
			}},
		{text: "unmute linux-ci", need: RoleOperator, pool: "linux-ci", want: "unmuted all alerts", audit: "ok", inChannel: true,
			setup: func(s *stack) string {
				if err := s.store.PutMute(context.Background(), pool.Mute{Pool: "linux-ci", Until: s.clk.Now().Add(time.Hour)}); err != nil {
					s.t.Fatal(err)
				}
				return "unmute linux-ci"
			}},
		{need: RoleOperator, pool: "linux-ci", want: "started reimaging node", audit: "ok", inChannel: true,
			setup: func(s *stack) string { return fmt.Sprintf("node reimage linux-ci %d", s.idleNode("linux-ci")) }},
		// A confirmation asked is not audited: only what is done.
		{text: "image linux-ci latest", need: RoleAdmin, pool: "linux-ci", want: "Change the image of linux-ci"},
		{text: "create linux-new", need: RoleAdmin, pool: "linux-new", want: "Create pool linux-new"},
	}
	users := []struct {
		id   string
		role Role
	}{{"U-none", RoleNone}, {"U-viewer", RoleViewer}, {"U-operator", RoleOperator}, {"U-admin", RoleAdmin}}
	for _, c := range cases {
		for _, u := range users {
			name := c.text
			if name == "" {
				name = "node reimage"
			}
			t.Run(name+"/"+u.role.String(), func(t *testing.T) {
				// Every command's own logic runs on fakes; an image's latest
				// version is the simulator's gallery's.
				var s *stack
				if strings.HasPrefix(c.text, "image ") {
					s = newStack(t)
				} else {
					s = newMemStack(t)
				}
				text := c.text
				if c.setup != nil {
					text = c.setup(s)
				}
				before := s.settings("linux-ci")
				rec := s.run(req(u.id, text))
				rep := rec.last()
				entries := s.audit("")
				cmdName, _, _ := strings.Cut(text, " ")
				if u.role < c.need {
					want := fmt.Sprintf("you need role %s for %s", c.need, cmdName)
					if c.pool != "" {
						want += " on " + c.pool
					}
					if !strings.Contains(rep.Text, want) || rep.InChannel {
						t.Errorf("reply %q (in channel %t), want an ephemeral %q", rep.Text, rep.InChannel, want)
					}
					if len(entries) != 1 || entries[0].Result != "denied" || entries[0].Actor != u.id ||
						entries[0].Command != text || entries[0].Pool != c.pool || entries[0].Source != "slack" ||
						entries[0].Channel != "C-x" || entries[0].RequestID != "r-"+u.id {
						t.Errorf("audit %+v, want one denial of %q on %q by %s", entries, text, c.pool, u.id)
					}
					if after := s.settings("linux-ci"); after.Standby != before.Standby || after.Max != before.Max || after.TTLMinutes != before.TTLMinutes {
						t.Errorf("a denied request changed linux-ci: %+v → %+v", before, after)
					}
					return
				}
				if !strings.Contains(rep.Text, c.want) {
					t.Errorf("reply %q, want it to contain %q", rec.texts(), c.want)
				}
				if rep.InChannel != c.inChannel {
					t.Errorf("reply in channel %t, want %t", rep.InChannel, c.inChannel)
				}
				if len(rep.Blocks) == 0 {
					t.Errorf("reply has no blocks")
				}
				if c.audit == "" {
					if len(entries) != 0 {
						t.Errorf("a read wrote audit records: %+v", entries)
					}
				} else {
					if len(entries) == 0 {
						t.Fatalf("no audit record, want one with result %q", c.audit)
					}
					e := entries[0]
					if e.Result != c.audit || e.Actor != u.id || e.ActorName != strings.TrimPrefix(u.id, "U-") ||
						e.Command != text || e.Pool != c.pool || e.Channel != "C-x" || e.Source != "slack" || e.Time.IsZero() {
						t.Errorf("audit %+v, want result %q of %q on %q by %s", e, c.audit, text, c.pool, u.id)
					}
				}
				if c.check != nil {
					c.check(t, s)
				}
			})
		}
	}
}

// mustNew is New for a test.
func mustNew(t testing.TB, o Options) *Handler {
	t.Helper()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
