// Package storetest is the conformance suite every pool.Store passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// Open returns a store for t. Called again with the same t after the first
// store was closed, it must open the same database: the suite reopens it to
// check that nothing is lost. Each t gets a database of its own.
type Open func(t *testing.T) pool.Store

// base is a time with microsecond precision, which every store keeps.
var base = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// Run runs every test of the suite against stores made by open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"Audit", testAudit},
		{"SavedSettings", testSavedSettings},
		{"Overrides", testOverrides},
		{"Mutes", testMutes},
		{"Alerts", testAlerts},
		{"Outbox", testOutbox},
		{"MarkSent", testMarkSent},
		{"Retry", testRetry},
		{"DeadLetters", testDeadLetters},
		{"KeyValue", testKeyValue},
		{"Claim", testClaim},
		{"Lease", testLease},
		{"LeaseRace", testLeaseRace},
		{"Remember", testRemember},
		{"RememberRace", testRememberRace},
		{"RememberBurst", testRememberBurst},
		{"CachedReads", testCachedReads},
		{"NotFound", testNotFound},
		{"Restart", testRestart},
		{"Concurrency", testConcurrency},
		{"Jobs", testJobs},
		{"Intents", testIntents},
		{"IntentRace", testIntentRace},
		{"ReleaseLeases", testReleaseLeases},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func opened(t *testing.T, open Open) pool.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

func testAudit(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	entries := []pool.AuditEntry{
		{Time: base, Actor: "U1", ActorName: "alice", Channel: "C1", Source: "slack", Command: "/pool scale linux-ci standby 3",
			Pool: "linux-ci", Before: "standby 2", After: "standby 3", Result: "ok", RequestID: "r1"},
		{Time: base.Add(time.Minute), Actor: "scheduler", Source: "scheduler", Command: "office-hours", Pool: "windows-ci", Result: "ok"},
		{Time: base.Add(2 * time.Minute), Actor: "U2", Source: "slack", Command: "/pool scale linux-ci max 1", Pool: "linux-ci", Result: "denied"},
	}
	var ids []int64
	for _, e := range entries {
		id, err := s.AddAudit(ctx, e)
		must(t, err)
		ids = append(ids, id)
	}
	if !(ids[0] < ids[1] && ids[1] < ids[2]) {
		t.Fatalf("ids not increasing: %v", ids)
	}
	for i := range entries {
		entries[i].ID = ids[i]
	}
	tests := []struct {
		name string
		q    pool.AuditQuery
		want []pool.AuditEntry
	}{
		{"all newest first", pool.AuditQuery{}, []pool.AuditEntry{entries[2], entries[1], entries[0]}},
		{"one pool", pool.AuditQuery{Pool: "linux-ci"}, []pool.AuditEntry{entries[2], entries[0]}},
		{"limit", pool.AuditQuery{Limit: 1}, []pool.AuditEntry{entries[2]}},
		{"unknown pool", pool.AuditQuery{Pool: "nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Audit(ctx, tc.q)
			must(t, err)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			eq(t, "audit", got, tc.want)
		})
	}
	t.Run("default limit 20", func(t *testing.T) {
		for i := 0; i < 25; i++ {
			_, err := s.AddAudit(ctx, pool.AuditEntry{Time: base, Pool: "bulk", Result: "ok"})
			must(t, err)
		}
		got, err := s.Audit(ctx, pool.AuditQuery{Pool: "bulk"})
		must(t, err)
		eq(t, "count", len(got), 20)
	})
	t.Run("zero time is now", func(t *testing.T) {
		before := time.Now().Add(-time.Minute)
		_, err := s.AddAudit(ctx, pool.AuditEntry{Pool: "now", Result: "ok"})
		must(t, err)
		got, err := s.Audit(ctx, pool.AuditQuery{Pool: "now"})
		must(t, err)
		if len(got) != 1 || got[0].Time.Before(before) || got[0].Time.Location() != time.UTC {
			t.Fatalf("got %+v", got)
		}
	})
}

