package change_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
)

// outbox returns the queued messages of one key.
func outboxOf(t *testing.T, st pool.Store, key string) []pool.OutboxMessage {
	t.Helper()
	ms, err := st.Pending(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []pool.OutboxMessage
	for _, m := range ms {
		if m.Key == key {
			out = append(out, m)
		}
	}
	return out
}

func TestSwapImageShowsProgressInOneMessage(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.clk.Advance(30 * time.Minute)
	img, _ := pool.ParseImage(ubuntu22)
	r, err := e.ch.SwapImage(ctx, alice, "image linux-ci latest reimage=idle", "linux-ci", img,
		change.Swap{Channel: "C1", Who: "<@U1>", ReimageIdle: true})
	if err != nil {
		t.Fatal(err)
	}
	ms := outboxOf(t, e.store, r.MessageKey)
	if len(ms) < 2 || ms[0].Op != "post" || !strings.Contains(ms[0].Text, "is changing the image of *linux-ci*") {
		t.Fatalf("messages %+v; want a post, then updates", ms)
	}
	last := ms[len(ms)-1]
	if last.Op != "update" || !strings.Contains(last.Text, "changed the image of *linux-ci*: `ubuntu22/versions/1.1.0` → `ubuntu22/versions/1.2.0`") {
		t.Errorf("last message %+v", last)
	}
	if len(r.Reimaged) > 0 && !strings.Contains(last.Text, "reimaging") {
		t.Errorf("last message %q does not say idle agents are reimaged", last.Text)
	}
	prev, err := e.ch.PreviousImage(ctx, "linux-ci")
	if err != nil || prev != r.Before {
		t.Errorf("previous image %v, %v; want %v", prev, err, r.Before)
	}
}

// A swap killed at each of its moments ends at the next start: done or not
// applied, its one message updated to say which, and the previous image
// right for rollback.
func TestInterruptedSwapEndsAtStart(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		dieAfter string // "setimage": Azure has it; "": died before
		want     string
		previous bool
	}{
		{"after Azure had the image", "setimage", "(finished after poolbot restarted", true},
		{"before Azure had the image", "", "was not changed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.store.Put(ctx, change.PreviousImageKey("linux-ci"), "stale:stale:stale:1")
			dead := new(atomic.Bool)
			var svc pool.Service = dying{Service: e.svc, dead: dead, dieAfter: tc.dieAfter}
			if tc.dieAfter == "" {
				svc = noImage{e.svc, dead}
			}
			first := change.New(svc, deadStore{e.store, dead}, e.clk, nil, change.WithReplica("pod-a"))
			img, _ := pool.ParseImage(ubuntu22)
			r, _ := first.SwapImage(ctx, alice, "image linux-ci latest", "linux-ci", img, change.Swap{Channel: "C1", Who: "<@U1>"})
			if ms := outboxOf(t, e.store, r.MessageKey); len(ms) != 1 || !strings.Contains(ms[0].Text, ":hourglass:") {
				t.Fatalf("before the restart: %+v; want the message stuck at changing", ms)
			}

			e.clk.Advance(time.Second)
			second := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a"))
			if _, err := second.ReclaimLeases(ctx); err != nil {
				t.Fatal(err)
			}
			if _, ok := second.Holder(ctx, "linux-ci"); ok {
				t.Error("status says linux-ci is being changed by the dead process")
			}
			if _, err := second.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			ms := outboxOf(t, e.store, r.MessageKey)
			if len(ms) != 2 || ms[1].Op != "update" || !strings.Contains(ms[1].Text, tc.want) {
				t.Fatalf("after the restart: %+v; want the message updated: %s", ms, tc.want)
			}
			prev, _ := second.PreviousImage(ctx, "linux-ci")
			if tc.previous && !strings.HasSuffix(prev.ID, "ubuntu22/versions/1.1.0") {
				t.Errorf("previous image %v; rollback would go to the wrong image", prev)
			}
			if !tc.previous && prev.Publisher != "stale" {
				t.Errorf("previous image %v changed by a swap that did not happen", prev)
			}
			es := auditOf(t, e.store, "linux-ci")
			if len(es) != 1 {
				t.Errorf("audit %+v; want one row", es)
			}
		})
	}
}

// noImage dies before the image reaches Azure.
type noImage struct {
	pool.Service
	dead *atomic.Bool
}

func (n noImage) SetImage(context.Context, string, pool.Image) (pool.Image, pool.Image, error) {
	n.dead.Store(true)
	return pool.Image{}, pool.Image{}, errKilled
}
