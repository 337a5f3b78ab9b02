package bot

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackstub"
)

// dyingStore is the store as a process sees it that is killed at a chosen
// point: after Slack has a post but before MarkSent records it, or after
// the in-flight marker is written but before Slack is called. Once each
// chosen point has been reached it ends the run (stop), as SIGKILL would.
type dyingStore struct {
	pool.Store
	stop context.CancelFunc

	mu        sync.Mutex
	markFails map[int64]bool // MarkSent of these ids fails
	putKills  map[string]bool
	left      int // chosen points not reached yet; at 0, stop
	failOnly  bool
}

var errKilled = errors.New("process killed")

func (d *dyingStore) reached() {
	d.left--
	if d.left == 0 && !d.failOnly {
		d.stop()
	}
}

func (d *dyingStore) MarkSent(ctx context.Context, id int64, s pool.Sent) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.markFails[id] {
		delete(d.markFails, id)
		d.reached()
		return errKilled
	}
	return d.Store.MarkSent(ctx, id, s)
}

func (d *dyingStore) Put(ctx context.Context, key, value string) error {
	err := d.Store.Put(ctx, key, value)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil && d.putKills[key+"="+value] {
		delete(d.putKills, key+"="+value)
		d.reached()
		return errKilled
	}
	return err
}

