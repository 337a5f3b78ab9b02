package bot

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/slackstub"
)

// Slack's documented example (slack.md).
const (
	docSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	docTS     = "1531420618"
	docBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	docSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestSignDocumentedExample(t *testing.T) {
	ts, sig := Sign(docSecret, time.Unix(1531420618, 0), []byte(docBody))
	if ts != docTS || sig != docSig {
		t.Fatalf("Sign = %s %s, want %s %s", ts, sig, docTS, docSig)
	}
}

func post(t testing.TB, srv *httptest.Server, path, ts, sig, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if ts != "" {
		req.Header.Set("X-Slack-Request-Timestamp", ts)
	}
	if sig != "" {
		req.Header.Set("X-Slack-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSignatures(t *testing.T) {
	const secret = "s3cret-signing"
	now := time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)
	body := "command=%2Fpool&text=status+linux-ci&user_id=U1&channel_id=C1&trigger_id=1.2.3"
	signed := func(at time.Time, b string) (string, string) { return Sign(secret, at, []byte(b)) }
	tests := []struct {
		name    string
		clock   time.Time
		secret  string
		path    string
		ts, sig func() (string, string)
		body    string
		want    int
		handled string // the user id the handler should see, "" for none
	}{
		{name: "documented example", clock: time.Unix(1531420618, 0), secret: docSecret, path: "/slack/commands",
			ts: func() (string, string) { return docTS, docSig }, body: docBody, want: 200, handled: "U2CERLKJA"},
		{name: "documented example, 4m59s later", clock: time.Unix(1531420618, 0).Add(4*time.Minute + 59*time.Second),
			secret: docSecret, path: "/slack/commands",
			ts: func() (string, string) { return docTS, docSig }, body: docBody, want: 200, handled: "U2CERLKJA"},
		{name: "documented example, wrong secret", clock: time.Unix(1531420618, 0), secret: "not-the-secret",
			path: "/slack/commands", ts: func() (string, string) { return docTS, docSig }, body: docBody, want: 401},
		{name: "documented example, 5m01s later", clock: time.Unix(1531420618, 0).Add(5*time.Minute + time.Second),
			secret: docSecret, path: "/slack/commands",
			ts: func() (string, string) { return docTS, docSig }, body: docBody, want: 401},
		{name: "documented example, body changed", clock: time.Unix(1531420618, 0), secret: docSecret,
			path: "/slack/commands", ts: func() (string, string) { return docTS, docSig },
			body: strings.Replace(docBody, "roadrunner", "coyote", 1), want: 401},
		{name: "signed now", clock: now, secret: secret, path: "/slack/commands",
			ts: func() (string, string) { return signed(now, body) }, body: body, want: 200, handled: "U1"},
		{name: "stale", clock: now, secret: secret, path: "/slack/commands",
			ts: func() (string, string) { return signed(now.Add(-6*time.Minute), body) }, body: body, want: 401},
		{name: "future", clock: now, secret: secret, path: "/slack/commands",
			ts: func() (string, string) { return signed(now.Add(6*time.Minute), body) }, body: body, want: 401},
		{name: "slightly ahead", clock: now, secret: secret, path: "/slack/commands",
			ts: func() (string, string) { return signed(now.Add(2*time.Minute), body) }, body: body, want: 200, handled: "U1"},
		{name: "signature of another body", clock: now, secret: secret, path: "/slack/commands",
			ts: func() (string, string) { return signed(now, body+"x") }, body: body, want: 401},
		{name: "timestamp changed", clock: now, secret: secret, path: "/slack/commands",
			ts: func() (string, string) {
				_, sig := signed(now, body)
				return strconv.FormatInt(now.Unix()+1, 10), sig
			}, body: body, want: 401},
		{name: "no signature", clock: now, secret: secret, path: "/slack/commands",
			ts: func() (string, string) { ts, _ := signed(now, body); return ts, "" }, body: body, want: 401},
		{name: "no timestamp", clock: now, secret: secret, path: "/slack/commands",
			ts: func() (string, string) { _, sig := signed(now, body); return "", sig }, body: body, want: 401},
		{name: "not hex", clock: now, secret: secret, path: "/slack/commands",
			ts: func() (string, string) { ts, _ := signed(now, body); return ts, "v0=zz" }, body: body, want: 401},
		{name: "v1 scheme", clock: now, secret: secret, path: "/slack/commands",
			ts: func() (string, string) { ts, sig := signed(now, body); return ts, "v1=" + sig[3:] }, body: body, want: 401},
		{name: "interactivity unsigned", clock: now, secret: secret, path: "/slack/interactivity",
			ts: func() (string, string) { return "", "" }, body: "payload={}", want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHandler{}
			bh := NewHTTP(HTTPOptions{SigningSecret: tt.secret, Handler: h, Workers: 1, Queue: 4,
				Clock: clock.NewFake(tt.clock), Logger: discardLog, HTTPClient: loopbackOnly()})
			srv := httptest.NewServer(bh)
			defer srv.Close()
			ts, sig := tt.ts()
			code, got := post(t, srv, tt.path, ts, sig, tt.body)
			if code != tt.want {
				t.Fatalf("status %d (%s), want %d", code, got, tt.want)
			}
			if code == 401 && strings.Contains(got, tt.secret) {
				t.Fatal("the answer carries the secret")
			}
			if err := bh.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			reqs := h.requests()
			switch {
			case tt.handled == "" && len(reqs) != 0:
				t.Fatalf("a refused request reached the handler: %+v", reqs)
			case tt.handled != "" && (len(reqs) != 1 || reqs[0].UserID != tt.handled):
				t.Fatalf("handler saw %+v, want one request from %s", reqs, tt.handled)
			}
		})
	}
}

// signedRequest plays Slack: a signed slash command for now.
func signedForm(secret string, now time.Time, v url.Values) (ts, sig, body string) {
	body = v.Encode()
	ts, sig = Sign(secret, now, []byte(body))
	return ts, sig, body
}

func TestCommandAnsweredThroughResponseURL(t *testing.T) {
	const secret = "s3cret"
	stub := slackstub.New()
	defer stub.Close()
	stub.AddUserGroup("S0PLATFORM", "platform", "U1", "U2")
	stub.AddUserGroup("S0ONCALL", "oncall", "U2")
	fake := clock.NewFake(time.Now())
	h := &fakeHandler{reply: &commands.Reply{Text: "linux-ci: up", InChannel: true}}
	bh := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 2, Queue: 4, Clock: fake,
		Logger: quiet(t), Slack: slack.New("xoxb-x", slack.OptionAPIURL(stub.APIURL())), HTTPClient: loopbackOnly(),
		ResponseURLHosts: stubHosts(stub)})
	srv := httptest.NewServer(bh)
	defer srv.Close()

	for i, user := range []string{"U1", "U2", "U3"} {
		id := "r" + strconv.Itoa(i)
		ts, sig, body := signedForm(secret, fake.Now(), url.Values{"command": {"/pool"}, "text": {"up linux-ci"},
			"user_id": {user}, "user_name": {"name-" + user}, "channel_id": {"C1"},
			"response_url": {stub.ResponseURL(id)}, "trigger_id": {id}})
		code, got := post(t, srv, "/slack/commands", ts, sig, body)
		var a ackBody
		if code != 200 || json.Unmarshal([]byte(got), &a) != nil || a.ResponseType != "ephemeral" || a.Text != workingText {
			t.Fatalf("ack: %d %s", code, got)
		}
		r, err := stub.WaitForResponses(id, 1, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r[0].ResponseType != "in_channel" || r[0].Text != "linux-ci: up" || r[0].ReplaceOriginal {
			t.Fatalf("response: %s", r[0].Raw)
		}
	}
	if err := bh.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"U1": "S0PLATFORM", "U2": "S0PLATFORM,S0ONCALL", "U3": ""}
	reqs := h.requests()
	for _, r := range reqs {
		if got := strings.Join(r.Groups, ","); got != want[r.UserID] {
			t.Errorf("%s groups %q, want %q", r.UserID, got, want[r.UserID])
		}
		if r.Text != "up linux-ci" || r.ChannelID != "C1" || r.Source != "slack" || r.RequestID == "" {
			t.Errorf("request %+v", r)
		}
	}
	if reqs[0].RequestID == reqs[1].RequestID {
		t.Error("request ids repeat")
	}
	if n := stub.Calls("usergroups.list"); n != 1 {
		t.Errorf("usergroups.list called %d times for 3 commands, want 1 (cached)", n)
	}
}

