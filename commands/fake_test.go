package commands

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/pool/pooltest"
	"github.com/poolbot/poolbot/snapshot"
	"github.com/poolbot/poolbot/store/sqlite"
)

// fakeStack is a Handler over an in-memory pool.Service (through a
// snapshot, as app wires it) and a fake clock: the commands' own logic,
// without the simulator.
type fakeStack struct {
	t     *testing.T
	svc   *pooltest.Service
	clk   *clock.Fake
	store *sqlite.Store
	h     *Handler
}

func newFakeStack(t *testing.T, svc *pooltest.Service) *fakeStack {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(simStart)
	cache := snapshot.New(svc, clk, 5*time.Second)
	h := mustNew(t, Options{Service: cache, Changer: change.New(cache, st, clk, nil), Store: st, Roles: testRoles, Clock: clk})
	return &fakeStack{t: t, svc: svc, clk: clk, store: st, h: h}
}

func (f *fakeStack) run(user, text string) string {
	f.t.Helper()
	rec := &replies{}
	if err := f.h.Handle(context.Background(), req(user, text), rec); err != nil {
		f.t.Fatalf("Handle(%q): %v", text, err)
	}
	return plainOf(rec.last())
}

var fakePools = []pool.Pool{
	{ID: 1, Name: "linux-ci", OS: pool.Linux, State: pool.StateOnline, Standby: 2, Max: 10, TTLMinutes: 30, Queue: -1},
	{ID: 2, Name: "windows-ci", OS: pool.Windows, State: pool.StateOnline, Standby: 1, Max: 6, TTLMinutes: 30, Queue: -1},
}

func TestListShowsTheSnapshotsAge(t *testing.T) {
	f := newFakeStack(t, pooltest.Pools(fakePools...))
	tests := []struct {
		advance time.Duration
		want    string // in the first line; "" for none
		lists   int    // List calls so far
	}{
		{0, "", 1},
		{3 * time.Second, "as of 3 s ago", 1},
		{1500 * time.Millisecond, "as of 4 s ago", 1},
		{time.Second, "", 2}, // 5.5 s: read again
	}
	for _, tt := range tests {
		f.clk.Advance(tt.advance)
		first, _, _ := strings.Cut(f.run("U-viewer", "list"), "\n")
		if tt.want == "" && strings.Contains(first, "as of") || tt.want != "" && !strings.Contains(first, tt.want) {
			t.Errorf("after %v: %q, want %q", tt.advance, first, tt.want)
		}
		if n := f.svc.Calls("List"); n != tt.lists {
			t.Errorf("after %v: %d List calls, want %d", tt.advance, n, tt.lists)
		}
	}
}

// What the Changer's check lets through and Azure DevOps refuses is told,
// audited as an error, and changes nothing.
func TestChangeAzureRefuses(t *testing.T) {
	svc := pooltest.Pools(fakePools...)
	svc.UpdateFn = func(_ context.Context, cur pool.Pool, s pool.Settings) (pool.Pool, error) {
		return pool.Pool{}, &pool.Error{Kind: pool.KindInvalid, Op: "update pool", Pool: cur.Name,
			Msg: "The maximum number of virtual machines (7) is over the subscription's quota."}
	}
	f := newFakeStack(t, svc)
	got := f.run("U-operator", "max linux-ci 7")
	if !strings.Contains(got, "over the subscription's quota") || !strings.Contains(got, "Usage:") {
		t.Errorf("reply %q", got)
	}
	es, err := f.store.Audit(context.Background(), pool.AuditQuery{Pool: "linux-ci"})
	if err != nil || len(es) != 1 || !strings.HasPrefix(es[0].Result, "error: ") {
		t.Fatalf("audit %+v, %v; want one error row", es, err)
	}
	if n := svc.Calls("Update"); n != 1 {
		t.Errorf("%d Update calls, want 1", n)
	}
}

// The Changer checks against the pool as the command read it: an invalid
// change never reaches the service.
func TestInvalidChangeNeverReachesTheService(t *testing.T) {
	svc := pooltest.Pools(fakePools...)
	f := newFakeStack(t, svc)
	got := f.run("U-operator", "standby linux-ci 11")
	if !strings.Contains(got, "cannot be more than max (10)") || !strings.Contains(got, "nothing was changed") {
		t.Errorf("reply %q", got)
	}
	if n := svc.Calls("Update"); n != 0 {
		t.Errorf("%d Update calls for an invalid change", n)
	}
	if n := svc.Calls("List"); n != 1 {
		t.Errorf("%d List calls, want 1 (the name's)", n)
	}
}