// warnings records what the sender logs at Warn and above.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, b.String())
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func (w *warnings) count(substr string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func (r *senderRig) senderOn(st pool.Store, log *slog.Logger, hc *http.Client) *Sender {
	opts := []slack.Option{slack.OptionAPIURL(r.stub.APIURL())}
	if hc != nil {
		opts = append(opts, slack.OptionHTTPClient(hc))
	}
	return NewSender(st, NewPoster(slack.New("xoxb-x", opts...), r.fake, log), r.fake, log)
}

// enqueueIDs enqueues msgs and returns their outbox ids.
func (r *senderRig) enqueueIDs(t *testing.T, msgs ...pool.OutboxMessage) []int64 {
	t.Helper()
	var ids []int64
	for _, m := range msgs {
		id, err := r.st.Enqueue(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// crashRun runs a sender on a store that dies as d says, then reopens the
// store from its file, as the next process would.
func (r *senderRig) crashRun(t *testing.T, d *dyingStore) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.Store, d.stop = r.st, cancel
	err := r.senderOn(d, quiet(t), nil).Flush(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the dying run ended with %v, want it killed", err)
	}
	if d.left != 0 {
		t.Fatalf("%d crash points not reached", d.left)
	}
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}
	r.fake.Advance(time.Minute) // the restart comes later
	r.open(t)
}

func (r *senderRig) checkOutboxEmpty(t *testing.T) {
	t.Helper()
	if p, err := r.st.Pending(context.Background(), 10); err != nil || len(p) != 0 {
		t.Fatalf("outbox after the restart: %+v %v", p, err)
	}
}

func metadataOf(t *testing.T, m slackstub.Message) (int64, string) {
	t.Helper()
	var md slack.SlackMetadata
	if err := json.Unmarshal(m.Metadata, &md); err != nil {
		t.Fatalf("metadata of %q: %q: %v", m.Text, m.Metadata, err)
	}
	id, key, ok := metadataID(md)
	if !ok {
		t.Fatalf("metadata of %q: %s", m.Text, m.Metadata)
	}
	return id, key
}

// TestSenderRestartAfterPostBeforeMarkSent kills the process between Slack
// having a message and the store recording it; the next process must not
// post it again, must record its ts, and later edits must go to it.
func TestSenderRestartAfterPostBeforeMarkSent(t *testing.T) {
	tests := []struct {
		name        string
		msgs        []pool.OutboxMessage
		crashAt     int    // index into msgs whose MarkSent dies
		wantTexts   string // every message Slack shows at the end, in order
		wantHistory int    // conversations.history calls after the restart
		wantReplies int
		editKey     string // the key a later update edits…
		editText    string // …and the text of the message it must edit
	}{
		{
			name:      "post",
			msgs:      []pool.OutboxMessage{{Channel: "C1", Op: "post", Key: "alert/1", Text: "gpu-nightly: 1 failed"}},
			wantTexts: "gpu-nightly: 1 failed", wantHistory: 1,
			editKey: "alert/1", editText: "gpu-nightly: 1 failed",
		},
		{
			name: "thread reply",
			msgs: []pool.OutboxMessage{
				{Channel: "C1", Op: "post", Key: "alert/1", Text: "gpu-nightly: 1 failed"},
				{Channel: "C1", Op: "reply", Key: "alert/1", Text: "node vm-3 failed"},
			},
			crashAt:   1,
			wantTexts: "gpu-nightly: 1 failed|node vm-3 failed", wantReplies: 1,
			editKey: "alert/1", editText: "gpu-nightly: 1 failed",
		},
		{
			name:      "update posted in place of a missing message",
			msgs:      []pool.OutboxMessage{{Channel: "C2", Op: "update", Key: "lost", Text: "orphan"}},
			wantTexts: "orphan", wantHistory: 1,
			editKey: "lost", editText: "orphan",
		},
		{
			name: "post among others never sent",
			msgs: []pool.OutboxMessage{
				{Channel: "C1", Op: "post", Key: "a", Text: "a"},
				{Channel: "C1", Op: "post", Key: "b", Text: "b"},
				{Channel: "C1", Op: "post", Key: "c", Text: "c"},
			},
			wantTexts: "a|b|c", wantHistory: 1,
			editKey: "c", editText: "c",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newSenderRig(t)
			advancer(t, r.fake, 100*time.Millisecond)
			ids := r.enqueueIDs(t, tt.msgs...)
			r.crashRun(t, &dyingStore{markFails: map[int64]bool{ids[tt.crashAt]: true}, left: 1})
			before := len(r.stub.Messages())

			s := r.senderOn(r.st, quiet(t), nil)
			flushOutbox(t, s)
			msgs := r.stub.Messages()
			var texts []string
			for _, m := range msgs {
				texts = append(texts, m.Text)
			}
			if got := strings.Join(texts, "|"); got != tt.wantTexts {
				t.Fatalf("Slack shows %q (%d before the restart), want %q", got, before, tt.wantTexts)
			}
			if h, rp := r.stub.Calls("conversations.history"), r.stub.Calls("conversations.replies"); h != tt.wantHistory || rp != tt.wantReplies {
				t.Fatalf("%d history and %d replies calls, want %d and %d", h, rp, tt.wantHistory, tt.wantReplies)
			}
			r.checkOutboxEmpty(t)
			crashed := msgs[tt.crashAt]
			if id, key := metadataOf(t, crashed); id != ids[tt.crashAt] || key != tt.msgs[tt.crashAt].Key {
				t.Fatalf("metadata id %d key %q, want %d %q", id, key, ids[tt.crashAt], tt.msgs[tt.crashAt].Key)
			}

			// A later edit goes to the message Slack already had.
			var want slackstub.Message
			for _, m := range msgs {
				if m.Text == tt.editText {
					want = m
				}
			}
			r.enqueue(t, pool.OutboxMessage{Channel: want.Channel, Op: "update", Key: tt.editKey, Text: "edited"})
			flushOutbox(t, s)
			if ups := r.stub.Updates(); len(ups) != 1 || ups[0].TS != want.TS || ups[0].Channel != want.Channel {
				t.Fatalf("updates %+v, want one of %s in %s", ups, want.TS, want.Channel)
			}
			if n := len(r.stub.Messages()); n != len(msgs) {
				t.Fatalf("the edit posted: %d messages, want %d", n, len(msgs))
			}
		})
	}
}

// TestSenderRestartBeforeSlackHadIt kills the process after it marked a
// post in flight but before Slack had it: the next process looks, finds
// nothing and posts it, once.
func TestSenderRestartBeforeSlackHadIt(t *testing.T) {
	r := newSenderRig(t)
	advancer(t, r.fake, 100*time.Millisecond)
	want := posts("C1", 3)
	ids := r.enqueueIDs(t, want...)
	// The marker of the second is written, then the process dies.
	r.crashRun(t, &dyingStore{putKills: map[string]bool{inflightKey("C1") + "=" + itoa(ids[1]): true}, left: 1})
	if n := len(r.stub.Messages()); n != 1 {
		t.Fatalf("%d messages before the restart, want 1", n)
	}
	flushOutbox(t, r.senderOn(r.st, quiet(t), nil))
	checkExactlyOnce(t, r.stub.Messages(), want)
	if n := r.stub.Calls("conversations.history"); n != 1 {
		t.Fatalf("%d history calls, want 1", n)
	}
	r.checkOutboxEmpty(t)
}

// TestSenderLookupRefused: without the history scope, or outside the
// channel, the lookup fails; the message is posted anyway (it may then
// show twice: at least once beats lost) and the refusal is logged once.
func TestSenderLookupRefused(t *testing.T) {
	for _, code := range []string{"missing_scope", "not_in_channel"} {
		t.Run(code, func(t *testing.T) {
			r := newSenderRig(t)
			advancer(t, r.fake, 100*time.Millisecond)
			ids := r.enqueueIDs(t, append(posts("C1", 2), posts("C2", 2)...)...)
			// Both channels' first posts reach Slack; the process dies
			// before recording either.
			r.crashRun(t, &dyingStore{markFails: map[int64]bool{ids[0]: true, ids[2]: true}, left: 2})
			if n := len(r.stub.Messages()); n != 2 {
				t.Fatalf("%d messages before the restart, want 2", n)
			}
			r.stub.Refuse(code, "conversations.history")
			w := &warnings{}
			flushOutbox(t, r.senderOn(r.st, slog.New(w), nil))
			if n := len(r.stub.Messages()); n != 6 {
				t.Fatalf("%d messages, want 6 (the two in doubt posted again)", n)
			}
			if n := w.count("cannot tell whether an earlier run posted"); n != 1 {
				t.Fatalf("%d warnings of the refused lookup, want 1: %q", n, w.msgs)
			}
			if n := w.count(code); n != 1 {
				t.Fatalf("the warning does not name %s: %q", code, w.msgs)
			}
			if n := r.stub.Calls("conversations.history"); n != 2 {
				t.Fatalf("%d history calls, want one per channel", n)
			}
			r.checkOutboxEmpty(t)
		})
	}
}

// TestSenderLookupRateLimited: a 429 on the lookup holds the message for
// its Retry-After; then the lookup finds it, and it is not posted again.
func TestSenderLookupRateLimited(t *testing.T) {
	r := newSenderRig(t)
	advancer(t, r.fake, 250*time.Millisecond)
	ids := r.enqueueIDs(t, posts("C1", 2)...)
	r.crashRun(t, &dyingStore{markFails: map[int64]bool{ids[0]: true}, left: 1})
	r.stub.RateLimit(1, 7*time.Second, "conversations.history")
	restart := r.fake.Now()
	flushOutbox(t, r.senderOn(r.st, quiet(t), nil))
	msgs := r.stub.Messages()
	checkExactlyOnce(t, msgs, posts("C1", 2))
	if n := r.stub.Calls("conversations.history"); n != 2 {
		t.Fatalf("%d history calls, want the 429 and the retry", n)
	}
	if d := msgs[1].Time.Sub(restart); d < 7*time.Second {
		t.Fatalf("the next message went %v after the restart, want ≥ 7s (Retry-After)", d)
	}
	if s, err := r.st.SentMessage(context.Background(), "C1/0"); err != nil || s.TS != msgs[0].TS {
		t.Fatalf("recorded %+v %v, want ts %s", s, err, msgs[0].TS)
	}
	r.checkOutboxEmpty(t)
}

// TestSenderMarkSentFailsInRun: a failed MarkSent within one run is
// retried without posting again and without looking in Slack.
func TestSenderMarkSentFailsInRun(t *testing.T) {
	r := newSenderRig(t)
	advancer(t, r.fake, 100*time.Millisecond)
	want := posts("C1", 2)
	ids := r.enqueueIDs(t, want...)
	d := &dyingStore{Store: r.st, markFails: map[int64]bool{ids[0]: true}, left: 1, failOnly: true}
	flushOutbox(t, r.senderOn(d, quiet(t), nil))
	checkExactlyOnce(t, r.stub.Messages(), want)
	if n := r.stub.Calls("conversations.history"); n != 0 {
		t.Fatalf("%d history calls, want none", n)
	}
	r.checkOutboxEmpty(t)
}

// lossy passes requests to the stub but loses the answer to the first
// chat.postMessage, as a timeout after Slack had it would.
type lossy struct {
	mu   sync.Mutex
	lost bool
}

func (l *lossy) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && !l.lost && strings.HasSuffix(req.URL.Path, "/chat.postMessage") {
		l.lost = true
		resp.Body.Close()
		return nil, errors.New("read: connection reset by peer")
	}
	return resp, err
}