func testSavedSettings(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	first := pool.Saved{Pool: "linux-ci", Settings: pool.Settings{Standby: pool.Int(2), Max: pool.Int(10), TTLMinutes: pool.Int(30), Recycle: pool.Bool(false)},
		Time: base, By: "scheduler"}
	second := pool.Saved{Pool: "linux-ci", Settings: pool.Settings{Standby: pool.Int(0), Max: pool.Int(10)}, Time: base.Add(time.Hour), By: "U1"}
	partial := pool.Saved{Pool: "gpu", Settings: pool.Settings{Max: pool.Int(0)}, Time: base, By: "U2"}

	steps := []struct {
		name      string
		save      pool.Saved
		wrote     bool
		pool      string
		want      pool.Saved
		wantErrNF bool
	}{
		{"first save writes", first, true, "linux-ci", first, false},
		{"second save keeps the first", second, false, "linux-ci", first, false},
		{"nil fields stay nil", partial, true, "gpu", partial, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			wrote, err := s.SaveSettings(ctx, st.save)
			must(t, err)
			eq(t, "wrote", wrote, st.wrote)
			got, err := s.SavedSettings(ctx, st.pool)
			must(t, err)
			eq(t, "saved", got, st.want)
		})
	}
	t.Run("clear then save again", func(t *testing.T) {
		must(t, s.ClearSavedSettings(ctx, "linux-ci"))
		if _, err := s.SavedSettings(ctx, "linux-ci"); !errors.Is(err, pool.ErrNotFound) {
			t.Fatalf("after clear: %v, want ErrNotFound", err)
		}
		must(t, s.ClearSavedSettings(ctx, "linux-ci")) // clearing nothing is fine
		wrote, err := s.SaveSettings(ctx, second)
		must(t, err)
		eq(t, "wrote", wrote, true)
		got, err := s.SavedSettings(ctx, "linux-ci")
		must(t, err)
		eq(t, "saved", got, second)
	})
}

func testOverrides(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	hold := pool.Override{Pool: "linux-ci", Kind: "hold", Settings: pool.Settings{Standby: pool.Int(4)}, Until: base.Add(3 * time.Hour), By: "U1", Created: base}
	skip := pool.Override{Pool: "linux-ci", Kind: "skip", SkipAt: base.Add(time.Hour), By: "U1", Created: base}
	other := pool.Override{Pool: "a-pool", Kind: "hold", Settings: pool.Settings{Max: pool.Int(1), Recycle: pool.Bool(true)}, By: "U2", Created: base}
	hold2 := hold
	hold2.Settings = pool.Settings{Standby: pool.Int(1), TTLMinutes: pool.Int(5)}
	hold2.Until = time.Time{}

	steps := []struct {
		name string
		do   func() error
		want []pool.Override
	}{
		{"empty", func() error { return nil }, nil},
		{"put hold", func() error { return s.PutOverride(ctx, hold) }, []pool.Override{hold}},
		{"put skip beside hold", func() error { return s.PutOverride(ctx, skip) }, []pool.Override{hold, skip}},
		{"other pool, ordered by pool", func() error { return s.PutOverride(ctx, other) }, []pool.Override{other, hold, skip}},
		{"put replaces per pool and kind", func() error { return s.PutOverride(ctx, hold2) }, []pool.Override{other, hold2, skip}},
		{"delete one kind", func() error { return s.DeleteOverride(ctx, "linux-ci", "hold") }, []pool.Override{other, skip}},
		{"delete absent is fine", func() error { return s.DeleteOverride(ctx, "linux-ci", "hold") }, []pool.Override{other, skip}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			must(t, st.do())
			got, err := s.Overrides(ctx)
			must(t, err)
			if len(got) == 0 && len(st.want) == 0 {
				return
			}
			eq(t, "overrides", got, st.want)
		})
	}
}

func testMutes(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	all := pool.Mute{Pool: "gpu-nightly", Condition: "", Until: base.Add(time.Hour), By: "U1"}
	one := pool.Mute{Pool: "gpu-nightly", Condition: "failed", Until: base.Add(2 * time.Hour), By: "U2"}
	one2 := one
	one2.Until, one2.By = base.Add(4*time.Hour), "U3"
	steps := []struct {
		name string
		do   func() error
		want []pool.Mute
	}{
		{"put all conditions", func() error { return s.PutMute(ctx, all) }, []pool.Mute{all}},
		{"put one condition", func() error { return s.PutMute(ctx, one) }, []pool.Mute{all, one}},
		{"replace", func() error { return s.PutMute(ctx, one2) }, []pool.Mute{all, one2}},
		{"delete", func() error { return s.DeleteMute(ctx, "gpu-nightly", "") }, []pool.Mute{one2}},
		{"delete absent", func() error { return s.DeleteMute(ctx, "nope", "x") }, []pool.Mute{one2}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			must(t, st.do())
			got, err := s.Mutes(ctx)
			must(t, err)
			eq(t, "mutes", got, st.want)
		})
	}
}