func TestBusyQueueStillAnswers(t *testing.T) {
	const secret = "s3cret"
	stub := slackstub.New()
	defer stub.Close()
	release := make(chan struct{})
	ran := make(chan struct{}, 8)
	h := &fakeHandler{block: release, ran: ran, reply: &commands.Reply{Text: "ok"}}
	fake := clock.NewFake(time.Now())
	bh := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 1, Queue: 1, Clock: fake,
		Logger: discardLog, HTTPClient: loopbackOnly(), ResponseURLHosts: stubHosts(stub)})
	srv := httptest.NewServer(bh)
	defer srv.Close()

	send := func(id string) ackBody {
		ts, sig, body := signedForm(secret, fake.Now(), url.Values{"command": {"/pool"}, "text": {"list"},
			"user_id": {"U1"}, "response_url": {stub.ResponseURL(id)}})
		code, got := post(t, srv, "/slack/commands", ts, sig, body)
		var a ackBody
		if code != 200 || json.Unmarshal([]byte(got), &a) != nil {
			t.Fatalf("ack: %d %s", code, got)
		}
		return a
	}
	if a := send("a"); a.Text != workingText {
		t.Fatalf("first: %+v", a)
	}
	<-ran // the one worker is now busy
	if a := send("b"); a.Text != workingText {
		t.Fatalf("second (queued): %+v", a)
	}
	a := send("c")
	if a.Text != busyText || a.ResponseType != "ephemeral" {
		t.Fatalf("third with the queue full: %+v, want %q", a, busyText)
	}
	close(release)
	for _, id := range []string{"a", "b"} {
		if _, err := stub.WaitForResponses(id, 1, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := bh.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.requests()); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}
	if r := stub.Responses("c"); len(r) != 0 {
		t.Fatalf("the refused command got responses: %+v", r)
	}
}

