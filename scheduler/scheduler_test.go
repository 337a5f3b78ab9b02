package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/store/memstore"
)

var _ commands.Scheduler = (*Scheduler)(nil)

// memService is an in-memory pool.Service holding pools' settings only: the
// scheduler's unit tests need nothing else. The simulator stands in for
// Azure in the week test.
type memService struct {
	mu      sync.Mutex
	pools   map[string]pool.Pool
	fail    int // fail this many updates
	updates []string
	clk     clock.Clock
}

func newMem(clk clock.Clock, pools ...pool.Pool) *memService {
	m := &memService{pools: map[string]pool.Pool{}, clk: clk}
	for _, p := range pools {
		m.pools[p.Name] = p
	}
	return m
}

func (m *memService) List(context.Context, pool.ListOptions) ([]pool.Pool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []pool.Pool
	for _, p := range m.pools {
		out = append(out, p)
	}
	return out, nil
}

func (m *memService) Get(_ context.Context, name string) (pool.Pool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pools[name]
	if !ok {
		return p, pool.NotFound(name)
	}
	return p, nil
}

func (m *memService) Update(_ context.Context, cur pool.Pool, s pool.Settings) (pool.Pool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name := cur.Name
	p, ok := m.pools[name]
	if !ok {
		return p, pool.NotFound(name)
	}
	if m.fail > 0 {
		m.fail--
		return pool.Pool{}, &pool.Error{Kind: pool.KindUnavailable, Op: "update pool", Pool: name, Msg: "Azure DevOps did not answer"}
	}
	p = s.Apply(p)
	m.pools[name] = p
	m.updates = append(m.updates, m.clk.Now().Format(time.RFC3339)+" "+s.String())
	return p, nil
}

func (m *memService) set(name string, s pool.Settings) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pools[name] = s.Apply(m.pools[name])
}

func (m *memService) get(name string) pool.Pool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pools[name]
}

func (m *memService) nUpdates() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.updates)
}

var errUnused = errors.New("not used by the scheduler")

func (m *memService) Nodes(context.Context, string) ([]pool.Node, error) { return nil, errUnused }
func (m *memService) Queue(context.Context, string) (int, error)         { return 0, errUnused }
func (m *memService) Logs(context.Context, string, uint64) ([]pool.LogEntry, error) {
	return nil, errUnused
}
func (m *memService) SetImage(context.Context, string, pool.Image) (pool.Image, pool.Image, error) {
	return pool.Image{}, pool.Image{}, errUnused
}
func (m *memService) Create(context.Context, pool.CreateSpec) (pool.Pool, error) {
	return pool.Pool{}, errUnused
}
func (m *memService) ReimageNodes(context.Context, string, []int) error { return errUnused }
func (m *memService) DeleteNodes(context.Context, string, []int) error  { return errUnused }

// demo is the demo's schedule: weekdays 07:00 standby 2, 20:00 standby 0;
// Friday 20:00 standby 0 and max 2; Monday 06:30 back to the saved settings.
func demo(zone string) Schedule {
	return Schedule{Name: "office-hours", Pools: []string{"linux-ci", "windows-*"}, TimeZone: zone, Channel: "C-OPS",
		Entries: []Entry{
			{Cron: "0 7 * * 1-5", Standby: pool.Int(2)},
			{Cron: "0 20 * * 1-5", Standby: pool.Int(0)},
			{Cron: "0 20 * * 5", Standby: pool.Int(0), Max: pool.Int(2)},
			{Cron: "30 6 * * 1", Restore: true},
		}}
}

type harness struct {
	t     *testing.T
	ctx   context.Context
	clk   *clock.Fake
	st    *memstore.Store
	svc   *memService
	ch    *change.Changer
	s     *Scheduler
	scs   []Schedule
	loc   *time.Location
	owner string
}

func newHarness(t *testing.T, start time.Time, scs ...Schedule) *harness {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(start)
	st := memstore.New(clk)
	svc := newMem(clk,
		pool.Pool{Name: "linux-ci", Standby: 2, Max: 10, TTLMinutes: 30},
		pool.Pool{Name: "windows-ci", Standby: 2, Max: 10, TTLMinutes: 30},
		pool.Pool{Name: "gpu-nightly", Standby: 0, Max: 4, TTLMinutes: 15})
	h := &harness{t: t, ctx: ctx, clk: clk, st: st, svc: svc, ch: change.New(svc, st, clk, nil), scs: scs, owner: "replica-a"}
	h.loc = start.Location()
	h.restart()
	return h
}

// restart makes a new Scheduler over the same store and pools, as a process
// restart would.
func (h *harness) restart() {
	h.t.Helper()
	s, err := New(Options{Schedules: h.scs, Changer: h.ch, Store: h.st, Clock: h.clk, Owner: h.owner})
	if err != nil {
		h.t.Fatal(err)
	}
	h.s = s
}

// at moves the clock to local time "Mon 20:00" style instants and reconciles.
func (h *harness) reconcileAt(t time.Time) {
	h.t.Helper()
	h.clk.Set(t)
	if err := h.s.Reconcile(h.ctx); err != nil {
		h.t.Fatalf("reconcile at %s: %v", t, err)
	}
}

