package bot

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/slackstub"
)

// TestShutdownTellsQueuedCommands: a command acknowledged ("working on
// it") but still queued when shutdown gives up is not run, and its
// requester is told so rather than left waiting.
func TestShutdownTellsQueuedCommands(t *testing.T) {
	const secret = "s3cret"
	stub := slackstub.New()
	defer stub.Close()
	ran := make(chan struct{}, 8)
	h := &fakeHandler{block: make(chan struct{}), ran: ran, reply: &commands.Reply{Text: "ok"}}
	fake := clock.NewFake(time.Now())
	bh := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 1, Queue: 1, Clock: fake,
		Logger: discardLog, HTTPClient: loopbackOnly(), ResponseURLHosts: stubHosts(stub)})
	srv := httptest.NewServer(bh)
	defer srv.Close()
	for _, id := range []string{"a", "b"} {
		ts, sig, body := signedForm(secret, fake.Now(), url.Values{"command": {"/pool"}, "text": {"list"},
			"user_id": {"U1"}, "response_url": {stub.ResponseURL(id)}})
		if code, got := post(t, srv, "/slack/commands", ts, sig, body); code != 200 || !strings.Contains(got, workingText) {
			t.Fatalf("ack %s: %d %s", id, code, got)
		}
		if id == "a" {
			<-ran // the one worker is busy with a; b waits in the queue
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // shutdown_timeout already over
	if err := bh.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown reported every command done")
	}
	rs, err := stub.WaitForResponses("b", 1, 5*time.Second)
	if err != nil {
		t.Fatalf("the queued command got no answer: %v", err)
	}
	if got := rs[0].Text; !strings.Contains(got, "shutting down") || !strings.Contains(got, "did not run") {
		t.Errorf("queued command answered %q", got)
	}
	if n := len(h.requests()); n != 1 {
		t.Errorf("handler ran %d times, want 1 (the queued command is not run)", n)
	}
}
