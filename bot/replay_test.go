package bot

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/slackstub"
	"github.com/poolbot/poolbot/store/sqlite"
)

// The same signed request sent again, to the same replica or another on
// the same store, is acknowledged as any other and runs nothing: one run,
// one answer. Slack's own retries (X-Slack-Retry-Num) get the same.
func TestReplayRunsOnce(t *testing.T) {
	const secret = "s3cret"
	stub := slackstub.New()
	defer stub.Close()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "poolbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fake := clock.NewFake(time.Now())
	h := &fakeHandler{reply: &commands.Reply{Text: "done"}}
	replica := func() *HTTP {
		return NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 1, Queue: 8, Clock: fake,
			Logger: discardLog, HTTPClient: loopbackOnly(), ResponseURLHosts: stubHosts(stub), Replays: st})
	}
	one, two := replica(), replica()
	srv1, srv2 := httptest.NewServer(one), httptest.NewServer(two)
	defer srv1.Close()
	defer srv2.Close()

	cmdTS, cmdSig, cmdBody := signedForm(secret, fake.Now(), url.Values{"command": {"/pool"}, "text": {"down linux-ci"},
		"user_id": {"U1"}, "response_url": {stub.ResponseURL("cmd")}})
	payload, _ := json.Marshal(slack.InteractionCallback{Type: slack.InteractionTypeBlockActions,
		User: slack.User{ID: "U1"}, ResponseURL: stub.ResponseURL("btn"),
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "confirm", Value: "7"}}}})
	btnTS, btnSig, btnBody := signedForm(secret, fake.Now(), url.Values{"payload": {string(payload)}})

	sends := []struct {
		name, path, ts, sig, body string
		srv                       *httptest.Server
	}{
		{"command", "/slack/commands", cmdTS, cmdSig, cmdBody, srv1},
		{"command again", "/slack/commands", cmdTS, cmdSig, cmdBody, srv1},
		{"command again, other replica", "/slack/commands", cmdTS, cmdSig, cmdBody, srv2},
		// The signature's hex verifies in either case: still a repeat.
		{"command again, signature in capitals", "/slack/commands", cmdTS, "v0=" + strings.ToUpper(cmdSig[3:]), cmdBody, srv1},
		{"button", "/slack/interactivity", btnTS, btnSig, btnBody, srv2},
		{"button again", "/slack/interactivity", btnTS, btnSig, btnBody, srv1},
	}
	for _, s := range sends {
		code, got := post(t, s.srv, s.path, s.ts, s.sig, s.body)
		// The acknowledgement does not wait for the store: a command is
		// "working on it", a press an empty 200, replay or not.
		if code != 200 || (s.path == "/slack/commands") != (got != "") {
			t.Fatalf("%s: %d %q", s.name, code, got)
		}
	}
	// Slack retrying the command says so; it is not run again either.
	fake.Advance(time.Minute)
	if code, _ := postRetry(t, srv2, cmdTS, cmdSig, cmdBody); code != 200 {
		t.Errorf("Slack's retry: %d, want 200", code)
	}
	// A new request with the same text is another request: it runs.
	ts, sig, body := signedForm(secret, fake.Now(), url.Values{"command": {"/pool"}, "text": {"down linux-ci"},
		"user_id": {"U1"}, "response_url": {stub.ResponseURL("cmd2")}})
	if code, got := post(t, srv1, "/slack/commands", ts, sig, body); code != 200 || got == "" {
		t.Errorf("a new request: %d %q", code, got)
	}
	for _, b := range []*HTTP{one, two} {
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.requests()); n != 3 {
		t.Errorf("handler ran %d times, want 3 (command, button, new command)", n)
	}
	for id, want := range map[string]int{"cmd": 1, "btn": 1, "cmd2": 1} {
		if n := len(stub.Responses(id)); n != want {
			t.Errorf("%s answered %d times, want %d", id, n, want)
		}
	}

	// A store that cannot say runs nothing and tells the user, rather than
	// risk a second run.
	st.Close()
	three := replica()
	srv3 := httptest.NewServer(three)
	defer srv3.Close()
	ts, sig, body = signedForm(secret, fake.Now(), url.Values{"command": {"/pool"}, "text": {"list"}, "user_id": {"U1"},
		"response_url": {stub.ResponseURL("closed")}})
	if code, _ := post(t, srv3, "/slack/commands", ts, sig, body); code != 200 {
		t.Errorf("store closed: acknowledged %d", code)
	}
	r, err := stub.WaitForResponses("closed", 1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r[0].Text, "could not check") || !strings.Contains(r[0].Text, "did nothing") {
		t.Errorf("store closed: told %q", r[0].Text)
	}
	three.Shutdown(context.Background())
	if n := len(h.requests()); n != 3 {
		t.Errorf("handler ran %d times with the store closed", n-3)
	}
}

func postRetry(t *testing.T, srv *httptest.Server, ts, sig, body string) (int, string) {
	t.Helper()
	return postWith(t, srv, "/slack/commands", ts, sig, body, map[string]string{"X-Slack-Retry-Num": "1",
		"X-Slack-Retry-Reason": "http_timeout"})
}

func postWith(t *testing.T, srv *httptest.Server, path, ts, sig, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