func TestInteractivity(t *testing.T) {
	const secret = "s3cret"
	stub := slackstub.New()
	defer stub.Close()
	fake := clock.NewFake(time.Now())
	tests := []struct {
		name     string
		cb       slack.InteractionCallback
		handled  bool
		action   string
		handlerR *commands.Reply
		err      error
		want     string // text of the response_url post, "" for none
	}{
		{name: "confirm button", handled: true, action: "confirm",
			handlerR: &commands.Reply{Text: "image swapped", ReplaceOriginal: true, InChannel: true}, want: "image swapped",
			cb: slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, TriggerID: "t1",
				User: slack.User{ID: "U9", Name: "ann"}, Channel: slack.Channel{GroupConversation: slack.GroupConversation{
					Conversation: slack.Conversation{ID: "C7"}}},
				ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "confirm", Value: "42"}}}}},
		{name: "handler fails", handled: true, action: "deny", err: errBoom, want: "Sorry, something went wrong",
			cb: slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, User: slack.User{ID: "U9"},
				ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "deny", Value: "42"}}}}},
		{name: "view submission is not ours",
			cb: slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission, User: slack.User{ID: "U9"}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "i" + strconv.Itoa(i)
			tt.cb.ResponseURL = stub.ResponseURL(id)
			h := &fakeHandler{reply: tt.handlerR, err: tt.err}
			bh := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 1, Queue: 1, Clock: fake,
				Logger: discardLog, HTTPClient: loopbackOnly(), ResponseURLHosts: stubHosts(stub)})
			srv := httptest.NewServer(bh)
			defer srv.Close()
			payload, err := json.Marshal(tt.cb)
			if err != nil {
				t.Fatal(err)
			}
			ts, sig, body := signedForm(secret, fake.Now(), url.Values{"payload": {string(payload)}})
			if code, got := post(t, srv, "/slack/interactivity", ts, sig, body); code != 200 || got != "" {
				t.Fatalf("ack: %d %q, want an empty 200", code, got)
			}
			if err := bh.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			reqs := h.requests()
			if !tt.handled {
				if len(reqs) != 0 {
					t.Fatalf("handled %+v", reqs)
				}
				return
			}
			if len(reqs) != 1 || reqs[0].Action == nil || reqs[0].Action.ActionID != tt.action || reqs[0].Action.Value != "42" ||
				reqs[0].UserID != "U9" {
				t.Fatalf("requests %+v", reqs)
			}
			r, err := stub.WaitForResponses(id, 1, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(r[0].Text, tt.want) {
				t.Fatalf("response %q, want %q…", r[0].Text, tt.want)
			}
		})
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	bh := NewHTTP(HTTPOptions{SigningSecret: "x", Handler: &fakeHandler{}, Logger: discardLog})
	defer bh.Shutdown(context.Background())
	srv := httptest.NewServer(bh)
	defer srv.Close()
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/slack/commands", 405},
		{"POST", "/slack/other", 404},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

