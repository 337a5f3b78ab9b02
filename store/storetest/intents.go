package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/poolbot/poolbot/pool"
)

func intents(t *testing.T, s pool.Store) pool.IntentStore {
	t.Helper()
	is, ok := s.(pool.IntentStore)
	if !ok {
		t.Fatalf("%T does not keep intents", s)
	}
	return is
}

// testIntents walks intents through their states: what Unsettled returns,
// what each outcome writes with it, and that nothing is lost on reopening.
func testIntents(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	is := intents(t, s)
	notice := &pool.OutboxMessage{Channel: "C1", Key: "schedule/linux-ci/x", Op: "post", Text: "⏰ linux-ci: standby 0"}
	a := pool.Intent{Kind: "settings", Pool: "linux-ci", Actor: "scheduler", Source: "scheduler", Command: "schedule night",
		Before: "standby=2", Target: "standby=0", Replica: "pod-a", Notice: notice, Created: base}
	ida, err := is.BeginIntent(ctx, a)
	must(t, err)
	b := pool.Intent{Kind: "image", Pool: "win-ci", Actor: "U1", Source: "slack", RequestID: "req-b", Command: "image win-ci latest",
		Before: "img:1", Target: "img:2", Replica: "pod-a", MessageKey: "image/b", Created: base}
	idb, err := is.BeginIntent(ctx, b, pool.OutboxMessage{Channel: "C1", Key: "image/b", Op: "post", Text: "changing…"})
	must(t, err)
	must(t, is.StepIntent(ctx, idb, "set", pool.Outcome{Puts: map[string]string{"step/b": "set"}}))
	c := pool.Intent{Kind: "settings", Pool: "mac-ci", Actor: "U2", Source: "slack", RequestID: "req-c", Command: "standby mac-ci 1",
		Before: "standby=0", Target: "standby=1", Replica: "pod-b", Created: base}
	idc, err := is.BeginIntent(ctx, c)
	must(t, err)

	got, err := is.Unsettled(ctx)
	must(t, err)
	if len(got) != 3 || got[0].ID != ida || got[1].ID != idb || got[2].ID != idc {
		t.Fatalf("unsettled %+v; want a, b, c", got)
	}
	if got[0].Notice == nil || *got[0].Notice != *notice || got[0].State != pool.IntentOpen || !got[0].Created.Equal(base) {
		t.Errorf("intent a read back as %+v", got[0])
	}
	if got[1].Step != "set" || got[1].MessageKey != "image/b" || got[1].Target != "img:2" || got[1].RequestID != "req-b" {
		t.Errorf("intent b read back as %+v", got[1])
	}

	// a is applied and reported by its notice; c is applied but not told
	// yet; b is not applied.
	must(t, is.FinishIntent(ctx, ida, pool.Outcome{State: pool.IntentApplied, Result: "ok", Reported: true,
		Audit:    &pool.AuditEntry{Actor: "scheduler", Pool: "linux-ci", Command: "schedule night", Result: "ok"},
		Messages: []pool.OutboxMessage{*notice}}))
	must(t, is.FinishIntent(ctx, idc, pool.Outcome{State: pool.IntentApplied, Result: "ok",
		Audit: &pool.AuditEntry{Actor: "U2", Pool: "mac-ci", Command: "standby mac-ci 1", Result: "ok"},
		Puts:  map[string]string{"image.previous/mac-ci": "img:0"}}))
	if err := is.FinishIntent(ctx, ida, pool.Outcome{State: pool.IntentApplied, Result: "ok",
		Audit: &pool.AuditEntry{Actor: "x", Pool: "linux-ci", Result: "ok"}}); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("finishing a finished intent: %v, want ErrNotFound", err)
	}
	if err := is.StepIntent(ctx, ida, "late", pool.Outcome{Puts: map[string]string{"step/a": "late"}}); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("stepping a finished intent: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "step/a"); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("a refused step wrote its value: %v", err)
	}
	if v, err := s.Get(ctx, "step/b"); err != nil || v != "set" {
		t.Errorf("a step's value: %q, %v", v, err)
	}
	audit, err := s.Audit(ctx, pool.AuditQuery{})
	must(t, err)
	eq(t, "audit rows", len(audit), 2)
	v, err := s.Get(ctx, "image.previous/mac-ci")
	must(t, err)
	eq(t, "value put with the outcome", v, "img:0")
	pending, err := s.Pending(ctx, 0)
	must(t, err)
	eq(t, "messages queued", len(pending), 2) // b's post and a's notice

	// Reopened: b is still open, c unreported, a settled.
	s.Close()
	s = opened(t, open)
	is = intents(t, s)
	got, err = is.Unsettled(ctx)
	must(t, err)
	if len(got) != 2 || got[0].ID != idb || got[0].State != pool.IntentOpen || got[1].ID != idc || got[1].State != pool.IntentApplied {
		t.Fatalf("unsettled after reopening %+v; want b open and c applied", got)
	}
	must(t, is.MarkReported(ctx, "req-b")) // open: not yet
	must(t, is.MarkReported(ctx, "req-c"))
	if err := is.ReportIntent(ctx, idc); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("reporting a reported intent: %v, want ErrNotFound", err)
	}
	must(t, is.FinishIntent(ctx, idb, pool.Outcome{State: pool.IntentNotApplied, Result: "not applied"}))
	must(t, is.ReportIntent(ctx, idb, pool.OutboxMessage{Channel: "C1", Key: "image/b", Op: "update", Text: "not changed"}))
	got, err = is.Unsettled(ctx)
	must(t, err)
	eq(t, "unsettled at the end", len(got), 0)
	pending, err = s.Pending(ctx, 0)
	must(t, err)
	eq(t, "messages queued at the end", len(pending), 3)
}