func (h *harness) want(name string, standby, max int) {
	h.t.Helper()
	p := h.svc.get(name)
	if p.Standby != standby || p.Max != max {
		h.t.Fatalf("%s at %s: standby %d max %d, want standby %d max %d", name, h.clk.Now().In(h.loc).Format("Mon 15:04"),
			p.Standby, p.Max, standby, max)
	}
}

func (h *harness) messages() []string {
	h.t.Helper()
	ms, err := h.st.Pending(h.ctx, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Channel+" "+m.Text)
	}
	return out
}

// Monday 2026-03-02 is a week before New York's spring change.
func paris(day, hour, min int) time.Time {
	loc, _ := time.LoadLocation("Europe/Paris")
	return time.Date(2026, 3, day, hour, min, 0, 0, loc)
}

func TestReconcileFollowsDemoWeek(t *testing.T) {
	h := newHarness(t, paris(2, 0, 0), demo("Europe/Paris"))
	steps := []struct {
		at           time.Time
		standby, max int
	}{
		{paris(2, 0, 0), 0, 10},   // first start on Monday night: Friday's entry, see below
		{paris(2, 6, 30), 2, 10},  // restore brings back what the first pass saved
		{paris(2, 7, 0), 2, 10},   // working hours
		{paris(2, 19, 59), 2, 10}, //
		{paris(2, 20, 0), 0, 10},  // evening
		{paris(3, 7, 0), 2, 10},
		{paris(6, 20, 0), 0, 2}, // Friday evening: max down too
		{paris(7, 12, 0), 0, 2},
		{paris(9, 6, 30), 2, 10}, // Monday restore brings back Friday's settings
		{paris(9, 7, 0), 2, 10},
		{paris(9, 20, 0), 0, 10},
	}
	for _, st := range steps {
		h.reconcileAt(st.at)
		if st.at.Equal(paris(2, 0, 0)) {
			// The first pass starts from Friday's entry: standby 0 max 2.
			h.want("linux-ci", 0, 2)
			// A person puts max back; the drift is reported, not corrected.
			h.svc.set("linux-ci", pool.Settings{Max: pool.Int(10)})
			h.svc.set("windows-ci", pool.Settings{Max: pool.Int(10)})
			continue
		}
		h.want("linux-ci", st.standby, st.max)
		h.want("windows-ci", st.standby, st.max)
		if st.at.Equal(paris(9, 6, 30)) {
			// The restore cleared what it brought back.
			if _, err := h.st.SavedSettings(h.ctx, "linux-ci"); !errors.Is(err, pool.ErrNotFound) {
				t.Errorf("saved settings after restore: %v", err)
			}
		}
		h.want("gpu-nightly", 0, 4) // no schedule claims it
	}
	msgs := h.messages()
	for _, want := range []string{
		"C-OPS ⏰ linux-ci: standby 2 → 0, max 10 → 2 (schedule office-hours)",
		"C-OPS ⏰ linux-ci: standby 0 → 2 (schedule office-hours)",
		"C-OPS ⏰ linux-ci: standby 0 → 2, max 2 → 10, ttl 30 (schedule office-hours, restore)",
	} {
		if !contains(msgs, want) {
			t.Errorf("no message %q in\n%s", want, strings.Join(msgs, "\n"))
		}
	}
	// Monday evening saved the day's settings again, for the next restore.
	if saved, err := h.st.SavedSettings(h.ctx, "linux-ci"); err != nil || saved.Settings.String() != "standby=2 max=10 ttl=30 recycle=false" {
		t.Errorf("saved settings on Monday evening: %+v %v", saved, err)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// TestCatchUp: the scheduler was down; when it comes back it sets the state
// the schedule says now, once, whatever it missed.
func TestCatchUp(t *testing.T) {
	tests := []struct {
		name         string
		down, up     time.Time
		standby, max int
		updates      int
	}{
		{"gap of hours over the evening", paris(3, 12, 0), paris(3, 23, 0), 0, 10, 1},
		{"gap of hours over the morning", paris(3, 21, 0), paris(4, 9, 30), 2, 10, 1},
		{"restart at 03:00 finds the pool down", paris(3, 12, 0), paris(4, 3, 0), 0, 10, 1},
		{"whole weekend, back on Saturday", paris(6, 12, 0), paris(7, 3, 0), 0, 2, 1},
		{"whole weekend, back on Monday", paris(6, 12, 0), paris(9, 9, 0), 2, 10, 0},
		{"a week and more", paris(2, 12, 0), paris(13, 22, 0), 0, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.down, demo("Europe/Paris"))
			h.reconcileAt(tt.down)
			n := h.svc.nUpdates()
			h.restart()
			h.reconcileAt(tt.up)
			h.want("linux-ci", tt.standby, tt.max)
			if got := h.svc.nUpdates() - n; got != tt.updates*2 { // linux-ci and windows-ci
				t.Errorf("%d updates after the gap, want %d: %v", got, tt.updates*2, h.svc.updates)
			}
			// A second pass changes nothing more.
			n = h.svc.nUpdates()
			h.reconcileAt(tt.up.Add(5 * time.Minute))
			if h.svc.nUpdates() != n {
				t.Errorf("second pass changed again: %v", h.svc.updates[n:])
			}
		})
	}
}

