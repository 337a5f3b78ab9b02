package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackstub"
	"github.com/poolbot/poolbot/store/sqlite"
)

type senderRig struct {
	stub *slackstub.Stub
	fake *clock.Fake
	path string
	st   *sqlite.Store
	t0   time.Time
}

func newSenderRig(t testing.TB) *senderRig {
	t.Helper()
	t0 := time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)
	r := &senderRig{stub: slackstub.New(), fake: clock.NewFake(t0), path: filepath.Join(t.TempDir(), "poolbot.db"), t0: t0}
	t.Cleanup(r.stub.Close)
	r.stub.SetNow(r.fake.Now)
	r.open(t)
	t.Cleanup(func() { r.st.Close() })
	return r
}

func (r *senderRig) open(t testing.TB) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), r.path, sqlite.WithClock(r.fake))
	if err != nil {
		t.Fatal(err)
	}
	r.st = st
}

func (r *senderRig) sender(t *testing.T) *Sender {
	api := slack.New("xoxb-x", slack.OptionAPIURL(r.stub.APIURL()))
	return NewSender(r.st, NewPoster(api, r.fake, quiet(t)), r.fake, quiet(t))
}

func (r *senderRig) enqueue(t *testing.T, msgs ...pool.OutboxMessage) {
	t.Helper()
	for _, m := range msgs {
		if _, err := r.st.Enqueue(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func posts(channel string, n int) []pool.OutboxMessage {
	var out []pool.OutboxMessage
	for i := range n {
		out = append(out, pool.OutboxMessage{Channel: channel, Op: "post", Key: fmt.Sprintf("%s/%d", channel, i),
			Text: fmt.Sprintf("%s #%d", channel, i)})
	}
	return out
}

func flushOutbox(t *testing.T, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// checkExactlyOnce checks every message of want arrived once, each
// channel's in order.
func checkExactlyOnce(t *testing.T, got []slackstub.Message, want []pool.OutboxMessage) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d messages posted, want %d: %+v", len(got), len(want), got)
	}
	next := map[string]int{} // channel → index into its wanted messages
	byChannel := map[string][]string{}
	for _, m := range want {
		byChannel[m.Channel] = append(byChannel[m.Channel], m.Text)
	}
	for _, m := range got {
		i := next[m.Channel]
		if i >= len(byChannel[m.Channel]) || byChannel[m.Channel][i] != m.Text {
			t.Fatalf("in %s got %q as message %d; want order %v", m.Channel, m.Text, i, byChannel[m.Channel])
		}
		next[m.Channel]++
	}
}

func TestSenderPacesPerChannel(t *testing.T) {
	r := newSenderRig(t)
	want := append(posts("C1", 3), posts("C2", 2)...)
	r.enqueue(t, want...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.sender(t).Flush(ctx) }()
	// Channels do not wait for each other: with the clock standing still,
	// each channel's first message goes (a second needs the clock to move).
	first, err := r.stub.WaitForMessages(2, wait)
	if err != nil {
		t.Fatalf("%v: a channel waited behind another", err)
	}
	if first[0].Channel == first[1].Channel {
		t.Fatalf("two messages of %s without the clock moving", first[0].Channel)
	}
	advancer(t, r.fake, 100*time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := r.stub.Messages()
	checkExactlyOnce(t, got, want)
	last := map[string]time.Time{}
	for _, m := range got {
		if prev, ok := last[m.Channel]; ok && m.Time.Sub(prev) < time.Second {
			t.Errorf("%s: %q %v after the previous message, want ≥ 1s", m.Channel, m.Text, m.Time.Sub(prev))
		}
		last[m.Channel] = m.Time
	}
	if p, err := r.st.Pending(context.Background(), 10); err != nil || len(p) != 0 {
		t.Fatalf("outbox after flush: %+v %v", p, err)
	}
}

func TestSenderRateLimited(t *testing.T) {
	tests := []struct {
		name       string
		limited    int
		retryAfter time.Duration
		wantDelay  time.Duration // the first message's delay at least
	}{
		{"one 429", 1, 3 * time.Second, 3 * time.Second},
		{"two 429s in a row", 2, 5 * time.Second, 10 * time.Second},
		{"none", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newSenderRig(t)
			advancer(t, r.fake, 250*time.Millisecond)
			want := posts("C1", 4)
			r.enqueue(t, want...)
			r.stub.RateLimit(tt.limited, tt.retryAfter, "chat.postMessage")
			flushOutbox(t, r.sender(t))
			got := r.stub.Messages()
			checkExactlyOnce(t, got, want)
			if d := got[0].Time.Sub(r.t0); d < tt.wantDelay {
				t.Fatalf("first message after %v, want ≥ %v (Retry-After honoured)", d, tt.wantDelay)
			}
			if n := r.stub.Calls("chat.postMessage"); n != 4+tt.limited {
				t.Fatalf("%d chat.postMessage calls, want %d", n, 4+tt.limited)
			}
		})
	}
}

func TestSenderUpdatesAndReplies(t *testing.T) {
	r := newSenderRig(t)
	advancer(t, r.fake, 100*time.Millisecond)
	blocks := `[{"type":"section","text":{"type":"mrkdwn","text":"*gpu-nightly*: 3 failed"}}]`
	r.enqueue(t,
		pool.OutboxMessage{Channel: "C1", Op: "post", Key: "alert/1", Text: "gpu-nightly: 1 failed"},
		pool.OutboxMessage{Channel: "C1", Op: "update", Key: "alert/1", Text: "gpu-nightly: 2 failed"},
		pool.OutboxMessage{Channel: "C1", Op: "reply", Key: "alert/1", Text: "node vm-3 failed"},
		pool.OutboxMessage{Channel: "C1", Op: "update", Key: "alert/1", Text: "gpu-nightly: 3 failed", Blocks: blocks},
		pool.OutboxMessage{Channel: "C2", Op: "update", Key: "never-posted", Text: "orphan"},
	)
	s := r.sender(t)
	flushOutbox(t, s)
	msgs := r.stub.Messages()
	if len(msgs) != 3 {
		t.Fatalf("messages %+v, want the post, the reply and the orphan", msgs)
	}
	var post, reply, orphan slackstub.Message
	for _, m := range msgs {
		switch m.Text {
		case "gpu-nightly: 1 failed":
			post = m
		case "node vm-3 failed":
			reply = m
		case "orphan":
			orphan = m
		}
	}
	if post.TS == "" || reply.ThreadTS != post.TS || orphan.Channel != "C2" {
		t.Fatalf("post %+v reply %+v orphan %+v", post, reply, orphan)
	}
	ups := r.stub.Updates()
	// The first update was superseded by the last before either went out.
	if len(ups) != 1 || ups[0].TS != post.TS || ups[0].Text != "gpu-nightly: 3 failed" {
		t.Fatalf("updates %+v", ups)
	}
	var b slack.Blocks
	if err := json.Unmarshal(ups[0].Blocks, &b); err != nil || len(b.BlockSet) != 1 {
		t.Fatalf("update blocks %s: %v", ups[0].Blocks, err)
	}
	sent, err := r.st.SentMessage(context.Background(), "alert/1")
	if err != nil || sent.TS != post.TS {
		t.Fatalf("sent record %+v %v", sent, err)
	}

	// A later update of the orphan edits the message posted in its place.
	r.enqueue(t, pool.OutboxMessage{Channel: "C2", Op: "update", Key: "never-posted", Text: "orphan, resolved"})
	flushOutbox(t, s)
	if ups := r.stub.Updates(); len(ups) != 2 || ups[1].TS != orphan.TS {
		t.Fatalf("updates %+v, want the orphan's message edited", ups)
	}

	// So does one after a restart: the store, not the sender's memory,
	// knows the message posted in the orphan's place.
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}
	r.open(t)
	r.enqueue(t, pool.OutboxMessage{Channel: "C2", Op: "update", Key: "never-posted", Text: "orphan, closed"})
	flushOutbox(t, r.sender(t))
	if ups := r.stub.Updates(); len(ups) != 3 || ups[2].TS != orphan.TS || ups[2].Text != "orphan, closed" {
		t.Fatalf("updates %+v, want the orphan's message edited after the restart", ups)
	}
	if n := len(r.stub.Messages()); n != 3 {
		t.Fatalf("%d messages after the restart, want still 3", n)
	}
}

// TestSenderRestart stops a sender mid-way (one message out, the next
// waiting for its pacing slot), reopens the store from its file and
// finishes with a new sender, through a 429: every message exactly once.
func TestSenderRestart(t *testing.T) {
	r := newSenderRig(t)
	want := append(posts("C1", 4), posts("C2", 2)...)
	r.enqueue(t, want...)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.sender(t).Run(ctx) }()
	// Without the clock moving, each channel gets its first message out and
	// then waits a second for the next.
	if _, err := r.stub.WaitForMessages(2, wait); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the sender to wait for its pacing slots", func() bool { return r.fake.Waiters() >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}
	before := len(r.stub.Messages())

	r.open(t)
	advancer(t, r.fake, 250*time.Millisecond)
	r.stub.RateLimit(1, 2*time.Second, "chat.postMessage")
	flushOutbox(t, r.sender(t))
	got := r.stub.Messages()
	checkExactlyOnce(t, got, want)
	if before != 2 {
		t.Fatalf("%d messages before the restart, want 2", before)
	}
	// Stopped cleanly, nothing was in doubt: no lookup in Slack.
	if n := r.stub.Calls("conversations.history") + r.stub.Calls("conversations.replies"); n != 0 {
		t.Fatalf("%d history lookups after a clean stop, want 0", n)
	}
}

func TestParseBlocks(t *testing.T) {
	tests := []struct {
		raw  string
		n    int
		fail bool
	}{
		{"", 0, false},
		{`[{"type":"divider"}]`, 1, false},
		{`{"blocks":[{"type":"divider"},{"type":"divider"}]}`, 2, false},
		{`[{"type":"divider"`, 0, true},
		{`{"blocks":`, 0, true},
	}
	for _, tt := range tests {
		b, err := parseBlocks(tt.raw)
		if (err != nil) != tt.fail || len(b) != tt.n {
			t.Errorf("parseBlocks(%q) = %d blocks, %v", tt.raw, len(b), err)
		}
	}
}
