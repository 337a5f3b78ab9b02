package slackstub

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// seed posts n top-level messages to C1, one second apart on the stub's
// clock, each with outbox metadata, and a thread of two replies under the
// first; it returns the top-level ts in posting order.
func seed(t *testing.T, s *Stub, api *slack.Client, n int) (tops []string, start time.Time) {
	t.Helper()
	start = time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)
	now := start
	s.SetNow(func() time.Time { return now })
	ctx := context.Background()
	for i := range n {
		meta := slack.SlackMetadata{EventType: "poolbot_outbox", EventPayload: map[string]any{"id": i + 1, "key": fmt.Sprintf("k%d", i)}}
		_, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText(fmt.Sprintf("m%d", i), false), slack.MsgOptionMetadata(meta))
		if err != nil {
			t.Fatal(err)
		}
		tops = append(tops, ts)
		now = now.Add(time.Second)
	}
	for i := range 2 {
		meta := slack.SlackMetadata{EventType: "poolbot_outbox", EventPayload: map[string]any{"id": 100 + i, "key": "k0"}}
		if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText(fmt.Sprintf("r%d", i), false),
			slack.MsgOptionTS(tops[0]), slack.MsgOptionMetadata(meta)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	// Another channel's message must never show.
	if _, _, err := api.PostMessageContext(ctx, "C2", slack.MsgOptionText("elsewhere", false)); err != nil {
		t.Fatal(err)
	}
	return tops, start
}

func slackTS(t time.Time) string { return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000) }

func TestHistoryWindowsAndPages(t *testing.T) {
	s := New()
	defer s.Close()
	api := client(s)
	tops, start := seed(t, s, api, 5)
	ctx := context.Background()

	tests := []struct {
		name   string
		params slack.GetConversationHistoryParameters
		want   []string // ts, in the order returned across all pages
		pages  int
	}{
		{"everything, newest first", slack.GetConversationHistoryParameters{}, []string{tops[4], tops[3], tops[2], tops[1], tops[0]}, 1},
		{"oldest excludes", slack.GetConversationHistoryParameters{Oldest: tops[2]}, []string{tops[4], tops[3]}, 1},
		{"oldest inclusive", slack.GetConversationHistoryParameters{Oldest: tops[2], Inclusive: true}, []string{tops[4], tops[3], tops[2]}, 1},
		{"latest", slack.GetConversationHistoryParameters{Latest: tops[1]}, []string{tops[0]}, 1},
		{"oldest as a time", slack.GetConversationHistoryParameters{Oldest: slackTS(start.Add(2500 * time.Millisecond))}, []string{tops[4], tops[3]}, 1},
		{"pages of two", slack.GetConversationHistoryParameters{Limit: 2}, []string{tops[4], tops[3], tops[2], tops[1], tops[0]}, 3},
		{"pages of two after oldest", slack.GetConversationHistoryParameters{Limit: 2, Oldest: tops[0]}, []string{tops[4], tops[3], tops[2], tops[1]}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.params
			p.ChannelID = "C1"
			var got []string
			pages := 0
			for {
				resp, err := api.GetConversationHistoryContext(ctx, &p)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, m := range resp.Messages {
					got = append(got, m.Timestamp)
				}
				if !resp.HasMore {
					if resp.ResponseMetaData.NextCursor != "" {
						t.Fatalf("no more but a cursor %q", resp.ResponseMetaData.NextCursor)
					}
					break
				}
				p.Cursor = resp.ResponseMetaData.NextCursor
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || pages != tt.pages {
				t.Fatalf("got %v in %d pages, want %v in %d", got, pages, tt.want, tt.pages)
			}
		})
	}
}

