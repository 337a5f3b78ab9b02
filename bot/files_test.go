package bot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// fileMsg is an outbox message sharing a small file named name in channel.
func fileMsg(t *testing.T, channel, name string) pool.OutboxMessage {
	t.Helper()
	b, err := json.Marshal(pool.OutboxFile{Name: name, Title: "chart " + name, AltText: "bars", Data: []byte("PNG " + name)})
	if err != nil {
		t.Fatal(err)
	}
	return pool.OutboxMessage{Channel: channel, Key: "file/" + name, Op: "file", Text: "caption of " + name, Blocks: string(b)}
}

// TestSenderSharesFileOnce: a file goes out in order with the channel's
// posts, with its text as the message, and is shared once whether the
// process dies before sharing it, after Slack shared it but before
// MarkSent, or not at all.
func TestSenderSharesFileOnce(t *testing.T) {
	tests := []struct {
		name    string
		crash   func(ids []int64) *dyingStore // nil: no crash
		history int                           // conversations.history calls after the restart
		uploads int                           // files.completeUploadExternal calls in all
	}{
		{name: "no crash", uploads: 1},
		{name: "killed between share and MarkSent", history: 1, uploads: 1,
			crash: func(ids []int64) *dyingStore { return &dyingStore{markFails: map[int64]bool{ids[1]: true}, left: 1} }},
		{name: "killed after the marker, before the share", history: 1, uploads: 1,
			crash: func(ids []int64) *dyingStore {
				// The marker names the file id the stub gives: its ts and ids
				// come from one sequence, and the post before took the first.
				return &dyingStore{putKills: map[string]bool{fileInflightKey("C1") + "=" + itoa(ids[1]) + " F000000002": true}, left: 1}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newSenderRig(t)
			advancer(t, r.fake, 100*time.Millisecond)
			msgs := []pool.OutboxMessage{posts("C1", 1)[0], fileMsg(t, "C1", "a.png"), posts("C1", 2)[1]}
			for i := range msgs {
				msgs[i].Created = r.fake.Now()
			}
			ids := r.enqueueIDs(t, msgs...)
			if tt.crash != nil {
				r.crashRun(t, tt.crash(ids))
			}
			flushOutbox(t, r.senderOn(r.st, quiet(t), nil))
			r.checkOutboxEmpty(t)
			files := r.stub.Files()
			if len(files) != 1 {
				t.Fatalf("%d files shared, want 1: %+v", len(files), files)
			}
			f := files[0]
			if f.Channel != "C1" || f.Name != "a.png" || f.Title != "chart a.png" || f.AltText != "bars" ||
				!bytes.Equal(f.Data, []byte("PNG a.png")) || f.Comment != "caption of a.png" {
				t.Fatalf("shared %+v", f)
			}
			if n := r.stub.Calls("files.completeUploadExternal"); n != tt.uploads {
				t.Errorf("%d completions, want %d", n, tt.uploads)
			}
			if n := r.stub.Calls("conversations.history"); n != tt.history {
				t.Errorf("%d history calls, want %d", n, tt.history)
			}
			// In outbox order: post, file, post.
			var order []string
			for _, m := range r.stub.Messages() {
				if len(m.Files) > 0 {
					order = append(order, "file")
				} else {
					order = append(order, m.Text)
				}
			}
			if got := strings.Join(order, ","); got != fmt.Sprintf("%s,file,%s", msgs[0].Text, msgs[2].Text) {
				t.Errorf("channel reads %s", got)
			}
		})
	}
}

// TestSenderFileRefusedThenShared: a 429 or an error from Slack keeps the
// file pending (and the channel's later posts behind it); it goes once
// Slack takes it.
func TestSenderFileRefusedThenShared(t *testing.T) {
	r := newSenderRig(t)
	advancer(t, r.fake, 100*time.Millisecond)
	r.enqueueIDs(t, fileMsg(t, "C1", "b.png"), posts("C1", 1)[0])
	r.stub.Refuse("internal_error", "files.completeUploadExternal")
	s := r.senderOn(r.st, quiet(t), nil)
	if _, err := s.sendRound(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(r.stub.Messages()); n != 0 {
		t.Fatalf("%d messages while the file is refused, want 0", n)
	}
	r.stub.Refuse("", "files.completeUploadExternal")
	flushOutbox(t, s)
	if n := len(r.stub.Files()); n != 1 {
		t.Fatalf("%d files, want 1", n)
	}
	if n := len(r.stub.Messages()); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

// An unreadable file is posted as its text alone, so that nothing is lost.
func TestSenderUnreadableFilePostsText(t *testing.T) {
	r := newSenderRig(t)
	advancer(t, r.fake, 100*time.Millisecond)
	r.enqueueIDs(t, pool.OutboxMessage{Channel: "C1", Key: "file/x", Op: "file", Text: "the chart's text", Blocks: "{"})
	flushOutbox(t, r.senderOn(r.st, quiet(t), nil))
	msgs := r.stub.Messages()
	if len(msgs) != 1 || msgs[0].Text != "the chart's text" || len(r.stub.Files()) != 0 {
		t.Fatalf("messages %+v files %d", msgs, len(r.stub.Files()))
	}
}

// Without the history scope the next run cannot tell whether the file was
// shared: it shares it again (twice beats lost) and says so once.
func TestSenderFileLookupRefused(t *testing.T) {
	r := newSenderRig(t)
	advancer(t, r.fake, 100*time.Millisecond)
	m := fileMsg(t, "C1", "c.png")
	m.Created = r.fake.Now()
	ids := r.enqueueIDs(t, m)
	r.crashRun(t, &dyingStore{markFails: map[int64]bool{ids[0]: true}, left: 1})
	r.stub.Refuse("missing_scope", "conversations.history")
	w := &warnings{}
	flushOutbox(t, r.senderOn(r.st, slog.New(w), nil))
	r.checkOutboxEmpty(t)
	if n := len(r.stub.Files()); n != 2 {
		t.Fatalf("%d files, want 2 (shared again when in doubt)", n)
	}
	if n := w.count("cannot tell whether an earlier run posted"); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}
