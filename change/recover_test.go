package change_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

var errKilled = errors.New("killed")

// dying is a process that dies at a chosen moment: its calls to Azure land,
// then it answers errKilled and writes nothing more to the store.
type dying struct {
	pool.Service
	dead      *atomic.Bool
	dieAfter  string // "update", "setimage": the call after which it dies
	cancelled bool   // the call lands but answers as a cancelled context does
	cancel    func() // cancels the caller's context once the call has landed
}

func (d dying) Update(ctx context.Context, cur pool.Pool, s pool.Settings) (pool.Pool, error) {
	p, err := d.Service.Update(context.Background(), cur, s)
	if err != nil {
		return p, err
	}
	if d.cancel != nil {
		d.cancel()
		return pool.Pool{}, ctx.Err()
	}
	if d.cancelled {
		return pool.Pool{}, context.Canceled
	}
	if d.dieAfter == "update" {
		d.dead.Store(true)
		return pool.Pool{}, errKilled
	}
	return p, nil
}

func (d dying) SetImage(ctx context.Context, name string, img pool.Image) (before, after pool.Image, err error) {
	before, after, err = d.Service.SetImage(context.Background(), name, img)
	if err == nil && d.dieAfter == "setimage" {
		d.dead.Store(true)
		return pool.Image{}, pool.Image{}, errKilled
	}
	return before, after, err
}

// deadStore is the store seen by a process that has died: nothing it
// writes after its death lands.
type deadStore struct {
	store
	dead *atomic.Bool
}

func (s deadStore) FinishIntent(ctx context.Context, id int64, o pool.Outcome) error {
	if s.dead.Load() {
		return errKilled
	}
	return s.store.FinishIntent(ctx, id, o)
}

func (s deadStore) StepIntent(ctx context.Context, id int64, step string, o pool.Outcome) error {
	if s.dead.Load() {
		return errKilled
	}
	return s.store.StepIntent(ctx, id, step, o)
}

func (s deadStore) AddAudit(ctx context.Context, e pool.AuditEntry) (int64, error) {
	if s.dead.Load() {
		return 0, errKilled
	}
	return s.store.AddAudit(ctx, e)
}

func (s deadStore) Put(ctx context.Context, k, v string) error {
	if s.dead.Load() {
		return errKilled
	}
	return s.store.Put(ctx, k, v)
}

// pendingTexts returns the outbox's messages as "op key: text".
func pendingTexts(t *testing.T, st pool.Store) []string {
	t.Helper()
	ms, err := st.Pending(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Op+" "+m.Key+" "+m.Channel+": "+m.Text)
	}
	return out
}

func auditOf(t *testing.T, st pool.Store, name string) []pool.AuditEntry {
	t.Helper()
	es, err := st.Audit(context.Background(), pool.AuditQuery{Pool: name})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// A caller cancelled after the PATCH landed (SIGTERM, a Slack timeout) is
// told the change was applied, and it is audited as applied.
func TestCancelledAfterTheCallIsApplied(t *testing.T) {
	ctx := context.Background()
	e := newMemEnv(t)
	ch := change.New(dying{Service: e.svc, dead: new(atomic.Bool), cancelled: true}, e.store, e.clk, nil)
	_, after, err := ch.Update(ctx, alice, "standby linux-ci 0", pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(0)})
	if err != nil {
		t.Fatalf("Update: %v; the change reached Azure DevOps, so it was applied", err)
	}
	if after.Standby != 0 {
		t.Errorf("after: standby %d, want 0", after.Standby)
	}
	es := auditOf(t, e.store, "linux-ci")
	if len(es) != 1 || es[0].Result != "ok" || !strings.Contains(es[0].After, "standby=0") {
		t.Fatalf("audit %+v; want one applied change", es)
	}
}

