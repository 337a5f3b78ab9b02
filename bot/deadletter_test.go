package bot

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackstub"
)

// TestSenderKeepsRefusedMessages runs a 60 s not_in_channel outage of one
// channel on the local Slack, in virtual time, with a message queued for it
// every 10 s. No message is lost: each is posted after the cause is fixed
// (the last ones on their own retries, the others by a requeue, as
// `/pool outbox retry` does), or is listed as refused until then; the alert
// channel is told once; another channel is not held back meanwhile.
func TestSenderKeepsRefusedMessages(t *testing.T) {
	ctx := context.Background()
	r := newSenderRig(t)
	s := r.sender(t)
	s.AlertChannel = "COPS"
	var (
		mu      sync.Mutex
		refused []string
	)
	s.OnRefused = func(m pool.OutboxMessage, reason string) {
		mu.Lock()
		defer mu.Unlock()
		refused = append(refused, m.Text+"/"+reason)
	}
	r.stub.RefuseIn("not_in_channel", "C1", "chat.postMessage")
	advancer(t, r.fake, 100*time.Millisecond)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	var want []string
	for i := range 6 {
		at := r.t0.Add(time.Duration(i) * 10 * time.Second)
		for r.fake.Now().Before(at) {
			time.Sleep(100 * time.Microsecond)
		}
		text := fmt.Sprintf("change %d", i)
		want = append(want, text)
		r.enqueue(t, pool.OutboxMessage{Channel: "C1", Op: "post", Key: fmt.Sprintf("c1/%d", i), Text: text},
			pool.OutboxMessage{Channel: "C2", Op: "post", Key: fmt.Sprintf("c2/%d", i), Text: "elsewhere " + text})
		s.Kick()
	}
	// The other channel is not held back by the outage.
	eventually(t, "C2's messages during the outage", func() bool { return len(textsIn(r.stub.Messages(), "C2")) == 6 })
	for r.fake.Now().Before(r.t0.Add(60 * time.Second)) {
		time.Sleep(100 * time.Microsecond)
	}
	listed, err := r.st.Refused(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) == 0 {
		t.Fatal("nothing listed as refused after a 60 s outage")
	}
	for _, m := range listed {
		if m.Refusal != "not_in_channel" || m.Channel != "C1" {
			t.Errorf("refused %+v", m)
		}
	}
	r.stub.RefuseIn("", "C1", "chat.postMessage") // poolbot invited back

	// Every message is either posted by now (a retry after the fix) or
	// still listed as refused: none is lost.
	eventually(t, "the pending retries after the fix", func() bool {
		p, _ := r.st.Pending(ctx, 100)
		return len(p) == 0 && len(textsIn(r.stub.Messages(), "C1"))+len(listed) >= len(want)
	})
	listed, _ = r.st.Refused(ctx, 0)
	posted := textsIn(r.stub.Messages(), "C1")
	if len(posted)+len(listed) != len(want) {
		t.Fatalf("after the fix: %d posted %v + %d refused, want %d in all", len(posted), posted, len(listed), len(want))
	}
	t.Logf("after the 60 s outage: %d of %d posted by their own retries, %d listed as refused", len(posted), len(want), len(listed))
	n, err := r.st.Requeue(ctx, nil)
	if err != nil || n != len(listed) {
		t.Fatalf("requeue: %d, %v; want %d", n, err, len(listed))
	}
	s.Kick()
	eventually(t, "every message in C1", func() bool { return len(textsIn(r.stub.Messages(), "C1")) == len(want) })
	got := textsIn(r.stub.Messages(), "C1")
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for _, w := range want {
		if seen[w] != 1 {
			t.Errorf("%q posted %d times, want once; posted %v", w, seen[w], got)
		}
	}
	alerts := textsIn(r.stub.Messages(), "COPS")
	if len(alerts) != 1 || !strings.Contains(alerts[0], "not_in_channel") || !strings.Contains(alerts[0], "/pool outbox retry") ||
		!strings.Contains(alerts[0], "Invite poolbot") {
		t.Errorf("alerts %q, want one naming the reason, the fix and /pool outbox retry", alerts)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) == 0 {
		t.Error("OnRefused never called")
	}
}

// TestSenderSkipsSupersededPost: a refused post whose update was posted in
// its place meanwhile is not posted again when requeued.
func TestSenderSkipsSupersededPost(t *testing.T) {
	ctx := context.Background()
	r := newSenderRig(t)
	advancer(t, r.fake, 100*time.Millisecond)
	r.enqueue(t, pool.OutboxMessage{Channel: "C1", Op: "post", Key: "alert/1", Text: "firing"})
	r.stub.RefuseIn("not_in_channel", "C1", "chat.postMessage")
	s := r.sender(t)
	flushOutbox(t, s)
	if l, _ := r.st.Refused(ctx, 0); len(l) != 1 {
		t.Fatalf("refused %+v, want the post", l)
	}
	r.stub.RefuseIn("", "C1", "chat.postMessage")
	r.enqueue(t, pool.OutboxMessage{Channel: "C1", Op: "update", Key: "alert/1", Text: "resolved"})
	flushOutbox(t, s)
	if _, err := r.st.Requeue(ctx, nil); err != nil {
		t.Fatal(err)
	}
	flushOutbox(t, s)
	if got := textsIn(r.stub.Messages(), "C1"); len(got) != 1 || got[0] != "resolved" {
		t.Fatalf("posted %q, want only the update posted in the post's place", got)
	}
}

func textsIn(msgs []slackstub.Message, channel string) []string {
	var out []string
	for _, m := range msgs {
		if m.Channel == channel {
			out = append(out, m.Text)
		}
	}
	return out
}