// TestRestoreAfterRestart: the settings saved before the weekend come back on
// Monday although the process restarted in between, and a person's change of
// max during the week is what comes back.
func TestRestoreAfterRestart(t *testing.T) {
	h := newHarness(t, paris(4, 12, 0), demo("Europe/Paris"))
	h.reconcileAt(paris(4, 12, 0))
	h.svc.set("linux-ci", pool.Settings{Max: pool.Int(15)}) // a person, on Wednesday
	h.reconcileAt(paris(4, 20, 0))
	h.reconcileAt(paris(5, 7, 0))
	h.reconcileAt(paris(6, 20, 0))
	h.want("linux-ci", 0, 2)
	saved, err := h.st.SavedSettings(h.ctx, "linux-ci")
	if err != nil || saved.Settings.String() != "standby=2 max=15 ttl=30 recycle=false" {
		t.Fatalf("saved before the weekend: %+v %v", saved, err)
	}
	h.restart()
	h.reconcileAt(paris(7, 10, 0))
	h.restart()
	h.reconcileAt(paris(9, 6, 45))
	h.want("linux-ci", 2, 15)
}

// TestOverrides: holds for a while, until a time and until the next entry;
// skips of the next entry; all expire.
func TestOverrides(t *testing.T) {
	type step struct {
		at           time.Time
		standby, max int
	}
	tests := []struct {
		name  string
		setup func(h *harness)
		steps []step
	}{
		{"hold for 3h", func(h *harness) {
			h.clk.Set(paris(3, 19, 0))
			if _, _, err := h.ch.Update(h.ctx, change.Actor{ID: "U1", Source: "slack"}, "up linux-ci for=3h", h.cur("linux-ci"), pool.Settings{Standby: pool.Int(4)}); err != nil {
				t.Fatal(err)
			}
			end, err := h.s.Hold(h.ctx, "linux-ci", pool.Settings{Standby: pool.Int(4)}, h.clk.Now().Add(3*time.Hour), "U1")
			if err != nil || !end.Equal(paris(3, 22, 0)) {
				t.Fatalf("hold: %v %v", end, err)
			}
		}, []step{{paris(3, 20, 0), 4, 10}, {paris(3, 21, 59), 4, 10}, {paris(3, 22, 0), 0, 10}, {paris(4, 7, 0), 2, 10}}},
		{"hold until the next entry", func(h *harness) {
			h.clk.Set(paris(3, 21, 0))
			h.svc.set("linux-ci", pool.Settings{Standby: pool.Int(3)})
			end, err := h.s.Hold(h.ctx, "linux-ci", pool.Settings{Standby: pool.Int(3)}, time.Time{}, "U1")
			if err != nil || !end.Equal(paris(4, 7, 0)) {
				t.Fatalf("hold: %v %v", end, err)
			}
		}, []step{{paris(3, 23, 0), 3, 10}, {paris(4, 6, 59), 3, 10}, {paris(4, 7, 0), 2, 10}, {paris(4, 20, 0), 0, 10}}},
		{"hold not applied by the command is applied by the scheduler", func(h *harness) {
			h.clk.Set(paris(3, 21, 0))
			if _, err := h.s.Hold(h.ctx, "linux-ci", pool.Settings{Standby: pool.Int(1)}, paris(4, 1, 0), "U1"); err != nil {
				t.Fatal(err)
			}
		}, []step{{paris(3, 21, 0), 1, 10}, {paris(4, 1, 0), 0, 10}}},
		{"release", func(h *harness) {
			h.clk.Set(paris(3, 21, 0))
			h.svc.set("linux-ci", pool.Settings{Standby: pool.Int(3)})
			if _, err := h.s.Hold(h.ctx, "linux-ci", pool.Settings{Standby: pool.Int(3)}, time.Time{}, "U1"); err != nil {
				t.Fatal(err)
			}
			h.reconcileAt(paris(3, 21, 1))
			h.want("linux-ci", 3, 10)
			if err := h.s.Release(h.ctx, "linux-ci"); err != nil {
				t.Fatal(err)
			}
		}, []step{{paris(3, 21, 2), 0, 10}}},
		{"skip the next entry", func(h *harness) {
			h.clk.Set(paris(3, 19, 0))
			c, err := h.s.Skip(h.ctx, "linux-ci", "U1")
			if err != nil || !c.At.Equal(paris(3, 20, 0)) || !c.Skipped {
				t.Fatalf("skip: %+v %v", c, err)
			}
			next, err := h.s.Next(h.ctx, "linux-ci", 2)
			if err != nil || len(next) != 2 || !next[0].Skipped || next[1].Skipped {
				t.Fatalf("next after skip: %+v %v", next, err)
			}
		}, []step{{paris(3, 20, 0), 2, 10}, {paris(3, 23, 0), 2, 10}, {paris(4, 7, 0), 2, 10}, {paris(4, 20, 0), 0, 10}, {paris(12, 20, 0), 0, 10}}},
		{"unskip: the skipped entry happens after all", func(h *harness) {
			h.clk.Set(paris(3, 19, 0))
			if err := h.s.Unskip(h.ctx, "linux-ci"); !errors.Is(err, pool.ErrNotFound) {
				t.Fatalf("unskip with nothing skipped: %v", err)
			}
			if _, err := h.s.Skip(h.ctx, "linux-ci", "U1"); err != nil {
				t.Fatal(err)
			}
			if err := h.s.Unskip(h.ctx, "linux-ci"); err != nil {
				t.Fatal(err)
			}
			next, err := h.s.Next(h.ctx, "linux-ci", 1)
			if err != nil || len(next) != 1 || next[0].Skipped {
				t.Fatalf("next after unskip: %+v %v", next, err)
			}
		}, []step{{paris(3, 20, 0), 0, 10}}},
		{"skip Friday's scale-down keeps the weekend up", func(h *harness) {
			h.clk.Set(paris(6, 19, 0))
			if _, err := h.s.Skip(h.ctx, "windows-ci", "U1"); err != nil {
				t.Fatal(err)
			}
		}, []step{{paris(6, 20, 0), 0, 2}, {paris(7, 12, 0), 0, 2}}}, // linux-ci is not skipped
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, paris(3, 12, 0), demo("Europe/Paris"))
			h.reconcileAt(paris(3, 12, 0))
			tt.setup(h)
			h.reconcileAt(h.clk.Now())
			for _, st := range tt.steps {
				h.reconcileAt(st.at)
				h.want("linux-ci", st.standby, st.max)
			}
		})
	}
	// The skipped Friday leaves windows-ci up.
	h := newHarness(t, paris(6, 12, 0), demo("Europe/Paris"))
	h.reconcileAt(paris(6, 12, 0))
	h.clk.Set(paris(6, 19, 0))
	if _, err := h.s.Skip(h.ctx, "windows-ci", "U1"); err != nil {
		t.Fatal(err)
	}
	h.reconcileAt(paris(7, 12, 0))
	h.want("windows-ci", 2, 10)
	h.want("linux-ci", 0, 2)
}