func TestHistoryMetadata(t *testing.T) {
	s := New()
	defer s.Close()
	api := client(s)
	tops, _ := seed(t, s, api, 2)
	ctx := context.Background()
	for _, all := range []bool{false, true} {
		resp, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C1", IncludeAllMetadata: all})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Messages) != 2 {
			t.Fatalf("%d messages", len(resp.Messages))
		}
		first := resp.Messages[1] // the oldest: m0, with its thread
		if first.ReplyCount != 2 || first.ThreadTimestamp != tops[0] {
			t.Fatalf("parent %+v, want reply_count 2", first.Msg)
		}
		md := first.Metadata
		if !all {
			if md.EventType != "" {
				t.Fatalf("metadata %+v without include_all_metadata", md)
			}
			continue
		}
		if md.EventType != "poolbot_outbox" || md.EventPayload["id"] != float64(1) || md.EventPayload["key"] != "k0" {
			t.Fatalf("metadata %+v", md)
		}
	}
	if m := s.Messages(); string(m[0].Metadata) == "" || !json.Valid(m[0].Metadata) {
		t.Fatalf("recorded metadata %q", m[0].Metadata)
	}
	// An edit shows in history; metadata stays.
	if _, _, _, err := api.UpdateMessageContext(ctx, "C1", tops[1], slack.MsgOptionText("m1 edited", false)); err != nil {
		t.Fatal(err)
	}
	resp, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C1", IncludeAllMetadata: true, Limit: 1})
	if err != nil || resp.Messages[0].Text != "m1 edited" || resp.Messages[0].Metadata.EventPayload["id"] != float64(2) {
		t.Fatalf("after an edit: %+v %v", resp, err)
	}
}

func TestReplies(t *testing.T) {
	s := New()
	defer s.Close()
	api := client(s)
	tops, _ := seed(t, s, api, 2)
	ctx := context.Background()
	var texts []string
	var ids []any
	p := slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: tops[0], Limit: 2, IncludeAllMetadata: true}
	for {
		msgs, more, cursor, err := api.GetConversationRepliesContext(ctx, &p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			texts = append(texts, m.Text)
			ids = append(ids, m.Metadata.EventPayload["id"])
		}
		if !more {
			break
		}
		p.Cursor = cursor
	}
	if fmt.Sprint(texts) != "[m0 r0 r1]" || fmt.Sprint(ids) != "[1 100 101]" {
		t.Fatalf("thread %v ids %v, want the parent then both replies", texts, ids)
	}
	if _, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: "1.000001"}); err == nil || err.Error() != "thread_not_found" {
		t.Fatalf("unknown thread: %v", err)
	}
}

func TestRefuseAndBadArguments(t *testing.T) {
	s := New()
	defer s.Close()
	api := client(s)
	seed(t, s, api, 1)
	ctx := context.Background()
	tests := []struct {
		name   string
		refuse string
		params slack.GetConversationHistoryParameters
		want   string
	}{
		{"missing scope", "missing_scope", slack.GetConversationHistoryParameters{ChannelID: "C1"}, "missing_scope"},
		{"not in channel", "not_in_channel", slack.GetConversationHistoryParameters{ChannelID: "C1"}, "not_in_channel"},
		{"bad cursor", "", slack.GetConversationHistoryParameters{ChannelID: "C1", Cursor: "nope"}, "invalid_cursor"},
		{"bad oldest", "", slack.GetConversationHistoryParameters{ChannelID: "C1", Oldest: "yesterday"}, "invalid_ts_oldest"},
		{"no channel", "", slack.GetConversationHistoryParameters{}, "channel_not_found"},
		{"lifted", "", slack.GetConversationHistoryParameters{ChannelID: "C1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Refuse(tt.refuse, "conversations.history")
			_, err := api.GetConversationHistoryContext(ctx, &tt.params)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err %v, want %s", err, tt.want)
			}
		})
	}
	// Refusing one method leaves the others alone.
	s.Refuse("missing_scope", "conversations.history")
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("still", false)); err != nil {
		t.Fatal(err)
	}
	// Metadata Slack would reject is refused.
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventPayload: map[string]any{"id": 1}})); err == nil || err.Error() != "invalid_metadata_format" {
		t.Fatalf("metadata without event_type: %v", err)
	}
}

func TestTSMicros(t *testing.T) {
	tests := []struct {
		ts   string
		want int64
		ok   bool
	}{
		{"1711789200.000123", 1711789200000123, true},
		{"1711789200", 1711789200000000, true},
		{"1711789200.5", 1711789200500000, true},
		{"1711789200.1234567", 1711789200123456, true},
		{"x.1", 0, false},
		{"1.x", 0, false},
		{"-1.0", 0, false},
	}
	for _, tt := range tests {
		got, ok := tsMicros(tt.ts)
		if got != tt.want || ok != tt.ok {
			t.Errorf("tsMicros(%q) = %d %v, want %d %v", tt.ts, got, ok, tt.want, tt.ok)
		}
	}
}
