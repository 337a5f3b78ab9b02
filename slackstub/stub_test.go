package slackstub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

const wait = 5 * time.Second

func client(s *Stub, opts ...slack.Option) *slack.Client {
	return slack.New("xoxb-test", append([]slack.Option{slack.OptionAPIURL(s.APIURL())}, opts...)...)
}

func TestPostUpdateThread(t *testing.T) {
	s := New()
	defer s.Close()
	api := client(s)
	ctx := context.Background()

	blocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*hi*", false, false), nil, nil)}
	ch, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hello", false), slack.MsgOptionBlocks(blocks...))
	if err != nil || ch != "C1" || ts == "" {
		t.Fatalf("post: %q %q %v", ch, ts, err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("detail", false), slack.MsgOptionTS(ts)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("hello again", false)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C1", "1.000000", slack.MsgOptionText("x", false)); err == nil || err.Error() != "message_not_found" {
		t.Fatalf("update of an unknown ts: %v, want message_not_found", err)
	}
	if _, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("psst", false)); err != nil {
		t.Fatal(err)
	}

	msgs, err := s.WaitForMessages(2, wait)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Text != "hello" || msgs[1].ThreadTS != ts || msgs[0].TS == msgs[1].TS {
		t.Fatalf("messages: %+v", msgs)
	}
	var got slack.Blocks
	if err := json.Unmarshal(msgs[0].Blocks, &got); err != nil || len(got.BlockSet) != 1 {
		t.Fatalf("blocks %s: %v", msgs[0].Blocks, err)
	}
	if u := s.Updates(); len(u) != 1 || u[0].TS != ts || u[0].Text != "hello again" {
		t.Fatalf("updates: %+v", u)
	}
	if e := s.Ephemerals(); len(e) != 1 || e[0].User != "U1" {
		t.Fatalf("ephemerals: %+v", e)
	}
	if n := s.Calls("chat.update"); n != 2 {
		t.Fatalf("chat.update calls = %d, want 2", n)
	}
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		method   []string
		call     string
		limited  int
		retryDur time.Duration
	}{
		{"every method", 2, nil, "chat.postMessage", 2, 3 * time.Second},
		{"other method only", 2, []string{"chat.update"}, "chat.postMessage", 0, time.Second},
		{"this method", 1, []string{"chat.postMessage"}, "chat.postMessage", 1, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			defer s.Close()
			s.RateLimit(tt.n, tt.retryDur, tt.method...)
			api := client(s)
			limited := 0
			for i := 0; i < 4; i++ {
				_, _, err := api.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("x", false))
				var rl *slack.RateLimitedError
				switch {
				case errors.As(err, &rl):
					limited++
					if rl.RetryAfter != tt.retryDur {
						t.Fatalf("RetryAfter = %v, want %v", rl.RetryAfter, tt.retryDur)
					}
				case err != nil:
					t.Fatal(err)
				}
			}
			if limited != tt.limited || len(s.Messages()) != 4-tt.limited {
				t.Fatalf("limited %d, messages %d; want %d limited", limited, len(s.Messages()), tt.limited)
			}
		})
	}
}

func TestTokensAndGroups(t *testing.T) {
	s := New()
	defer s.Close()
	s.RequireTokens("xoxb-good", "xapp-good")
	s.AddUserGroup("S1", "platform", "U1", "U2")
	s.AddUserGroup("S2", "oncall", "U2")

	if _, err := client(s).AuthTest(); err == nil || err.Error() != "invalid_auth" {
		t.Fatalf("auth.test with a wrong token: %v", err)
	}
	api := slack.New("xoxb-good", slack.OptionAPIURL(s.APIURL()))
	if r, err := api.AuthTest(); err != nil || r.UserID == "" {
		t.Fatalf("auth.test: %+v %v", r, err)
	}
	groups, err := api.GetUserGroups(slack.GetUserGroupsOptionIncludeUsers(true))
	if err != nil || len(groups) != 2 || len(groups[0].Users) != 2 {
		t.Fatalf("usergroups.list: %+v %v", groups, err)
	}
	users, err := api.GetUserGroupMembers("S2")
	if err != nil || len(users) != 1 || users[0] != "U2" {
		t.Fatalf("usergroups.users.list: %v %v", users, err)
	}
}

