package bot

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

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
	opts.ResponseURLHosts = stubHosts(stub)
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

	// A button press is acked empty all the same; "busy" follows through
	// its response_url.
	cb := slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, TriggerID: "t-press", User: slack.User{ID: "U1"},
		ResponseURL:    r.stub.ResponseURL("press"),
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "confirm", Value: "7"}}}}
	if err := r.stub.PushInteractive("e4", cb); err != nil {
		t.Fatal(err)
	}
	acks, err := r.stub.WaitForAcks(4, wait)
	if err != nil {
		t.Fatal(err)
	}
	if acks[3].EnvelopeID != "e4" || len(acks[3].Payload) != 0 {
		t.Fatalf("press acked %+v %s, want an empty ack", acks[3], acks[3].Payload)
	}
	if resp, err := r.stub.WaitForResponses("press", 1, wait); err != nil || resp[0].Text != busyText {
		t.Fatalf("press answered %+v %v, want %q", resp, err, busyText)
	}
	if n := len(h.requests()); n != 1 {
		t.Fatalf("handler ran %d requests, want only the first command", n)
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

func TestDedupe(t *testing.T) {
	type step struct {
		at                time.Duration // since the start
		envelope, trigger string
		want              bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"new, then the same envelope", []step{{0, "e1", "t1", true}, {time.Minute, "e1", "t1", false}}},
		{"same trigger, new envelope", []step{{0, "e1", "t1", true}, {time.Second, "e2", "t1", false}}},
		{"no trigger", []step{{0, "e1", "", true}, {0, "e2", "", true}, {0, "e1", "", false}}},
		{"no ids at all", []step{{0, "", "", true}, {0, "", "", true}}},
		{"remembered for the whole ttl across a new generation",
			[]step{{9 * time.Minute, "e1", "", true}, {11 * time.Minute, "x", "", true}, {19 * time.Minute, "e1", "", false}}},
		{"forgotten after ttl", []step{{0, "e1", "t1", true}, {10*time.Minute + time.Second, "e1", "t1", true}}},
		{"forgotten after ttl, in the older generation",
			[]step{{0, "e1", "", true}, {5 * time.Minute, "e2", "", true}, {10 * time.Minute, "x", "", true},
				{15*time.Minute + time.Second, "e2", "", true}}},
		{"a clock that jumps far", []step{{0, "e1", "", true}, {time.Hour, "e1", "", true}, {time.Hour, "e1", "", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
			fake := clock.NewFake(start)
			d := newDedupe(fake, 10*time.Minute)
			for i, s := range tt.steps {
				fake.Set(start.Add(s.at))
				if got := d.first(s.envelope, s.trigger); got != s.want {
					t.Fatalf("step %d (%v %q %q): first = %v, want %v", i, s.at, s.envelope, s.trigger, got, s.want)
				}
			}
		})
	}
}

// TestDedupeForgets: memory is bounded by two generations, however many
// envelopes pass.
func TestDedupeForgets(t *testing.T) {
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	fake := clock.NewFake(start)
	d := newDedupe(fake, 10*time.Minute)
	for i := range 3000 {
		fake.Set(start.Add(time.Duration(i) * time.Second))
		if !d.first("e"+strconv.Itoa(i), "t"+strconv.Itoa(i)) {
			t.Fatalf("envelope %d taken for a resend", i)
		}
	}
	// 20 minutes of envelopes at most (two generations of ttl), two keys each.
	if n := len(d.cur) + len(d.old); n > 2*2*1200 || n < 2*600 {
		t.Fatalf("%d ids remembered after 3000 s of one envelope a second", n)
	}
}

// socketLeg pushes n slash command envelopes to stub, window at a time,
// and measures each one's time from push to the ack the stub read.
func socketLeg(b *testing.B, stub *slackstub.Stub, cmds []slack.SlashCommand, window, leg int, lat []time.Duration) legResult {
	n := len(cmds)
	base := len(stub.Acks())
	sent := make(map[string]time.Time, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = "leg" + strconv.Itoa(leg) + "-" + strconv.Itoa(i)
	}
	start := time.Now()
	pushed, acked := 0, 0
	var acks []slackstub.Ack
	for acked < n {
		for pushed < n && pushed-acked < window {
			sent[ids[pushed]] = time.Now()
			if err := stub.PushSlashCommand(ids[pushed], cmds[pushed]); err != nil {
				b.Fatal(err)
			}
			pushed++
		}
		var err error
		if acks, err = stub.WaitForAcks(base+acked+1, wait); err != nil {
			b.Fatal(err)
		}
		acked = len(acks) - base
	}
	elapsed := time.Since(start)
	refused := 0
	for i, a := range acks[base:] {
		t0, ok := sent[a.EnvelopeID]
		if !ok {
			b.Fatalf("ack for %q, not pushed in this leg", a.EnvelopeID)
		}
		lat[i] = a.Time.Sub(t0)
		if strings.Contains(string(a.Payload), busyText) {
			refused++
		}
	}
	slices.Sort(lat)
	return legResult{p50: percentile(lat, 0.50), p99: percentile(lat, 0.99), rps: float64(n) / elapsed.Seconds(),
		refused: refused}
}

// BenchmarkSocketAck measures how long a slash command envelope waits for
// its ack over Socket Mode (from the stub's push to the stub's read of the
// ack), poolbot against a bare slack-go client that acks every envelope
// with a fixed payload and does nothing else, in paired rounds of
// alternating order. poolbot's workers run every command it acknowledged
// (`/pool status`: 40 ms of "Azure", then a response_url post) and finish
// a leg's commands before the bare leg starts. Medians over rounds; ratios
// are the medians of each round's ratio. -benchtime 7x for 7 rounds.
func BenchmarkSocketAck(b *testing.B) {
	const (
		perLeg  = 200
		window  = 8
		workers = 8
		queue   = 256 // every envelope of a leg is taken: the ack path, not the refusal, is measured
	)
	newStub := func() *slackstub.Stub {
		s := slackstub.New()
		s.RequireTokens("xoxb-bot", "xapp-app")
		return s
	}
	client := func(s *slackstub.Stub) *slack.Client {
		return slack.New("xoxb-bot", slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken("xapp-app"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	poolStub, bareStub := newStub(), newStub()
	defer poolStub.Close()
	defer bareStub.Close()
	h := &statusHandler{}
	sock := NewSocket(SocketOptions{Slack: client(poolStub), Handler: h, Workers: workers, Queue: queue,
		Logger: discardLog, HTTPClient: loopbackOnly(), ResponseURLHosts: stubHosts(poolStub)})
	sockDone := make(chan error, 1)
	go func() { sockDone <- sock.Run(ctx) }()

	sm := socketmode.New(client(bareStub))
	go func() { _ = sm.RunContext(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				if evt.Type == socketmode.EventTypeSlashCommand && evt.Request != nil {
					_ = sm.Ack(*evt.Request, ack(true))
				}
			}
		}
	}()
	for _, s := range []*slackstub.Stub{poolStub, bareStub} {
		if err := s.WaitForConnections(1, wait); err != nil {
			b.Fatal(err)
		}
	}

	cmds := make([]slack.SlashCommand, perLeg)
	for i := range cmds {
		cmds[i] = slack.SlashCommand{Command: "/pool", Text: "status linux-ci", UserID: "U1", UserName: "ann",
			ChannelID: "C1", TeamID: "T1", ResponseURL: poolStub.ResponseURL("bench"), TriggerID: strconv.Itoa(i) + ".1.abc"}
	}
	lat := make([]time.Duration, perLeg)
	legs := 0 // envelope ids are new in every leg
	poolLegs, bareLegs := pairedRounds(b, sock.Workers(), func(r int) {
		// So are trigger ids, which poolbot de-duplicates too.
		for i := range cmds {
			cmds[i].TriggerID = strconv.Itoa(r) + "." + strconv.Itoa(i)
		}
	}, func(poolbot bool) legResult {
		legs++
		if poolbot {
			return socketLeg(b, poolStub, cmds, window, legs, lat)
		}
		return socketLeg(b, bareStub, cmds, window, legs, lat)
	})
	cancel()
	if err := <-sockDone; err != nil {
		b.Fatal(err)
	}
	if err := sock.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	reportPaired(b, poolLegs, bareLegs, perLeg, time.Microsecond, "us", "env/s")
	b.ReportMetric(float64(h.done.Load()), "commands-run")
}
