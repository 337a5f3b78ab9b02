package bot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
)

func TestResponseHosts(t *testing.T) {
	hosts := NewResponseHosts("127.0.0.1:3001", "Slack.Internal")
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://hooks.slack.com/commands/T1/2/abc", true},
		{"https://HOOKS.slack.com:443/actions/T1/2/abc", true},
		{"http://hooks.slack.com/commands/T1/2/abc", false}, // Slack's only over https
		{"https://hooks.slack.com.evil.example/commands", false},
		{"https://evil.example/hooks.slack.com/commands", false},
		{"https://user@hooks.slack.com/commands", false},
		{"https://hooks.slack.com:8443/commands", false},
		{"http://127.0.0.1:3001/response/r1", true},
		{"http://127.0.0.1:3002/response/r1", false},
		{"http://slack.internal:8080/x", true}, // a bare host allows any port
		{"ftp://127.0.0.1:3001/x", false},
		{"//127.0.0.1:3001/x", false},
		{"not a url", false},
		{"", false},
	}
	for _, tt := range tests {
		err := hosts.Check(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v, want ok %v", tt.url, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrResponseHost) {
			t.Errorf("Check(%q) = %v, want ErrResponseHost", tt.url, err)
		}
	}
	if err := (ResponseHosts{}).Check("http://127.0.0.1:3001/response/r1"); err == nil {
		t.Error("the zero value allows a local host")
	}
}

// counter is an HTTP server that counts what reaches it.
func counter(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A signed command or button press whose response_url is not Slack's (nor
// a configured host) is refused before it runs, and nothing is posted
// there.
func TestSignedPayloadWithForeignResponseURL(t *testing.T) {
	const secret = "s3cret"
	elsewhere, hits := counter(t, nil)
	allowed, _ := counter(t, nil)
	fake := clock.NewFake(time.Now())
	h := &fakeHandler{reply: &commands.Reply{Text: "ok"}}
	bh := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 1, Queue: 4, Clock: fake,
		Logger: discardLog, HTTPClient: loopbackOnly(), ResponseURLHosts: []string{strings.TrimPrefix(allowed.URL, "http://")}})
	srv := httptest.NewServer(bh)
	defer srv.Close()

	ts, sig, body := signedForm(secret, fake.Now(), url.Values{"command": {"/pool"}, "text": {"list"},
		"user_id": {"U1"}, "response_url": {elsewhere.URL + "/commands/T1/1/x"}})
	if code, got := post(t, srv, "/slack/commands", ts, sig, body); code != 400 || !strings.Contains(got, "hooks.slack.com") {
		t.Errorf("command: %d %q, want 400 naming Slack's host", code, got)
	}
	payload, _ := json.Marshal(slack.InteractionCallback{Type: slack.InteractionTypeBlockActions,
		User: slack.User{ID: "U1"}, ResponseURL: elsewhere.URL + "/actions/T1/1/x",
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "confirm", Value: "1"}}}})
	ts, sig, body = signedForm(secret, fake.Now(), url.Values{"payload": {string(payload)}})
	if code, got := post(t, srv, "/slack/interactivity", ts, sig, body); code != 400 {
		t.Errorf("button press: %d %q, want 400", code, got)
	}
	if err := bh.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := h.requests(); len(r) != 0 {
		t.Errorf("refused requests ran: %+v", r)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d posts reached the foreign host", n)
	}
}

// A response_url that redirects is not followed: the 3xx is the answer,
// an error, and the redirect's target hears nothing.
func TestResponseURLRedirectNotFollowed(t *testing.T) {
	target, hits := counter(t, nil)
	redirector, first := counter(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal", http.StatusTemporaryRedirect)
	})
	hosts := NewResponseHosts(strings.TrimPrefix(redirector.URL, "http://"), strings.TrimPrefix(target.URL, "http://"))
	// loopbackOnly follows redirects as Go's default client does.
	ru := NewResponseURL(redirector.URL+"/response/r1", loopbackOnly(), hosts)
	err := ru.Respond(context.Background(), commands.Reply{Text: "secret pool names"})
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Errorf("Respond = %v, want an error naming the 307", err)
	}
	if err != nil && strings.Contains(err.Error(), redirector.URL) {
		t.Errorf("the error carries the response_url: %v", err)
	}
	if first.Load() != 1 || hits.Load() != 0 {
		t.Errorf("posts: %d to the response_url, %d to its redirect; want 1 and 0", first.Load(), hits.Load())
	}
}

// Whatever Check lets through is posted to Slack's host over https or to a
// configured one: the request net/http would build goes nowhere else.
func FuzzResponseHostsCheck(f *testing.F) {
	for _, s := range []string{"https://hooks.slack.com/commands/T1/2/x", "http://127.0.0.1:3001/response/r",
		"https://hooks.slack.com@evil.example/", "https://evil.example#@hooks.slack.com", "HTTPS://HOOKS.SLACK.COM:443/x",
		"https://hooks.slack.com\\@evil.example/", "https://[::1]:3001/", "http://127.0.0.1:3001@evil/"} {
		f.Add(s)
	}
	hosts := NewResponseHosts("127.0.0.1:3001")
	f.Fuzz(func(t *testing.T, u string) {
		if hosts.Check(u) != nil {
			return
		}
		req, err := http.NewRequest(http.MethodPost, u, nil)
		if err != nil {
			t.Fatalf("Check allowed %q, which is no request: %v", u, err)
		}
		host := strings.ToLower(req.URL.Host)
		slack := req.URL.Scheme == "https" && (host == SlackResponseHost || host == SlackResponseHost+":443")
		local := (req.URL.Scheme == "http" || req.URL.Scheme == "https") && host == "127.0.0.1:3001"
		if !slack && !local || req.URL.User != nil {
			t.Fatalf("Check allowed %q: %s to %q", u, req.URL.Scheme, req.URL.Host)
		}
	})
}