// SIGTERM cancels the scheduler's context at once: a change whose PATCH
// has left is still recorded, on a context of its own.
func TestCallerCancelledMidChangeIsRecorded(t *testing.T) {
	e := newMemEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := change.New(dying{Service: e.svc, dead: new(atomic.Bool), cancel: cancel}, e.store, e.clk, nil, change.WithReplica("pod-a"))
	if _, _, err := ch.Update(ctx, alice, "standby linux-ci 0", pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(0)}); err != nil {
		t.Fatalf("Update: %v; the change reached Azure DevOps", err)
	}
	es := auditOf(t, e.store, "linux-ci")
	if len(es) != 1 || es[0].Result != "ok" {
		t.Fatalf("audit %+v; want the change recorded although its caller was cancelled", es)
	}
}

// A process killed between the PATCH and its record leaves an intent that
// the next start reconciles: one audit row and one Slack line; a change that
// never reached Azure DevOps is said to be not applied.
func TestKilledMidChangeIsRecoveredAtStart(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		dieAfter string
		applied  bool
	}{
		{"after the PATCH", "update", true},
		{"before the PATCH", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMemEnv(t)
			dead := new(atomic.Bool)
			if tc.dieAfter == "" {
				dead.Store(true) // dies after writing its intent
			}
			svc := dying{Service: e.svc, dead: dead, dieAfter: tc.dieAfter}
			var first *change.Changer
			if tc.applied {
				first = change.New(svc, deadStore{e.store, dead}, e.clk, nil, change.WithReplica("pod-a"))
			} else {
				first = change.New(refusing{e.svc}, deadStore{e.store, dead}, e.clk, nil, change.WithReplica("pod-a"))
			}
			_, _, err := first.Update(ctx, alice, "standby linux-ci 0", pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(0)})
			if tc.applied && err != nil {
				t.Fatalf("first process: %v; the change reached Azure DevOps", err)
			}
			if n := len(auditOf(t, e.store, "linux-ci")); n != 0 {
				t.Fatalf("%d audit rows before the restart; the process died before writing one", n)
			}

			e.clk.Advance(time.Second)
			second := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a"), change.WithChannel("C-default"))
			if _, err := second.ReclaimLeases(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := second.Reconcile(ctx)
			if err != nil {
				t.Fatal(err)
			}
			es := auditOf(t, e.store, "linux-ci")
			msgs := pendingTexts(t, e.store)
			if len(es) != 1 || len(msgs) != 1 {
				t.Fatalf("after the restart: audit %+v, messages %q; want one of each", es, msgs)
			}
			if tc.applied {
				if got.Applied != 1 || !strings.HasPrefix(es[0].Result, "ok") || !strings.Contains(msgs[0], "<@U1>'s `standby linux-ci 0` was applied") ||
					!strings.Contains(msgs[0], " C1: ") {
					t.Errorf("recovered %+v, audit %+v, message %q", got, es[0], msgs[0])
				}
			} else if got.NotApplied != 1 || !strings.HasPrefix(es[0].Result, "not applied") || !strings.Contains(msgs[0], "was not applied") {
				t.Errorf("recovered %+v, audit %+v, message %q", got, es[0], msgs[0])
			}
			// A second start finds nothing left.
			third := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a"))
			if got, err := third.Reconcile(ctx); err != nil || got != (change.Recovered{}) {
				t.Errorf("second reconcile: %+v, %v; want nothing", got, err)
			}
		})
	}
}

// refusing never reaches Azure: the process died before the call.
type refusing struct{ pool.Service }

func (refusing) Update(context.Context, pool.Pool, pool.Settings) (pool.Pool, error) {
	return pool.Pool{}, errKilled
}