func testAlerts(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	a := pool.Alert{Key: "gpu-nightly/failed", Pool: "gpu-nightly", Condition: "failed", Severity: "critical", Firing: true,
		Incident: 1, Count: 3, Summary: "3 nodes failed", Detail: "extension failed", Channel: "C1", MessageKey: "alert:gpu-nightly/failed:1",
		StartedAt: base, UpdatedAt: base.Add(time.Minute), NotifiedAt: base}
	b := pool.Alert{Key: "linux-ci/offline", Pool: "linux-ci", Condition: "offline", Severity: "warning", Firing: false, Incident: 2,
		StartedAt: base, ResolvedAt: base.Add(time.Hour)}
	resolved := a
	resolved.Firing, resolved.ResolvedAt, resolved.Count = false, base.Add(2*time.Hour), 4
	steps := []struct {
		name string
		put  pool.Alert
		want []pool.Alert
	}{
		{"put", a, []pool.Alert{a}},
		{"second, ordered by key", b, []pool.Alert{a, b}},
		{"replace by key", resolved, []pool.Alert{resolved, b}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			must(t, s.PutAlert(ctx, st.put))
			got, err := s.Alerts(ctx)
			must(t, err)
			eq(t, "alerts", got, st.want)
		})
	}
}

func testOutbox(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	now := time.Now().UTC().Truncate(time.Microsecond)
	msgs := []pool.OutboxMessage{
		{Channel: "C1", Key: "k1", Op: "post", Text: "hello", Blocks: `[{"type":"section"}]`, Created: base},
		{Channel: "C1", Key: "k1", Op: "update", Text: "hello again", Created: base},
		{Channel: "C2", Key: "k2", Op: "post", Text: "later", Created: base, NotBefore: now.Add(time.Hour)},
		{Channel: "C2", Key: "k3", Op: "post", Text: "due", Created: base, NotBefore: now.Add(-time.Minute), Attempts: 2},
	}
	for i := range msgs {
		id, err := s.Enqueue(ctx, msgs[i])
		must(t, err)
		if i > 0 && id <= msgs[i-1].ID {
			t.Fatalf("id %d after %d", id, msgs[i-1].ID)
		}
		msgs[i].ID = id
	}
	tests := []struct {
		name  string
		limit int
		want  []pool.OutboxMessage
	}{
		{"ID order, future NotBefore left out", 10, []pool.OutboxMessage{msgs[0], msgs[1], msgs[3]}},
		{"limit", 2, []pool.OutboxMessage{msgs[0], msgs[1]}},
		{"zero limit means a default", 0, []pool.OutboxMessage{msgs[0], msgs[1], msgs[3]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Pending(ctx, tc.limit)
			must(t, err)
			eq(t, "pending", got, tc.want)
		})
	}
	t.Run("zero Created is now", func(t *testing.T) {
		id, err := s.Enqueue(ctx, pool.OutboxMessage{Channel: "C", Key: "k9", Op: "post", Text: "x"})
		must(t, err)
		got, err := s.Pending(ctx, 100)
		must(t, err)
		last := got[len(got)-1]
		if last.ID != id || last.Created.Before(now.Add(-time.Minute)) {
			t.Fatalf("got %+v", last)
		}
	})
}