// TestHandChange: a pool changed by hand is reported once and corrected
// only when the schedule says so.
func TestHandChange(t *testing.T) {
	for _, correct := range []bool{false, true} {
		t.Run(fmt.Sprint("correct=", correct), func(t *testing.T) {
			sc := demo("Europe/Paris")
			sc.Correct = correct
			h := newHarness(t, paris(3, 12, 0), sc)
			h.reconcileAt(paris(3, 12, 0))
			h.svc.set("linux-ci", pool.Settings{Standby: pool.Int(5)})
			before := len(h.messages())
			h.reconcileAt(paris(3, 12, 5))
			h.reconcileAt(paris(3, 12, 10))
			msgs := h.messages()[before:]
			if correct {
				h.want("linux-ci", 2, 10)
				if len(msgs) != 1 || msgs[0] != "C-OPS ⏰ linux-ci: standby 5 → 2 (schedule office-hours, corrected)" {
					t.Errorf("messages: %q", msgs)
				}
			} else {
				h.want("linux-ci", 5, 10)
				if len(msgs) != 1 || !strings.Contains(msgs[0], "linux-ci was changed outside its schedule: standby 5 (schedule says 2)") {
					t.Errorf("messages: %q", msgs)
				}
			}
			// The next entry applies as usual.
			h.reconcileAt(paris(3, 20, 0))
			h.want("linux-ci", 0, 10)
		})
	}
}

// TestFailureRetried: a change that fails is retried with back-off; after
// three failures the watcher's key is set, and cleared on success.
func TestFailureRetried(t *testing.T) {
	h := newHarness(t, paris(3, 12, 0), demo("Europe/Paris"))
	h.reconcileAt(paris(3, 12, 0))
	h.svc.mu.Lock()
	h.svc.fail = 6 // three attempts for each of the two pools
	h.svc.mu.Unlock()
	start := paris(3, 20, 0)
	h.clk.Set(start)
	if err := h.s.Reconcile(h.ctx); err == nil {
		t.Fatal("no error from a failing change")
	}
	// Within the back-off, no attempt.
	h.clk.Set(start.Add(10 * time.Second))
	h.s.Reconcile(h.ctx)
	if h.svc.fail != 4 {
		t.Fatalf("attempts within back-off: %d left", h.svc.fail)
	}
	h.clk.Set(start.Add(30 * time.Second)) // second attempt
	h.s.Reconcile(h.ctx)
	if v, _ := h.st.Get(h.ctx, FailureKey("linux-ci")); v != "" {
		t.Fatalf("alerted after 2 failures: %q", v)
	}
	h.clk.Set(start.Add(90 * time.Second)) // third attempt, 60s later
	h.s.Reconcile(h.ctx)
	if v, _ := h.st.Get(h.ctx, FailureKey("linux-ci")); !strings.Contains(v, "failed 3 times") {
		t.Fatalf("failure key after 3 failures: %q", v)
	}
	h.want("linux-ci", 2, 10)
	h.clk.Set(start.Add(210 * time.Second)) // fourth, 120s later: succeeds
	if err := h.s.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.want("linux-ci", 0, 10)
	if v, _ := h.st.Get(h.ctx, FailureKey("linux-ci")); v != "" {
		t.Fatalf("failure key after success: %q", v)
	}
	if n := len(h.messages()); n != 2 { // one per pool, for the one change
		t.Errorf("%d messages: %q", n, h.messages())
	}
}