func TestResponseURL(t *testing.T) {
	s := New()
	defer s.Close()
	body := []byte(`{"response_type":"in_channel","text":"done","replace_original":true}`)
	resp, err := http.Post(s.ResponseURL("cmd 1"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r, err := s.WaitForResponses("cmd 1", 1, wait)
	if err != nil {
		t.Fatal(err)
	}
	if r[0].ResponseType != "in_channel" || r[0].Text != "done" || !r[0].ReplaceOriginal {
		t.Fatalf("response: %+v", r[0])
	}
	if _, err := s.WaitForResponses("other", 1, 10*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("waiting for nothing: %v", err)
	}
	resp, err = http.Post(s.ResponseURL("bad"), "application/json", bytes.NewReader([]byte("not json")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad body: status %d", resp.StatusCode)
	}
}

// TestSocketMode drives slack-go's own socketmode client against the stub.
func TestSocketMode(t *testing.T) {
	s := New()
	defer s.Close()
	s.FailConnectionsOpen(1, "internal_error")
	api := slack.New("xoxb-test", slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken("xapp-test"))
	sm := socketmode.New(api, socketmode.OptionLog(discard{}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sm.RunContext(ctx) }()

	commands := make(chan slack.SlashCommand, 4)
	go func() {
		for evt := range sm.Events {
			if evt.Type == socketmode.EventTypeSlashCommand {
				_ = sm.Ack(*evt.Request, map[string]string{"text": "working on it"})
				commands <- evt.Data.(slack.SlashCommand)
			}
		}
	}()

	// slack-go backs off after the failed open; its first retry comes
	// within a few seconds.
	if err := s.WaitForConnections(1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.PushSlashCommand("env-1", slack.SlashCommand{Command: "/pool", Text: "list", UserID: "U1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-commands:
		if c.Text != "list" || c.UserID != "U1" {
			t.Fatalf("command: %+v", c)
		}
	case <-time.After(wait):
		t.Fatal("no slash command event")
	}
	acks, err := s.WaitForAcks(1, wait)
	if err != nil {
		t.Fatal(err)
	}
	if acks[0].EnvelopeID != "env-1" || string(acks[0].Payload) != `{"text":"working on it"}` {
		t.Fatalf("ack: %+v %s", acks[0], acks[0].Payload)
	}

	// A disconnect request makes slack-go reconnect on its own.
	if err := s.PushDisconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForConnections(2, wait); err != nil {
		t.Fatal(err)
	}
	if err := s.PushSlashCommand("env-2", slack.SlashCommand{Command: "/pool", Text: "help"}); err != nil {
		t.Fatal(err)
	}
	if acks, err := s.WaitForAcks(2, wait); err != nil || acks[1].Conn != 2 {
		t.Fatalf("ack on the new connection: %+v %v", acks, err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("RunContext did not return after cancel")
	}
}

type discard struct{}

func (discard) Output(int, string) error { return nil }

func TestUsersInfo(t *testing.T) {
	s := New()
	defer s.Close()
	s.SetNow(func() time.Time { return time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC) })
	s.AddUser(User{ID: "U1", Name: "ana", TZ: "America/New_York"})
	s.AddUser(User{ID: "U2", Name: "bo"})
	tests := []struct {
		id, tz, label string
		offset        int
	}{
		{"U1", "America/New_York", "EST", -5 * 3600},
		{"U2", "America/Los_Angeles", "PST", -8 * 3600},
	}
	for _, tt := range tests {
		u, err := client(s).GetUserInfoContext(context.Background(), tt.id)
		if err != nil || u.TZ != tt.tz || u.TZLabel != tt.label || u.TZOffset != tt.offset {
			t.Errorf("users.info %s: %+v %v; want tz %s (%s, %d)", tt.id, u, err, tt.tz, tt.label, tt.offset)
		}
	}
	if _, err := client(s).GetUserInfoContext(context.Background(), "U9"); err == nil || err.Error() != "user_not_found" {
		t.Errorf("users.info of an unknown user: %v", err)
	}
	if n := s.Calls("users.info"); n != 3 {
		t.Errorf("%d users.info calls recorded, want 3", n)
	}
}

// An in_channel reply to a command typed in a channel is a message of that
// channel, with its blocks, as conversations.history shows it.
func TestInChannelResponseJoinsHistory(t *testing.T) {
	s := New()
	defer s.Close()
	u := s.ResponseURLIn("r1", "C1")
	for _, body := range []string{
		`{"response_type":"ephemeral","text":"working"}`,
		`{"response_type":"in_channel","text":"done","blocks":[{"type":"section","block_id":"poolbot-reply/r1","text":{"type":"mrkdwn","text":"done"}}]}`,
	} {
		resp, err := http.Post(u, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	ms := s.Messages()
	if len(ms) != 1 || ms[0].Channel != "C1" || ms[0].Text != "done" || !strings.Contains(string(ms[0].Blocks), "poolbot-reply/r1") {
		t.Fatalf("messages %+v; want the in_channel reply only", ms)
	}
}