func testMarkSent(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	enq := func(m pool.OutboxMessage) int64 {
		t.Helper()
		m.Created = base
		id, err := s.Enqueue(ctx, m)
		must(t, err)
		return id
	}
	post := enq(pool.OutboxMessage{Channel: "C1", Key: "alert:1", Op: "post", Text: "firing"})
	update := enq(pool.OutboxMessage{Channel: "C1", Key: "alert:1", Op: "update", Text: "resolved"})
	reply := enq(pool.OutboxMessage{Channel: "C1", Key: "alert:1", Op: "reply", Text: "details"})
	defaults := enq(pool.OutboxMessage{Channel: "C7", Key: "digest:1", Op: "post", Text: "digest"})
	orphan := enq(pool.OutboxMessage{Channel: "C2", Key: "alert:9", Op: "update", Text: "resolved"})
	orphanLater := enq(pool.OutboxMessage{Channel: "C2", Key: "alert:9", Op: "update", Text: "resolved again"})

	steps := []struct {
		name     string
		id       int64
		sent     pool.Sent
		key      string
		wantSent pool.Sent
	}{
		{"post records its ts", post, pool.Sent{Key: "alert:1", Channel: "C1", TS: "1700000000.000100"}, "alert:1", pool.Sent{Key: "alert:1", Channel: "C1", TS: "1700000000.000100"}},
		{"update keeps the post's ts", update, pool.Sent{Key: "alert:1", Channel: "C1", TS: "1700000000.000200"}, "alert:1", pool.Sent{Key: "alert:1", Channel: "C1", TS: "1700000000.000100"}},
		{"reply keeps the post's ts", reply, pool.Sent{TS: "1700000000.000300"}, "alert:1", pool.Sent{Key: "alert:1", Channel: "C1", TS: "1700000000.000100"}},
		{"key and channel default to the message's", defaults, pool.Sent{TS: "1700000001.000001"}, "digest:1", pool.Sent{Key: "digest:1", Channel: "C7", TS: "1700000001.000001"}},
		{"an update posted in place of a missing original records that post", orphan, pool.Sent{Key: "alert:9", Channel: "C2", TS: "1700000002.000001"}, "alert:9", pool.Sent{Key: "alert:9", Channel: "C2", TS: "1700000002.000001"}},
		{"a later update keeps it", orphanLater, pool.Sent{Key: "alert:9", Channel: "C2", TS: "1700000002.000009"}, "alert:9", pool.Sent{Key: "alert:9", Channel: "C2", TS: "1700000002.000001"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			must(t, s.MarkSent(ctx, st.id, st.sent))
			got, err := s.SentMessage(ctx, st.key)
			must(t, err)
			eq(t, "sent", got, st.wantSent)
			pending, err := s.Pending(ctx, 100)
			must(t, err)
			for _, m := range pending {
				if m.ID == st.id {
					t.Fatalf("message %d still pending", st.id)
				}
			}
		})
	}
	t.Run("twice is not found", func(t *testing.T) {
		if err := s.MarkSent(ctx, post, pool.Sent{TS: "x"}); !errors.Is(err, pool.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		got, err := s.SentMessage(ctx, "alert:1")
		must(t, err)
		eq(t, "ts unchanged", got.TS, "1700000000.000100")
	})
}

func testRetry(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	id, err := s.Enqueue(ctx, pool.OutboxMessage{Channel: "C1", Key: "k", Op: "post", Text: "x", Created: base})
	must(t, err)
	now := time.Now().UTC().Truncate(time.Microsecond)
	steps := []struct {
		name      string
		notBefore time.Time
		pending   bool
		attempts  int
	}{
		{"back off into the future", now.Add(time.Hour), false, 1},
		{"due again", now.Add(-time.Second), true, 2},
		{"zero NotBefore is due", time.Time{}, true, 3},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			must(t, s.Retry(ctx, id, st.notBefore))
			got, err := s.Pending(ctx, 10)
			must(t, err)
			if !st.pending {
				eq(t, "pending", len(got), 0)
				return
			}
			if len(got) != 1 {
				t.Fatalf("pending = %+v", got)
			}
			eq(t, "attempts", got[0].Attempts, st.attempts)
			eq(t, "not before", got[0].NotBefore, st.notBefore)
		})
	}
}