// TestSenderAnswerLost: a post whose answer never came may be in Slack;
// the same run looks before trying again.
func TestSenderAnswerLost(t *testing.T) {
	r := newSenderRig(t)
	advancer(t, r.fake, 250*time.Millisecond)
	want := posts("C1", 2)
	r.enqueue(t, want...)
	flushOutbox(t, r.senderOn(r.st, quiet(t), &http.Client{Transport: &lossy{}}))
	checkExactlyOnce(t, r.stub.Messages(), want)
	if n := r.stub.Calls("conversations.history"); n != 1 {
		t.Fatalf("%d history calls, want 1", n)
	}
	r.checkOutboxEmpty(t)
}

func TestMetadataID(t *testing.T) {
	tests := []struct {
		md   slack.SlackMetadata
		id   int64
		key  string
		okay bool
	}{
		{*outboxMetadata(42, "alert/1"), 42, "alert/1", true},
		{slack.SlackMetadata{EventType: outboxEvent, EventPayload: map[string]any{"id": float64(7), "key": "k"}}, 7, "k", true},
		{slack.SlackMetadata{EventType: outboxEvent, EventPayload: map[string]any{"id": "9", "key": "k"}}, 9, "k", true},
		{slack.SlackMetadata{EventType: outboxEvent, EventPayload: map[string]any{"id": 1.5}}, 0, "", false},
		{slack.SlackMetadata{EventType: "other", EventPayload: map[string]any{"id": float64(7)}}, 0, "", false},
		{slack.SlackMetadata{}, 0, "", false},
	}
	for _, tt := range tests {
		// Through JSON, as Slack hands it back.
		raw, err := json.Marshal(tt.md)
		if err != nil {
			t.Fatal(err)
		}
		var md slack.SlackMetadata
		if err := json.Unmarshal(raw, &md); err != nil {
			t.Fatal(err)
		}
		id, key, ok := metadataID(md)
		if id != tt.id || key != tt.key || ok != tt.okay {
			t.Errorf("metadataID(%s) = %d %q %v, want %d %q %v", raw, id, key, ok, tt.id, tt.key, tt.okay)
		}
	}
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// BenchmarkOutboxStoreCost is the store's work per outbox post on a real
// SQLite file: enqueue and MarkSent (the baseline), and the same with the
// in-flight marker written before the post.
func BenchmarkOutboxStoreCost(b *testing.B) {
	for _, marker := range []bool{false, true} {
		name := "baseline"
		if marker {
			name = "with-inflight-marker"
		}
		b.Run(name, func(b *testing.B) {
			r := newSenderRig(b)
			ctx := context.Background()
			n := int64(0)
			for b.Loop() {
				n++
				id, err := r.st.Enqueue(ctx, pool.OutboxMessage{Channel: "C1", Op: "post", Key: "k" + itoa(n), Text: "x"})
				if err != nil {
					b.Fatal(err)
				}
				if marker {
					if err := r.st.Put(ctx, inflightKey("C1"), itoa(id)); err != nil {
						b.Fatal(err)
					}
				}
				if err := r.st.MarkSent(ctx, id, pool.Sent{TS: "1.000001"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