// TestBusyPool: a person holding the pool delays the change without
// counting as a failure.
func TestBusyPool(t *testing.T) {
	h := newHarness(t, paris(3, 12, 0), demo("Europe/Paris"))
	h.reconcileAt(paris(3, 12, 0))
	unlock, err := h.ch.Lock(h.ctx, "linux-ci", change.Actor{ID: "U1", Name: "ana"}, "image linux-ci latest")
	if err != nil {
		t.Fatal(err)
	}
	h.reconcileAt(paris(3, 20, 0))
	h.want("linux-ci", 2, 10)
	h.want("windows-ci", 0, 10)
	unlock()
	h.reconcileAt(paris(3, 20, 0).Add(busyRetry))
	h.want("linux-ci", 0, 10)
	if v, _ := h.st.Get(h.ctx, FailureKey("linux-ci")); v != "" {
		t.Errorf("busy counted as a failure: %q", v)
	}
}

// TestReplicas: two schedulers over one store apply each change once.
func TestReplicas(t *testing.T) {
	h := newHarness(t, paris(3, 12, 0), demo("Europe/Paris"))
	other, err := New(Options{Schedules: h.scs, Changer: h.ch, Store: h.st, Clock: h.clk, Owner: "replica-b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{paris(3, 12, 0), paris(3, 20, 0), paris(4, 7, 0)} {
		h.clk.Set(at)
		var wg sync.WaitGroup
		for _, s := range []*Scheduler{h.s, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Reconcile(h.ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	h.want("linux-ci", 2, 10)
	// Two changes (20:00, 07:00) for each of two pools, once each.
	if n := h.svc.nUpdates(); n != 4 {
		t.Errorf("%d updates, want 4: %v", n, h.svc.updates)
	}
	if n := len(h.messages()); n != 4 {
		t.Errorf("%d messages, want 4: %q", n, h.messages())
	}
}

// TestRunAtInstants: Run reconciles at start and at each entry's instant,
// waiting on the clock.
func TestRunAtInstants(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	sc := demo("America/New_York")
	start := time.Date(2026, 3, 6, 18, 0, 0, 0, ny) // Friday before the spring change
	h := newHarness(t, start, sc)
	h.loc = ny
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	applied := make(chan string, 100)
	s, err := New(Options{Schedules: h.scs, Changer: h.ch, Store: h.st, Clock: h.clk, Interval: time.Hour,
		OnApplied: func(p string, c pool.Change) {
			applied <- p + " " + c.At.Format(time.RFC3339) + " " + c.Settings.String()
		}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- s.Run(ctx) }()
	waitApplied := func(want ...string) {
		t.Helper()
		got := map[string]bool{}
		for range want {
			got[<-applied] = true
		}
		for _, w := range want {
			if !got[w] {
				t.Fatalf("applied %v, want %v", got, want)
			}
		}
	}
	// At start nothing differs (Friday 07:00 standby 2). Run wakes for the
	// hourly pass at 19:00, then for the entry at 20:00.
	h.clk.WaitFor(1)
	h.clk.Set(time.Date(2026, 3, 6, 19, 0, 0, 0, ny))
	h.clk.WaitFor(1)
	h.clk.Set(time.Date(2026, 3, 6, 20, 0, 0, 0, ny))
	waitApplied("linux-ci 2026-03-06T20:00:00-05:00 standby=0 max=2", "windows-ci 2026-03-06T20:00:00-05:00 standby=0 max=2")
	// Jump over the weekend and its DST change: Monday's restore, at 06:30
	// EDT, is applied when Run wakes.
	for target := time.Date(2026, 3, 9, 6, 30, 0, 0, ny); h.clk.Now().Before(target); {
		h.clk.WaitFor(1)
		next := h.clk.Now().Add(time.Hour)
		if next.After(target) {
			next = target
		}
		h.clk.Set(next)
	}
	waitApplied("linux-ci 2026-03-09T06:30:00-04:00 standby=2 max=10", "windows-ci 2026-03-09T06:30:00-04:00 standby=2 max=10")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestProcessZoneDoesNotMatter: the machine's zone changes nothing.
func TestProcessZoneDoesNotMatter(t *testing.T) {
	sc := demo("Europe/Paris")
	from := time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC)
	var runs []string
	saved := time.Local
	t.Cleanup(func() { time.Local = saved })
	for _, z := range []*time.Location{time.UTC, time.FixedZone("far", -11*3600), time.FixedZone("east", 14*3600)} {
		time.Local = z
		cs, err := Preview([]Schedule{sc}, []string{"linux-ci"}, from, 7)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, c := range cs {
			fmt.Fprintln(&b, c.At.Format(time.RFC3339), c.Pool, Describe(c))
		}
		runs = append(runs, b.String())
	}
	if runs[0] != runs[1] || runs[0] != runs[2] {
		t.Errorf("preview depends on the process zone:\n%s\n%s", runs[0], runs[1])
	}
	if !strings.Contains(runs[0], "2026-03-30T06:30:00+02:00 linux-ci restore") {
		t.Errorf("preview:\n%s", runs[0])
	}
}

func TestOverlappingSchedulesRejected(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
		bad  bool
	}{
		{"same name", []string{"linux-ci"}, []string{"linux-ci"}, true},
		{"identical globs", []string{"linux-*"}, []string{"linux-*"}, true},
		{"glob claims a name", []string{"linux-*"}, []string{"linux-ci"}, true},
		{"name claimed by a glob", []string{"gpu"}, []string{"*"}, true},
		{"disjoint", []string{"linux-*"}, []string{"windows-*"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := demo("UTC"), demo("UTC")
			a.Name, a.Pools = "a", tt.a
			b.Name, b.Pools = "b", tt.b
			_, err := New(Options{Schedules: []Schedule{a, b}})
			if (err != nil) != tt.bad {
				t.Fatalf("New: %v, want error %v", err, tt.bad)
			}
			if err != nil && !strings.Contains(err.Error(), "schedule b") {
				t.Errorf("error does not name the schedule: %v", err)
			}
		})
	}
	// Globs that overlap only on the pools that exist are caught when the
	// pools are listed: the pool is left alone and the pass says why.
	a, b := demo("UTC"), demo("UTC")
	a.Name, a.Pools, b.Name, b.Pools = "a", []string{"*-ci"}, "b", []string{"linux-*"}
	h := newHarness(t, time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC), a, b)
	h.clk.Set(time.Date(2026, 3, 3, 20, 0, 0, 0, time.UTC))
	err := h.s.Reconcile(h.ctx)
	if err == nil || !strings.Contains(err.Error(), "pool linux-ci is claimed by schedules a and b") {
		t.Fatalf("reconcile: %v", err)
	}
	h.want("linux-ci", 2, 10)
	h.want("windows-ci", 0, 10)
}

func TestNewErrors(t *testing.T) {
	bad := demo("Mars/Olympus")
	bad.Entries = append(bad.Entries, Entry{Cron: "0 25 * * *", Standby: pool.Int(1)}, Entry{Cron: "0 7 * * *"})
	bad.Skip = []string{"2026-02-30"}
	_, err := New(Options{Schedules: []Schedule{bad}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`schedule office-hours: timezone "Mars/Olympus": unknown zone`,
		`schedule office-hours: entry 5: cron "0 25 * * *"`,
		`schedule office-hours: entry 6 (0 7 * * *) sets nothing`,
		`schedule office-hours: "2026-02-30" is not a date`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestDaytime(t *testing.T) {
	h := newHarness(t, paris(6, 12, 0), demo("Europe/Paris"))
	got, ok, err := h.s.Daytime(h.ctx, "linux-ci")
	if err != nil || !ok || got.String() != "standby=2" {
		t.Errorf("before any scale-down: %s %t %v", got, ok, err)
	}
	h.svc.set("linux-ci", pool.Settings{Standby: pool.Int(3), Max: pool.Int(12)})
	h.reconcileAt(paris(6, 20, 0)) // saves standby 3 max 12
	got, ok, err = h.s.Daytime(h.ctx, "linux-ci")
	if err != nil || !ok || got.String() != "standby=3 max=12 ttl=30 recycle=false" {
		t.Errorf("after the scale-down: %s %t %v", got, ok, err)
	}
	if _, ok, err := h.s.Daytime(h.ctx, "gpu-nightly"); ok || err != nil {
		t.Errorf("unscheduled pool: %t %v", ok, err)
	}
	if next, err := h.s.Next(h.ctx, "gpu-nightly", 3); len(next) != 0 || err != nil {
		t.Errorf("next of an unscheduled pool: %v %v", next, err)
	}
}

// TestHoldUntilNextEntrySkipped: a hold until the next entry outlasts a
// skipped entry.
func TestHoldUntilNextEntrySkipped(t *testing.T) {
	h := newHarness(t, paris(3, 12, 0), demo("Europe/Paris"))
	h.reconcileAt(paris(3, 12, 0))
	h.clk.Set(paris(3, 19, 0))
	if _, err := h.s.Skip(h.ctx, "linux-ci", "U1"); err != nil {
		t.Fatal(err)
	}
	end, err := h.s.Hold(h.ctx, "linux-ci", pool.Settings{Standby: pool.Int(4)}, time.Time{}, "U1")
	if err != nil || !end.Equal(paris(4, 7, 0)) {
		t.Fatalf("hold end %s %v, want Wednesday 07:00", end, err)
	}
	for _, st := range []struct {
		at      time.Time
		standby int
	}{{paris(3, 19, 1), 4}, {paris(3, 20, 0), 4}, {paris(4, 6, 59), 4}, {paris(4, 7, 0), 2}} {
		h.reconcileAt(st.at)
		h.want("linux-ci", st.standby, 10)
	}
}

func TestValidate(t *testing.T) {
	a, b := demo("Europe/Paris"), demo("Local")
	b.Name, b.Pools = "other", []string{"linux-ci"}
	b.Entries[0].Cron = "CRON_TZ=UTC 0 7 * * *"
	var got []string
	for _, p := range Validate([]Schedule{a, b}) {
		got = append(got, fmt.Sprintf("key schedules[%d].%s: %s", p.Schedule, p.Key, p))
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`key schedules[1].timezone: schedule other: timezone "Local"`,
		`key schedules[1].entries[0].cron: schedule other: entry 1: cron "CRON_TZ=UTC 0 7 * * *"`,
		`key schedules[1].pools[0]: schedule other: pools "linux-ci" overlaps "linux-ci" of schedule office-hours`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Validate lacks %q:\n%s", want, all)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d errors, want 3:\n%s", len(got), all)
	}
	errs := CheckPools([]Schedule{demo("UTC")}, []string{"linux-ci", "gpu"})
	if len(errs) != 1 || errs[0].Schedule != 0 || errs[0].Key != "pools[1]" || errs[0].Msg != `schedule office-hours: "windows-*" matches no pool in Azure DevOps` {
		t.Errorf("CheckPools: %v", errs)
	}
}

// TestReconcileAcrossDST: an entry at 02:30 is applied once on both change
// days: right after the gap in spring, at its first occurrence in autumn.
func TestReconcileAcrossDST(t *testing.T) {
	tests := []struct {
		zone, day, cron string
		want            string // the instant standby=1 is applied
	}{
		{"Europe/Paris", "2026-03-29", "30 2 * * *", "2026-03-29T03:00:00+02:00"},
		{"Europe/Paris", "2026-10-25", "30 2 * * *", "2026-10-25T02:30:00+02:00"},
		{"America/New_York", "2026-03-08", "30 2 * * *", "2026-03-08T03:00:00-04:00"},
		{"America/New_York", "2026-11-01", "30 1 * * *", "2026-11-01T01:30:00-04:00"}, // 01:00–02:00 repeats there
		{"America/New_York", "2026-11-01", "30 2 * * *", "2026-11-01T02:30:00-05:00"},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.day+" "+tt.cron, func(t *testing.T) {
			loc, _ := time.LoadLocation(tt.zone)
			day, _ := time.ParseInLocation("2006-01-02", tt.day, loc)
			sc := Schedule{Name: "night", Pools: []string{"linux-ci"}, TimeZone: tt.zone, Entries: []Entry{
				{Cron: tt.cron, Standby: pool.Int(1)}, {Cron: "0 12 * * *", Standby: pool.Int(0)}}}
			h := newHarness(t, day, sc)
			h.loc = loc
			// Every 5 minutes of real time from midnight to 05:00 local.
			for at := day; at.Before(day.Add(6 * time.Hour)); at = at.Add(5 * time.Minute) {
				h.reconcileAt(at)
			}
			var ones []string
			for _, u := range h.svc.updates {
				if strings.HasSuffix(u, " standby=1") {
					ones = append(ones, strings.TrimSuffix(u, " standby=1"))
				}
			}
			if len(ones) != 1 || ones[0] != tt.want {
				t.Errorf("standby=1 applied at %v, want once at %s", ones, tt.want)
			}
		})
	}
}

// TestTakeOverAbandonedClaim: a replica that claimed a change and died before
// applying it does not make the change be lost; a fresh claim is left alone.
func TestTakeOverAbandonedClaim(t *testing.T) {
	h := newHarness(t, paris(3, 12, 0), demo("Europe/Paris"))
	h.reconcileAt(paris(3, 12, 0))
	// replica-b claims the 20:00 change of linux-ci, then dies.
	at := paris(3, 20, 0)
	key := claimKey("linux-ci", at)
	b, err := New(Options{Schedules: h.scs, Changer: h.ch, Store: h.st, Clock: h.clk, Owner: "replica-b"})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Set(at)
	if ok, err := b.claim(h.ctx, "linux-ci", key); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := h.s.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.want("linux-ci", 2, 10) // just claimed: the claimant may still be at work
	h.want("windows-ci", 0, 10)
	h.reconcileAt(at.Add(takeoverAfter + time.Minute))
	h.want("linux-ci", 0, 10)
	h.reconcileAt(at.Add(2*takeoverAfter + time.Minute))
	if n := h.svc.nUpdates(); n != 2 {
		t.Errorf("%d updates, want 2 (each pool once): %v", n, h.svc.updates)
	}
}

// cur reads the pool as a command does before changing it.
func (h *harness) cur(name string) pool.Pool {
	h.t.Helper()
	p, err := h.ch.Current(h.ctx, name)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// TestNewLeaderTakesOverAtOnce: a change claimed by the previous leader,
// which died before applying it, is taken over by the new leader in its
// first pass, not after takeoverAfter.
func TestNewLeaderTakesOverAtOnce(t *testing.T) {
	h := newHarness(t, paris(3, 12, 0), demo("Europe/Paris"))
	h.reconcileAt(paris(3, 12, 0))
	at := paris(3, 20, 0)
	b, err := New(Options{Schedules: h.scs, Changer: h.ch, Store: h.st, Clock: h.clk, Owner: "replica-b"})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Set(at)
	for _, name := range []string{"linux-ci", "windows-ci"} {
		if ok, err := b.claim(h.ctx, name, claimKey(name, at)); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
	}
	// replica-b dies; replica-a becomes the leader 10 s later.
	h.clk.Set(at.Add(10 * time.Second))
	h.lead()
	h.want("linux-ci", 0, 10)
	h.want("windows-ci", 0, 10)
	msgs := h.messages()
	if len(msgs) != 2 {
		t.Errorf("messages %q; want one per pool", msgs)
	}
}

// killedStore is the store of a process killed just after its PATCH: no
// later write lands.
type killedStore struct {
	*memstore.Store
	dead *atomic.Bool
}

var errKilled = errors.New("killed")

func (k killedStore) FinishIntent(ctx context.Context, id int64, o pool.Outcome) error {
	if k.dead.Load() {
		return errKilled
	}
	return k.Store.FinishIntent(ctx, id, o)
}
func (k killedStore) Put(ctx context.Context, key, v string) error {
	if k.dead.Load() {
		return errKilled
	}
	return k.Store.Put(ctx, key, v)
}
func (k killedStore) Enqueue(ctx context.Context, m pool.OutboxMessage) (int64, error) {
	if k.dead.Load() {
		return 0, errKilled
	}
	return k.Store.Enqueue(ctx, m)
}
func (k killedStore) AddAudit(ctx context.Context, e pool.AuditEntry) (int64, error) {
	if k.dead.Load() {
		return 0, errKilled
	}
	return k.Store.AddAudit(ctx, e)
}

// killing is a service whose process dies once its first update lands.
type killing struct {
	*memService
	dead *atomic.Bool
}

func (k killing) Update(ctx context.Context, cur pool.Pool, s pool.Settings) (pool.Pool, error) {
	after, err := k.memService.Update(ctx, cur, s)
	k.dead.Store(true)
	return after, err
}

// TestKilledScheduledChangeIsToldOnce: the process dies after the PATCH of
// a scheduled change and before any record of it. The restart's
// reconciliation audits it and posts its line; the scheduler then finds the
// pool in place and posts nothing more.
func TestKilledScheduledChangeIsToldOnce(t *testing.T) {
	h := newHarness(t, paris(3, 12, 0), demo("Europe/Paris"))
	h.reconcileAt(paris(3, 12, 0))
	before := len(h.messages())
	dead := new(atomic.Bool)
	first := change.New(killing{h.svc, dead}, killedStore{h.st, dead}, h.clk, nil)
	s1, err := New(Options{Schedules: h.scs, Changer: first, Store: killedStore{h.st, dead}, Clock: h.clk, Owner: "replica-a"})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Set(paris(3, 20, 0))
	s1.Reconcile(h.ctx) // dies in the middle of its first change
	if h.svc.get("linux-ci").Standby != 0 && h.svc.get("windows-ci").Standby != 0 {
		t.Fatal("the dead process changed no pool")
	}
	if n := len(h.messages()); n != before {
		t.Fatalf("%d messages from the dead process", n-before)
	}

	// The restart: reconcile intents, then the scheduler's first pass.
	h.clk.Set(paris(3, 20, 1))
	second := change.New(h.svc, h.st, h.clk, nil)
	if _, err := second.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.ch = second
	h.restart()
	h.clk.Set(paris(3, 20, 2))
	h.lead()
	h.want("linux-ci", 0, 10)
	h.want("windows-ci", 0, 10)
	for _, name := range []string{"linux-ci", "windows-ci"} {
		var lines []string
		for _, m := range h.messages()[before:] {
			if strings.Contains(m, name+": standby 2 → 0") {
				lines = append(lines, m)
			}
		}
		if len(lines) != 1 {
			t.Errorf("%s's lines %q; want exactly one", name, lines)
		}
		es, _ := h.st.Audit(h.ctx, pool.AuditQuery{Pool: name})
		n := 0
		for _, e := range es {
			if strings.Contains(e.After, "standby=0") && strings.HasPrefix(e.Result, "ok") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d audit rows of %s's scale-down, want 1: %+v", n, name, es)
		}
	}
}

// lead runs the scheduler as a new leader does, for its first pass only.
func (h *harness) lead() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- h.s.Run(ctx) }()
	h.clk.WaitFor(1) // the first pass is over; Run waits for its next wake
	cancel()
	if err := <-done; err != nil {
		h.t.Fatal(err)
	}
}