// testDeadLetters: a refused message leaves Pending but stays in the store,
// listed by Refused with its reason, across a restart, until Requeue makes
// it pending again, due at once.
func testDeadLetters(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	var ids []int64
	for i, ch := range []string{"C1", "C1", "C2"} {
		id, err := s.Enqueue(ctx, pool.OutboxMessage{Channel: ch, Key: fmt.Sprintf("k%d", i), Op: "post",
			Text: fmt.Sprintf("m%d", i), Created: base})
		must(t, err)
		ids = append(ids, id)
	}
	at := base.Add(time.Minute)
	must(t, s.Retry(ctx, ids[0], time.Time{}))
	must(t, s.Refuse(ctx, ids[0], "not_in_channel", at))
	must(t, s.Refuse(ctx, ids[2], "channel_not_found", at.Add(time.Second)))
	if err := s.Refuse(ctx, 1<<40, "x", at); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("refusing an unknown id: %v, want ErrNotFound", err)
	}
	pendingIDs := func(s pool.Store) []int64 {
		t.Helper()
		got, err := s.Pending(ctx, 100)
		must(t, err)
		var out []int64
		for _, m := range got {
			out = append(out, m.ID)
		}
		return out
	}
	eq(t, "pending after refusals", pendingIDs(s), []int64{ids[1]})

	// Kept across a restart.
	must(t, s.Close())
	s = opened(t, open)
	refused, err := s.Refused(ctx, 0)
	must(t, err)
	if len(refused) != 2 {
		t.Fatalf("refused = %+v, want 2", refused)
	}
	eq(t, "first refused", []any{refused[0].ID, refused[0].Channel, refused[0].Text, refused[0].Refusal, refused[0].RefusedAt, refused[0].Attempts},
		[]any{ids[0], "C1", "m0", "not_in_channel", at, 2})
	eq(t, "second refused", []any{refused[1].ID, refused[1].Refusal}, []any{ids[2], "channel_not_found"})
	limited, err := s.Refused(ctx, 1)
	must(t, err)
	eq(t, "limit", len(limited), 1)

	n, err := s.Requeue(ctx, []int64{ids[2], ids[1], 1 << 40})
	must(t, err)
	eq(t, "requeued by id (a pending and an unknown id are not counted)", n, 1)
	eq(t, "pending after requeue of one", pendingIDs(s), []int64{ids[1], ids[2]})
	n, err = s.Requeue(ctx, nil)
	must(t, err)
	eq(t, "requeue all", n, 1)
	got, err := s.Pending(ctx, 100)
	must(t, err)
	eq(t, "pending after requeue of all", len(got), 3)
	eq(t, "requeued message is due at once, attempts reset", []any{got[0].ID, got[0].Attempts, got[0].NotBefore, got[0].Refusal},
		[]any{ids[0], 0, time.Time{}, ""})
	refused, err = s.Refused(ctx, 0)
	must(t, err)
	eq(t, "refused after requeue", len(refused), 0)
	n, err = s.Requeue(ctx, nil)
	must(t, err)
	eq(t, "requeue with nothing refused", n, 0)
}

func testKeyValue(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	steps := []struct{ key, value string }{
		{"cursor/linux-ci", "41"},
		{"cursor/linux-ci", "42"},
		{"image/previous/linux-ci", "/subscriptions/x/galleries/g/images/u/versions/1.0.0"},
		{"empty", ""},
		{"unicode ✓", "ünïcødé\nline two"},
	}
	for _, st := range steps {
		t.Run(st.key, func(t *testing.T) {
			must(t, s.Put(ctx, st.key, st.value))
			got, err := s.Get(ctx, st.key)
			must(t, err)
			eq(t, "value", got, st.value)
		})
	}
}

func testClaim(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	steps := []struct {
		key, owner string
		want       bool
	}{
		{"schedule/office-hours/linux-ci/2025-03-14T07:00", "replica-a", true},
		{"schedule/office-hours/linux-ci/2025-03-14T07:00", "replica-b", false},
		{"schedule/office-hours/linux-ci/2025-03-14T07:00", "replica-a", false},
		{"schedule/office-hours/windows-ci/2025-03-14T07:00", "replica-b", true},
	}
	for i, st := range steps {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, err := s.Claim(ctx, st.key, st.owner)
			must(t, err)
			eq(t, "claimed", got, st.want)
		})
	}
}

func testNotFound(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	tests := []struct {
		name string
		call func() error
	}{
		{"SavedSettings", func() error { _, err := s.SavedSettings(ctx, "nope"); return err }},
		{"SentMessage", func() error { _, err := s.SentMessage(ctx, "nope"); return err }},
		{"Get", func() error { _, err := s.Get(ctx, "nope"); return err }},
		{"MarkSent", func() error { return s.MarkSent(ctx, 987654, pool.Sent{TS: "1"}) }},
		{"Retry", func() error { return s.Retry(ctx, 987654, base) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, pool.ErrNotFound) {
				t.Fatalf("got %v, want ErrNotFound", err)
			}
		})
	}
}

