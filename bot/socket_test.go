package bot

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/slackstub"
)

const wait = 5 * time.Second

type socketRig struct {
	stub   *slackstub.Stub
	fake   *clock.Fake
	h      *fakeHandler
	sock   *Socket
	cancel context.CancelFunc
	done   chan error
}

func startSocket(t *testing.T, h *fakeHandler, opts SocketOptions, before func(*slackstub.Stub)) *socketRig {
	t.Helper()
	stub := slackstub.New()
	t.Cleanup(stub.Close)
	stub.RequireTokens("xoxb-bot", "xapp-app")
	if before != nil {
		before(stub)
	}
	fake := clock.NewFake(time.Now())
	opts.Slack = slack.New("xoxb-bot", slack.OptionAPIURL(stub.APIURL()), slack.OptionAppLevelToken("xapp-app"))
	opts.Handler = h
	opts.Clock = fake
	opts.Logger = quiet(t)
	opts.HTTPClient = loopbackOnly()
	if opts.Workers == 0 {
		opts.Workers, opts.Queue = 2, 4
	}
	s := NewSocket(opts)
	ctx, cancel := context.WithCancel(context.Background())
	r := &socketRig{stub: stub, fake: fake, h: h, sock: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(r.stop(t))
	return r
}

func (r *socketRig) stop(t *testing.T) func() {
	return func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
		if err := r.sock.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

func cmd(text, user, responseURL, trigger string) slack.SlashCommand {
	return slack.SlashCommand{Command: "/pool", Text: text, UserID: user, ChannelID: "C1",
		ResponseURL: responseURL, TriggerID: trigger}
}

func TestSocketAckRunDedupe(t *testing.T) {
	h := &fakeHandler{reply: &commands.Reply{Text: "3 pools"}}
	// The watchdog is kept out of the way of the 11 minutes below.
	r := startSocket(t, h, SocketOptions{Watchdog: time.Hour}, nil)
	if err := r.stub.WaitForConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	if err := r.stub.PushSlashCommand("env-1", cmd("list", "U1", r.stub.ResponseURL("a"), "trig-1")); err != nil {
		t.Fatal(err)
	}
	acks, err := r.stub.WaitForAcks(1, wait)
	if err != nil {
		t.Fatal(err)
	}
	var a ackBody
	if acks[0].EnvelopeID != "env-1" || json.Unmarshal(acks[0].Payload, &a) != nil || a.Text != workingText {
		t.Fatalf("ack %+v %s", acks[0], acks[0].Payload)
	}
	if resp, err := r.stub.WaitForResponses("a", 1, wait); err != nil || resp[0].Text != "3 pools" {
		t.Fatalf("response %+v %v", resp, err)
	}

	// Slack resends when an ack is late: the same envelope, and the same
	// command under a new envelope id. Each is acked, neither runs again.
	if err := r.stub.PushSlashCommand("env-1", cmd("list", "U1", r.stub.ResponseURL("a"), "trig-1")); err != nil {
		t.Fatal(err)
	}
	if err := r.stub.PushSlashCommand("env-1b", cmd("list", "U1", r.stub.ResponseURL("a"), "trig-1")); err != nil {
		t.Fatal(err)
	}
	// A different command after them proves they were processed.
	if err := r.stub.PushSlashCommand("env-2", cmd("help", "U2", r.stub.ResponseURL("b"), "trig-2")); err != nil {
		t.Fatal(err)
	}
	acks, err = r.stub.WaitForAcks(4, wait)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{acks[1].EnvelopeID, acks[2].EnvelopeID, acks[3].EnvelopeID}; got[0] != "env-1" || got[1] != "env-1b" || got[2] != "env-2" {
		t.Fatalf("acks %v", got)
	}
	if _, err := r.stub.WaitForResponses("b", 1, wait); err != nil {
		t.Fatal(err)
	}
	if n := len(r.stub.Responses("a")); n != 1 {
		t.Fatalf("redelivered command answered %d times, want once", n)
	}
	if reqs := h.requests(); len(reqs) != 2 || reqs[0].Text != "list" || reqs[1].Text != "help" {
		t.Fatalf("handler ran %+v", reqs)
	}

	// Eleven minutes on, the envelope id is forgotten; a new command with it
	// (Slack does not reuse ids; this checks the window) runs.
	r.fake.Advance(11 * time.Minute)
	if err := r.stub.PushSlashCommand("env-2", cmd("status x", "U2", r.stub.ResponseURL("c"), "trig-3")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.stub.WaitForResponses("c", 1, wait); err != nil {
		t.Fatal(err)
	}
}

func TestSocketButtonPress(t *testing.T) {
	h := &fakeHandler{reply: &commands.Reply{Text: "confirmed", ReplaceOriginal: true}}
	r := startSocket(t, h, SocketOptions{}, nil)
	if err := r.stub.WaitForConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	cb := slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, TriggerID: "t1", User: slack.User{ID: "U1"},
		ResponseURL:    r.stub.ResponseURL("btn"),
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "confirm", Value: "7"}}}}
	if err := r.stub.PushInteractive("env-b", cb); err != nil {
		t.Fatal(err)
	}
	acks, err := r.stub.WaitForAcks(1, wait)
	if err != nil {
		t.Fatal(err)
	}
	if acks[0].EnvelopeID != "env-b" || len(acks[0].Payload) != 0 {
		t.Fatalf("ack %+v %s, want an empty ack", acks[0], acks[0].Payload)
	}
	resp, err := r.stub.WaitForResponses("btn", 1, wait)
	if err != nil || !resp[0].ReplaceOriginal {
		t.Fatalf("response %+v %v", resp, err)
	}
	if reqs := h.requests(); len(reqs) != 1 || reqs[0].Action == nil || reqs[0].Action.Value != "7" {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestSocketBusy(t *testing.T) {
	release := make(chan struct{})
	ran := make(chan struct{}, 4)
	h := &fakeHandler{block: release, ran: ran}
	r := startSocket(t, h, SocketOptions{Workers: 1, Queue: 1}, nil)
	defer close(release)
	if err := r.stub.WaitForConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	for i, env := range []string{"e1", "e2", "e3"} {
		if err := r.stub.PushSlashCommand(env, cmd("list", "U1", r.stub.ResponseURL(env), env)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.stub.WaitForAcks(i+1, wait); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-ran
		}
	}
	var a ackBody
	acks := r.stub.Acks()
	if err := json.Unmarshal(acks[2].Payload, &a); err != nil || a.Text != busyText {
		t.Fatalf("third ack %s, want %q", acks[2].Payload, busyText)
	}
}

func TestSocketReconnects(t *testing.T) {
	tests := []struct {
		name   string
		before func(*slackstub.Stub)
		break_ func(t *testing.T, r *socketRig)
	}{
		{name: "socket dropped", break_: func(t *testing.T, r *socketRig) { r.stub.DropSocket() }},
		{name: "disconnect requested", break_: func(t *testing.T, r *socketRig) {
			if err := r.stub.PushDisconnect("refresh_requested"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "silent socket (watchdog)", break_: func(t *testing.T, r *socketRig) {
			// Nothing arrives; the clock moves past the watchdog, then
			// past the back-off.
			for r.stub.Connections() < 2 {
				r.fake.Advance(30 * time.Second)
				time.Sleep(time.Millisecond)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHandler{reply: &commands.Reply{Text: "ok"}}
			r := startSocket(t, h, SocketOptions{Watchdog: time.Minute}, tt.before)
			if err := r.stub.WaitForConnections(1, wait); err != nil {
				t.Fatal(err)
			}
			tt.break_(t, r)
			if err := r.stub.WaitForConnections(2, wait); err != nil {
				t.Fatal(err)
			}
			if err := r.stub.PushSlashCommand("after", cmd("list", "U1", r.stub.ResponseURL("after"), "t")); err != nil {
				t.Fatal(err)
			}
			if _, err := r.stub.WaitForResponses("after", 1, wait); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSocketRetriesAfterAuthFailure: slack-go's RunContext gives up on
// invalid_auth; Run backs off on its clock and tries again for ever.
func TestSocketRetriesAfterAuthFailure(t *testing.T) {
	h := &fakeHandler{}
	r := startSocket(t, h, SocketOptions{Watchdog: time.Hour, MinBackoff: time.Second, MaxBackoff: 4 * time.Second},
		func(s *slackstub.Stub) { s.FailConnectionsOpen(3, "invalid_auth") })
	deadline := time.Now().Add(wait)
	for r.stub.Connections() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no connection after %d apps.connections.open calls", r.stub.Calls("apps.connections.open"))
		}
		r.fake.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	if n := r.stub.Calls("apps.connections.open"); n < 4 {
		t.Fatalf("apps.connections.open called %d times, want at least 4", n)
	}
}
