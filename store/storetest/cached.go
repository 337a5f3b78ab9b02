package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// testCachedReads: a read marked pool.MayBeCached, as status's are, sees
// every write made through the same store at once, whatever the age the
// mark allows; the store may keep an answer only until its next write.
func testCachedReads(t *testing.T, open Open) {
	ctx := context.Background()
	shown := pool.MayBeCached(ctx, time.Hour)
	s := opened(t, open)
	const name = "linux-ci"
	read := func() string {
		t.Helper()
		ovs, err := s.Overrides(shown)
		must(t, err)
		mutes, err := s.Mutes(shown)
		must(t, err)
		audit, err := s.Audit(shown, pool.AuditQuery{Pool: name, Limit: 5})
		must(t, err)
		v, err := s.Get(shown, "rollout/"+name)
		if err != nil && !errors.Is(err, pool.ErrNotFound) {
			t.Fatal(err)
		}
		l, err := s.CurrentLease(shown, "pool/"+name)
		if err != nil && !errors.Is(err, pool.ErrNotFound) {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d overrides, %d mutes, %d audit, kv %q, lease %q", len(ovs), len(mutes), len(audit), v, l.Owner)
	}
	steps := []struct {
		name  string
		write func() error
		want  string
	}{
		{"nothing yet", func() error { return nil }, `0 overrides, 0 mutes, 0 audit, kv "", lease ""`},
		{"a hold", func() error {
			return s.PutOverride(ctx, pool.Override{Pool: name, Kind: "hold", Settings: pool.Settings{Standby: pool.Int(2)}, By: "U1", Created: base})
		}, `1 overrides, 0 mutes, 0 audit, kv "", lease ""`},
		{"a mute", func() error {
			return s.PutMute(ctx, pool.Mute{Pool: name, Until: base.Add(time.Hour), By: "U1"})
		}, `1 overrides, 1 mutes, 0 audit, kv "", lease ""`},
		{"a change audited", func() error {
			_, err := s.AddAudit(ctx, pool.AuditEntry{Time: base, Actor: "U1", Command: "down", Pool: name, Result: "ok"})
			return err
		}, `1 overrides, 1 mutes, 1 audit, kv "", lease ""`},
		{"a rollout's state", func() error { return s.Put(ctx, "rollout/"+name, "canary") }, `1 overrides, 1 mutes, 1 audit, kv "canary", lease ""`},
		{"a lease taken", func() error {
			_, _, err := s.TakeLease(ctx, "pool/"+name, "replica-a", "down", time.Now().Add(time.Hour))
			return err
		}, `1 overrides, 1 mutes, 1 audit, kv "canary", lease "replica-a"`},
		{"the lease released", func() error { return s.ReleaseLease(ctx, "pool/"+name, "replica-a") },
			`1 overrides, 1 mutes, 1 audit, kv "canary", lease ""`},
		{"the hold and mute ended", func() error {
			return errors.Join(s.DeleteOverride(ctx, name, "hold"), s.DeleteMute(ctx, name, ""))
		}, `0 overrides, 0 mutes, 1 audit, kv "canary", lease ""`},
	}
	for _, st := range steps {
		must(t, st.write())
		if got := read(); got != st.want {
			t.Errorf("after %s: %s, want %s", st.name, got, st.want)
		}
		// Read twice: a kept answer is the same.
		if got := read(); got != st.want {
			t.Errorf("after %s, read again: %s, want %s", st.name, got, st.want)
		}
	}
}