// testRestart writes one of everything, closes the store, reopens the same
// database and reads it all back.
func testRestart(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	saved := pool.Saved{Pool: "p", Settings: pool.Settings{Standby: pool.Int(2)}, Time: base, By: "scheduler"}
	override := pool.Override{Pool: "p", Kind: "hold", Settings: pool.Settings{Max: pool.Int(3)}, Until: base, By: "U1", Created: base}
	mute := pool.Mute{Pool: "p", Condition: "stuck", Until: base, By: "U1"}
	alert := pool.Alert{Key: "p/stuck", Pool: "p", Condition: "stuck", Severity: "warning", Firing: true, Incident: 1, StartedAt: base}
	audit := pool.AuditEntry{Time: base, Actor: "U1", Pool: "p", Command: "scale", Result: "ok"}
	var err error
	audit.ID, err = s.AddAudit(ctx, audit)
	must(t, err)
	_, err = s.SaveSettings(ctx, saved)
	must(t, err)
	must(t, s.PutOverride(ctx, override))
	must(t, s.PutMute(ctx, mute))
	must(t, s.PutAlert(ctx, alert))
	must(t, s.Put(ctx, "k", "v"))
	_, err = s.Claim(ctx, "once", "a")
	must(t, err)
	sentID, err := s.Enqueue(ctx, pool.OutboxMessage{Channel: "C", Key: "m1", Op: "post", Text: "sent", Created: base})
	must(t, err)
	must(t, s.MarkSent(ctx, sentID, pool.Sent{TS: "1.1"}))
	waiting := pool.OutboxMessage{Channel: "C", Key: "m2", Op: "post", Text: "waiting", Created: base}
	waiting.ID, err = s.Enqueue(ctx, waiting)
	must(t, err)
	must(t, s.Close())

	s = opened(t, open)
	gotAudit, err := s.Audit(ctx, pool.AuditQuery{})
	must(t, err)
	eq(t, "audit", gotAudit, []pool.AuditEntry{audit})
	gotSaved, err := s.SavedSettings(ctx, "p")
	must(t, err)
	eq(t, "saved", gotSaved, saved)
	gotOverrides, err := s.Overrides(ctx)
	must(t, err)
	eq(t, "overrides", gotOverrides, []pool.Override{override})
	gotMutes, err := s.Mutes(ctx)
	must(t, err)
	eq(t, "mutes", gotMutes, []pool.Mute{mute})
	gotAlerts, err := s.Alerts(ctx)
	must(t, err)
	eq(t, "alerts", gotAlerts, []pool.Alert{alert})
	v, err := s.Get(ctx, "k")
	must(t, err)
	eq(t, "kv", v, "v")
	claimed, err := s.Claim(ctx, "once", "b")
	must(t, err)
	eq(t, "claim survives", claimed, false)
	sent, err := s.SentMessage(ctx, "m1")
	must(t, err)
	eq(t, "sent", sent, pool.Sent{Key: "m1", Channel: "C", TS: "1.1"})
	pending, err := s.Pending(ctx, 10)
	must(t, err)
	eq(t, "pending", pending, []pool.OutboxMessage{waiting})
	// Ids go on increasing after a restart.
	id, err := s.Enqueue(ctx, pool.OutboxMessage{Channel: "C", Key: "m3", Op: "post", Created: base})
	must(t, err)
	if id <= waiting.ID {
		t.Errorf("id %d after restart is not above %d", id, waiting.ID)
	}
}

