package commands

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/poolbot/poolbot/pool"
)

// TestOutboxListsAndRetriesRefused: messages Slack refused for good are
// listed to operators with the reason, and an admin's `outbox retry` makes
// them pending again (all, or by id), audited; others are denied.
func TestOutboxListsAndRetriesRefused(t *testing.T) {
	ctx := context.Background()
	s := newMemStack(t)
	if rep := s.run(req("U-operator", "outbox")).last(); !strings.Contains(rep.Text, "No refused messages") {
		t.Errorf("empty outbox: %q", rep.Text)
	}
	var ids []int64
	for _, text := range []string{"linux-ci scaled down", "gpu-nightly: 3 failed <!channel>"} {
		id, err := s.store.Enqueue(ctx, pool.OutboxMessage{Channel: "C-gone", Key: text, Op: "post", Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.store.Refuse(ctx, id, "not_in_channel", s.clk.Now()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rep := s.run(req("U-operator", "outbox")).last()
	for _, want := range []string{"2 messages refused", "not_in_channel", "C-gone", "linux-ci scaled down", "&lt;!channel&gt;", "/pool outbox retry"} {
		if !strings.Contains(rep.Text+blockText(rep), want) {
			t.Errorf("listing lacks %q: %q", want, rep.Text)
		}
	}
	if rep := s.run(req("U-viewer", "outbox")).last(); !strings.Contains(rep.Text, "you need role operator") {
		t.Errorf("viewer: %q", rep.Text)
	}
	if rep := s.run(req("U-operator", "outbox retry")).last(); !strings.Contains(rep.Text, "you need role admin") {
		t.Errorf("operator retry: %q", rep.Text)
	}
	if rep := s.run(req("U-admin", "outbox resend")).last(); !strings.Contains(rep.Text+blockText(rep), "/pool outbox [retry") {
		t.Errorf("bad word: %q", rep.Text)
	}
	if rep := s.run(req("U-admin", "outbox retry x1")).last(); !strings.Contains(rep.Text, "not a message id") {
		t.Errorf("bad id: %q", rep.Text)
	}
	if left, _ := s.store.Refused(ctx, 0); len(left) != 2 {
		t.Fatalf("bad input changed the dead letters: %+v", left)
	}
	rep = s.run(req("U-admin", "outbox retry #"+strconv.FormatInt(ids[1], 10))).last()
	if !strings.Contains(rep.Text, "sent 1 refused message again") {
		t.Errorf("retry one: %q", rep.Text)
	}
	if p, _ := s.store.Pending(ctx, 10); len(p) != 1 || p[0].ID != ids[1] {
		t.Errorf("pending after retry of one: %+v", p)
	}
	if rep := s.run(req("U-admin", "outbox retry")).last(); !strings.Contains(rep.Text, "sent 1 refused message again") {
		t.Errorf("retry all: %q", rep.Text)
	}
	if rep := s.run(req("U-admin", "outbox retry")).last(); !strings.Contains(rep.Text, "nothing to send again") {
		t.Errorf("retry with none left: %q", rep.Text)
	}
	if left, _ := s.store.Refused(ctx, 0); len(left) != 0 {
		t.Errorf("refused after retry: %+v", left)
	}
	audit, err := s.store.Audit(ctx, pool.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var retried, denied int
	for _, e := range audit {
		switch {
		case strings.HasPrefix(e.Command, "outbox retry") && e.Actor == "U-admin" && strings.HasPrefix(e.Result, "ok: 1 requeued"):
			retried++
		case e.Result == "denied" && e.Actor == "U-operator":
			denied++
		}
	}
	if retried != 2 || denied != 1 {
		t.Errorf("audit: %d retries, %d denials; want 2, 1: %+v", retried, denied, audit)
	}
}

// blockText is r's blocks as JSON, without HTML escaping.
func blockText(r Reply) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(r.Blocks)
	return b.String()
}