// A change made and recorded whose reply never left (the process died just
// after) is told to its channel at the next start, once; one that was told
// is not.
func TestUntoldChangeIsToldAtStart(t *testing.T) {
	ctx := context.Background()
	e := newMemEnv(t)
	first := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a"))
	told := alice
	told.RequestID = "r-told"
	if _, _, err := first.Update(ctx, told, "max linux-ci 9", pool.Pool{Name: "linux-ci"}, pool.Settings{Max: pool.Int(9)}); err != nil {
		t.Fatal(err)
	}
	if err := first.Reported(ctx, "r-told"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := first.Update(ctx, alice, "standby linux-ci 0", pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(0)}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Second)
	second := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a"))
	got, err := second.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := pendingTexts(t, e.store)
	if got.Told != 1 || len(msgs) != 1 || !strings.Contains(msgs[0], "`standby linux-ci 0` was applied") {
		t.Fatalf("recovered %+v, messages %q; want the untold change told once", got, msgs)
	}
	if n := len(auditOf(t, e.store, "linux-ci")); n != 2 {
		t.Errorf("%d audit rows; telling must not audit again", n)
	}
	if got, _ := second.Reconcile(ctx); got.Told != 0 {
		t.Errorf("told again: %+v", got)
	}
}

// A store that fails after the PATCH does not turn an applied change into
// "something went wrong": the person is told it was applied, and the next
// start records it.
func TestRecordFailureStillReportsApplied(t *testing.T) {
	ctx := context.Background()
	e := newMemEnv(t)
	dead := new(atomic.Bool)
	ch := change.New(flaky{e.svc, dead}, deadStore{e.store, dead}, e.clk, nil, change.WithReplica("pod-a"))
	_, after, err := ch.Update(ctx, alice, "standby linux-ci 1", pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(1)})
	if err != nil || after.Standby != 1 {
		t.Fatalf("Update: standby %d, %v; want the applied change reported", after.Standby, err)
	}
	e.clk.Advance(time.Second)
	got, err := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a")).Reconcile(ctx)
	if err != nil || got.Applied != 1 || len(auditOf(t, e.store, "linux-ci")) != 1 {
		t.Fatalf("recovered %+v, %v", got, err)
	}
}

// flaky's store breaks as soon as the PATCH lands.
type flaky struct {
	pool.Service
	dead *atomic.Bool
}

func (f flaky) Update(ctx context.Context, cur pool.Pool, s pool.Settings) (pool.Pool, error) {
	after, err := f.Service.Update(ctx, cur, s)
	f.dead.Store(true)
	return after, err
}

// A restarted replica takes its own leases back at once instead of waiting
// two minutes for them to lapse; another replica's it leaves alone.
func TestRestartedReplicaTakesItsLeasesBack(t *testing.T) {
	ctx := context.Background()
	e := newMemEnv(t)
	first := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a"))
	if _, err := first.Lock(ctx, "linux-ci", ana, "image linux-ci latest"); err != nil {
		t.Fatal(err)
	}
	other := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-b"))
	if _, err := other.Lock(ctx, "windows-ci", bob, "down windows-ci"); err != nil {
		t.Fatal(err)
	}
	// pod-a dies holding linux-ci and restarts under the same id.
	second := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a"))
	if _, err := second.Lock(ctx, "linux-ci", bob, "standby linux-ci 1"); pool.KindOf(err) != pool.KindBusy {
		t.Fatalf("before reclaiming: %v; want busy", err)
	}
	keys, err := second.ReclaimLeases(ctx)
	if err != nil || len(keys) != 1 || keys[0] != change.LeaseKey("linux-ci") {
		t.Fatalf("reclaimed %v, %v", keys, err)
	}
	if _, ok := second.Holder(ctx, "linux-ci"); ok {
		t.Error("status still names a holder of linux-ci")
	}
	unlock, err := second.Lock(ctx, "linux-ci", bob, "standby linux-ci 1")
	if err != nil {
		t.Fatalf("after reclaiming: %v", err)
	}
	unlock()
	if _, err := second.Lock(ctx, "windows-ci", bob, "standby windows-ci 1"); pool.KindOf(err) != pool.KindBusy {
		t.Fatalf("pod-b's lease: %v; want busy", err)
	}
}

var ubuntu22 = "/subscriptions/" + sim.Subscription + "/resourceGroups/rg-agents/providers/Microsoft.Compute/galleries/poolbotgallery/images/ubuntu22"