// testConcurrency runs writers at once: every claim is won once, every
// message gets its own id, and no write is lost.
func testConcurrency(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	const workers, keys = 8, 10
	var wg sync.WaitGroup
	wins := make([][]string, workers)
	ids := make([][]int64, workers)
	errs := make(chan error, workers*keys*4)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			owner := fmt.Sprintf("replica-%d", w)
			for k := 0; k < keys; k++ {
				key := fmt.Sprintf("change/%d", k)
				ok, err := s.Claim(ctx, key, owner)
				if err != nil {
					errs <- err
					continue
				}
				if ok {
					wins[w] = append(wins[w], key)
				}
				id, err := s.Enqueue(ctx, pool.OutboxMessage{Channel: "C", Key: fmt.Sprintf("%s/%d", owner, k), Op: "post", Created: base})
				if err != nil {
					errs <- err
					continue
				}
				ids[w] = append(ids[w], id)
				if _, err := s.AddAudit(ctx, pool.AuditEntry{Time: base, Pool: "concurrent", Actor: owner, Result: "ok"}); err != nil {
					errs <- err
				}
				if err := s.Put(ctx, "last", owner); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	won := map[string]int{}
	for _, ks := range wins {
		for _, k := range ks {
			won[k]++
		}
	}
	if len(won) != keys {
		t.Errorf("%d keys claimed, want %d", len(won), keys)
	}
	for k, n := range won {
		if n != 1 {
			t.Errorf("%s claimed %d times", k, n)
		}
	}
	seen := map[int64]bool{}
	for _, l := range ids {
		for _, id := range l {
			if seen[id] {
				t.Errorf("id %d given twice", id)
			}
			seen[id] = true
		}
	}
	pending, err := s.Pending(ctx, 1000)
	must(t, err)
	eq(t, "pending", len(pending), workers*keys)
	audit, err := s.Audit(ctx, pool.AuditQuery{Pool: "concurrent", Limit: 1000})
	must(t, err)
	eq(t, "audit", len(audit), workers*keys)
}

// testLease walks one key through take, refusal, renewal, release and lapse.
// The stores run on the wall clock, so leases end an hour from now or a
// second ago.
func testLease(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	t.Cleanup(func() { s.Close() }) // the store open at the end
	now := time.Now().UTC().Truncate(time.Microsecond)
	live, later, lapsed := now.Add(time.Hour), now.Add(2*time.Hour), now.Add(-time.Second)
	const key = "change/linux-ci"
	type want struct {
		held  bool
		owner string
		info  string
		until time.Time
	}
	steps := []struct {
		name        string
		do          func() (bool, pool.Lease, error)
		want        want
		currentFrom string // owner CurrentLease should report after the step; "" none
	}{
		{"free key is taken", take(ctx, s, key, "a/1", "ana image", live), want{true, "a/1", "ana image", live}, "a/1"},
		{"another owner is told the holder", take(ctx, s, key, "b/1", "bob standby", live), want{false, "a/1", "ana image", live}, "a/1"},
		{"the owner renews and replaces info", take(ctx, s, key, "a/1", "ana image 50%", later), want{true, "a/1", "ana image 50%", later}, "a/1"},
		{"a release by another owner does nothing", release(ctx, s, key, "b/1"), want{}, "a/1"},
		{"the owner releases", release(ctx, s, key, "a/1"), want{}, ""},
		{"a released key is free", take(ctx, s, key, "b/1", "bob standby", lapsed), want{true, "b/1", "bob standby", lapsed}, ""},
		{"a lapsed lease is taken over", take(ctx, s, key, "c/1", "cid max", live), want{true, "c/1", "cid max", live}, "c/1"},
		{"its old owner cannot renew it", take(ctx, s, key, "b/1", "bob standby", later), want{false, "c/1", "cid max", live}, "c/1"},
		{"another key is independent", take(ctx, s, "change/windows-ci", "b/1", "bob", live), want{true, "b/1", "bob", live}, "c/1"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			held, cur, err := st.do()
			must(t, err)
			if st.want.owner != "" {
				eq(t, "held", held, st.want.held)
				eq(t, "lease", cur, pool.Lease{Key: cur.Key, Owner: st.want.owner, Info: st.want.info, Until: st.want.until})
				if cur.Key != key && cur.Key != "change/windows-ci" {
					t.Errorf("lease key %q", cur.Key)
				}
			}
			got, err := s.CurrentLease(ctx, key)
			if st.currentFrom == "" {
				if !errors.Is(err, pool.ErrNotFound) {
					t.Fatalf("CurrentLease = %+v, %v; want ErrNotFound", got, err)
				}
				return
			}
			must(t, err)
			eq(t, "current owner", got.Owner, st.currentFrom)
		})
	}
	t.Run("bad arguments", func(t *testing.T) {
		for _, args := range [][2]string{{"", "a"}, {key, ""}} {
			if _, _, err := s.TakeLease(ctx, args[0], args[1], "", live); err == nil {
				t.Errorf("TakeLease(%q, %q) took a lease", args[0], args[1])
			}
		}
		if _, _, err := s.TakeLease(ctx, key, "a", "", time.Time{}); err == nil {
			t.Error("TakeLease with no end took a lease")
		}
	})
	// The lease survives a restart of the store.
	must(t, s.Close())
	s = open(t)
	held, cur, err := s.TakeLease(ctx, key, "d/1", "dan", live)
	must(t, err)
	if held || cur.Owner != "c/1" {
		t.Fatalf("after a restart d/1 held=%t, holder %q; want c/1 still holding", held, cur.Owner)
	}
}