// testIntentRace finishes one intent from many goroutines: one wins, the
// others write nothing.
func testIntentRace(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	is := intents(t, s)
	id, err := is.BeginIntent(ctx, pool.Intent{Kind: "settings", Pool: "p", Actor: "a", Command: "c", Replica: "r"})
	must(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := is.FinishIntent(ctx, id, pool.Outcome{State: pool.IntentApplied, Result: "ok",
				Audit:    &pool.AuditEntry{Actor: "a", Pool: "p", Result: "ok"},
				Messages: []pool.OutboxMessage{{Channel: "C", Key: "k", Op: "post", Text: "t"}}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, pool.ErrNotFound):
				t.Errorf("finish: %v", err)
			}
		}()
	}
	wg.Wait()
	eq(t, "finishers that won", won, 1)
	audit, err := s.Audit(ctx, pool.AuditQuery{})
	must(t, err)
	eq(t, "audit rows", len(audit), 1)
	pending, err := s.Pending(ctx, 0)
	must(t, err)
	eq(t, "messages", len(pending), 1)
}

// testReleaseLeases frees a restarted replica's leases and no one else's,
// matching the owner's case exactly.
func testReleaseLeases(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	is := intents(t, s)
	until := base.Add(24 * 365 * 100 * 3600e9) // never lapses during the test
	for key, owner := range map[string]string{"change/a": "pod-a/1", "change/b": "pod-a/2", "change/c": "pod-ab/3", "change/d": "POD-A/4", "change/e": "pod-b/5"} {
		if held, _, err := s.TakeLease(ctx, key, owner, "{}", until); err != nil || !held {
			t.Fatalf("take %s: %t %v", key, held, err)
		}
	}
	keys, err := is.ReleaseLeases(ctx, "pod-a/")
	must(t, err)
	if len(keys) != 2 || !(keys[0] == "change/a" && keys[1] == "change/b" || keys[0] == "change/b" && keys[1] == "change/a") {
		t.Errorf("released %v; want change/a and change/b", keys)
	}
	for _, key := range []string{"change/c", "change/d", "change/e"} {
		if _, err := s.CurrentLease(ctx, key); err != nil {
			t.Errorf("%s: %v; another replica's lease was released", key, err)
		}
	}
	if _, err := is.ReleaseLeases(ctx, ""); err == nil {
		t.Error("an empty prefix released every lease")
	}
}