// A reply that reached Slack just before the process died is found by the
// reply check, and the change is not told again.
func TestReplyThatLandedIsNotRepeated(t *testing.T) {
	ctx := context.Background()
	e := newMemEnv(t)
	first := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a"))
	if _, _, err := first.Update(ctx, alice, "standby linux-ci 0", pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(0)}); err != nil {
		t.Fatal(err)
	}
	if !first.Untold("r1") || first.Untold("r-other") {
		t.Fatalf("untold: r1 %t, r-other %t", first.Untold("r1"), first.Untold("r-other"))
	}
	// The reply went out carrying its marker; the process died before
	// recording it.
	var asked []string
	check := func(_ context.Context, in pool.Intent) (bool, error) {
		asked = append(asked, in.Channel+" "+change.ReplyMarker(in.RequestID))
		return true, nil
	}
	second := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a"), change.WithReplyCheck(check))
	got, err := second.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != "C1 poolbot-reply/r1" {
		t.Errorf("asked %q; want the channel searched for the reply's marker", asked)
	}
	if msgs := pendingTexts(t, e.store); got.Told != 1 || len(msgs) != 0 {
		t.Errorf("recovered %+v, messages %q; want it settled without a second line", got, msgs)
	}
}

// down is Azure DevOps not answering.
type down struct{ pool.Service }

func (down) List(context.Context, pool.ListOptions) ([]pool.Pool, error) {
	return nil, &pool.Error{Kind: pool.KindUnavailable, Msg: "Azure DevOps did not answer"}
}

// An interrupted change that cannot be compared with Azure at start (it
// does not answer) is left open and counted, so that it is settled later.
func TestRecoveryWaitsForAzure(t *testing.T) {
	ctx := context.Background()
	e := newMemEnv(t)
	dead := new(atomic.Bool)
	first := change.New(dying{Service: e.svc, dead: dead, dieAfter: "update"}, deadStore{e.store, dead}, e.clk, nil, change.WithReplica("pod-a"))
	first.Update(ctx, alice, "standby linux-ci 0", pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(0)})

	got, err := change.New(down{e.svc}, e.store, e.clk, nil, change.WithReplica("pod-a")).Reconcile(ctx)
	if err == nil || got.Failed != 1 || got.Applied != 0 {
		t.Fatalf("with Azure down: %+v, %v; want one failed to settle", got, err)
	}
	got, err = change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a")).Reconcile(ctx)
	if err != nil || got.Applied != 1 {
		t.Fatalf("with Azure back: %+v, %v; want it applied", got, err)
	}
}

// A store that fails after the PATCH and answers again: the same process
// records the change once the leader reconciles, without a second line to
// the person it already answered.
func TestRecordFailureSettledBySameProcess(t *testing.T) {
	ctx := context.Background()
	e := newMemEnv(t)
	dead := new(atomic.Bool)
	ch := change.New(flaky{e.svc, dead}, deadStore{e.store, dead}, e.clk, nil, change.WithReplica("pod-a"))
	if _, _, err := ch.Update(ctx, alice, "standby linux-ci 1", pool.Pool{Name: "linux-ci"}, pool.Settings{Standby: pool.Int(1)}); err != nil {
		t.Fatal(err)
	}
	if !ch.Dirty() || ch.Dirty() {
		t.Fatal("Dirty does not report the failed record once")
	}
	dead.Store(false) // the store answers again
	got, err := ch.Reconcile(ctx)
	if err != nil || got.Applied != 1 {
		t.Fatalf("recovered %+v, %v", got, err)
	}
	if es := auditOf(t, e.store, "linux-ci"); len(es) != 1 || !strings.HasPrefix(es[0].Result, "ok") {
		t.Errorf("audit %+v", es)
	}
	if msgs := pendingTexts(t, e.store); len(msgs) != 0 {
		t.Errorf("messages %q; the person was answered already", msgs)
	}
}