// FuzzVerify feeds arbitrary headers and bodies to the signature check: it
// must never panic, and must accept only what was signed with the secret.
func FuzzVerify(f *testing.F) {
	f.Add(docTS, docSig, docBody)
	f.Add("", "v0=", "")
	f.Add("99999999999999999999", "v0=00", "a=b")
	now := time.Unix(1531420618, 0)
	f.Fuzz(func(t *testing.T, ts, sig, body string) {
		req := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(body))
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", sig)
		got, err := verifyRequest(req, docSecret, now)
		if err != nil {
			return
		}
		if string(got) != body {
			t.Fatalf("body changed: %q → %q", body, got)
		}
		m := hmac.New(sha256.New, []byte(docSecret))
		m.Write([]byte("v0:" + ts + ":" + body))
		if want := "v0=" + hex.EncodeToString(m.Sum(nil)); !strings.EqualFold(sig, want) {
			t.Fatalf("accepted a signature that is not the secret's: ts %q sig %q", ts, sig)
		}
	})
}

// TestVerifiedForm: the verified body is parsed once, as a form when Slack
// says it is one; a body that is not a valid form is refused after the
// signature check and reaches nothing.
func TestVerifiedForm(t *testing.T) {
	const secret = "s3cret"
	good := "command=%2Fpool&text=status+linux-ci&user_id=U1&channel_id=C1&trigger_id=1.2.3"
	tests := []struct {
		name, contentType, body string
		want                    int
		handled                 string // user id the handler sees; "" for none
		text                    string
	}{
		{"form", "application/x-www-form-urlencoded", good, 200, "U1", "status linux-ci"},
		{"form with charset", "application/x-www-form-urlencoded; charset=utf-8", good, 200, "U1", "status linux-ci"},
		{"bad escape", "application/x-www-form-urlencoded", "user_id=U1&text=%zz", 400, "", ""},
		// Not a form: as with ParseForm, no fields; the command is empty.
		{"not a form", "text/plain", good, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHandler{}
			fake := clock.NewFake(time.Now())
			bh := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 1, Queue: 4, Clock: fake,
				Logger: discardLog, HTTPClient: loopbackOnly()})
			srv := httptest.NewServer(bh)
			defer srv.Close()
			ts, sig := Sign(secret, fake.Now(), []byte(tt.body))
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/slack/commands", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("X-Slack-Request-Timestamp", ts)
			req.Header.Set("X-Slack-Signature", sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, got, tt.want)
			}
			if tt.want == 200 {
				if ct, cl := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"); ct != "application/json" ||
					cl != strconv.Itoa(len(got)) {
					t.Errorf("ack Content-Type %q, Content-Length %q for %d bytes", ct, cl, len(got))
				}
			}
			if err := bh.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			reqs := h.requests()
			switch {
			case tt.want != 200 && len(reqs) != 0:
				t.Fatalf("a refused request reached the handler: %+v", reqs)
			case tt.want == 200 && (len(reqs) != 1 || reqs[0].UserID != tt.handled || reqs[0].Text != tt.text):
				t.Fatalf("handler saw %+v, want one request from %q with text %q", reqs, tt.handled, tt.text)
			}
		})
	}
}