func take(ctx context.Context, s pool.Store, key, owner, info string, until time.Time) func() (bool, pool.Lease, error) {
	return func() (bool, pool.Lease, error) { return s.TakeLease(ctx, key, owner, info, until) }
}

func release(ctx context.Context, s pool.Store, key, owner string) func() (bool, pool.Lease, error) {
	return func() (bool, pool.Lease, error) { return false, pool.Lease{}, s.ReleaseLease(ctx, key, owner) }
}

// testLeaseRace has owners race for free and for lapsed keys: each round
// has exactly one winner, and every loser is told who won.
func testLeaseRace(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	const workers, rounds = 8, 6
	for r := 0; r < rounds; r++ {
		key := fmt.Sprintf("change/pool-%d", r%2)
		// Rounds 0, 1 race for free keys. Rounds 2, 3 for keys whose
		// holder released them; 4, 5 for keys whose holder let them lapse.
		switch {
		case r >= 2 && r < 4:
			cur, err := s.CurrentLease(ctx, key)
			must(t, err)
			must(t, s.ReleaseLease(ctx, key, cur.Owner))
		case r >= 4:
			cur, err := s.CurrentLease(ctx, key)
			must(t, err)
			held, _, err := s.TakeLease(ctx, key, cur.Owner, cur.Info, time.Now().Add(-time.Second))
			must(t, err)
			if !held {
				t.Fatalf("%s could not cut its own lease short", cur.Owner)
			}
		}
		until := time.Now().Add(time.Hour)
		type result struct {
			owner string
			held  bool
			cur   pool.Lease
			err   error
		}
		results := make(chan result, workers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(owner string) {
				defer wg.Done()
				<-start
				held, cur, err := s.TakeLease(ctx, key, owner, "info "+owner, until)
				results <- result{owner, held, cur, err}
			}(fmt.Sprintf("replica-%d/round-%d", w, r))
		}
		close(start)
		wg.Wait()
		close(results)
		var winners []string
		var losers []result
		for res := range results {
			if res.err != nil {
				t.Errorf("round %d %s: %v", r, res.owner, res.err)
				continue
			}
			if res.held {
				winners = append(winners, res.owner)
			} else {
				losers = append(losers, res)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d on %s: winners %v, want exactly one", r, key, winners)
		}
		for _, l := range losers {
			if l.cur.Owner != winners[0] || l.cur.Info != "info "+winners[0] {
				t.Errorf("round %d: %s was told %q (%q) holds it, want %s", r, l.owner, l.cur.Owner, l.cur.Info, winners[0])
			}
		}
	}
}

// BenchLease measures lease round trips on s beside a baseline in the same
// run: Put, one upsert of a small value. TakeRenew is the renewal a holder
// makes every 30 s; TakeRelease a whole lock and unlock; Refused a take
// while another holds the key (the upsert, then the read of the holder).
func BenchLease(b *testing.B, s pool.Store) {
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	b.Run("Put(baseline)", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := s.Put(ctx, "bench/put", "v"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("TakeRenew", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if held, _, err := s.TakeLease(ctx, "bench/renew", "a", "info", until); err != nil || !held {
				b.Fatal(held, err)
			}
		}
	})
	b.Run("TakeRelease", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if held, _, err := s.TakeLease(ctx, "bench/release", "a", "info", until); err != nil || !held {
				b.Fatal(held, err)
			}
			if err := s.ReleaseLease(ctx, "bench/release", "a"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Refused", func(b *testing.B) {
		if _, _, err := s.TakeLease(ctx, "bench/refused", "a", "info", until); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < b.N; i++ {
			if held, cur, err := s.TakeLease(ctx, "bench/refused", "b", "info", until); err != nil || held || cur.Owner != "a" {
				b.Fatal(held, cur, err)
			}
		}
	})
}
