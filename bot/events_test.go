package bot

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/slackstub"
)

// fakeViews is the Home tab as the transports see it.
type fakeViews struct {
	mu      sync.Mutex
	opened  []commands.Request
	pressed []string
	replies []commands.Reply
	// errs are a submission's errors; text the command a press or a
	// submission stands for ("" for none).
	errs map[string]string
	text string
	got  chan string // receives "opened U", "pressed A", "replied T"
}

func newFakeViews() *fakeViews { return &fakeViews{got: make(chan string, 16)} }

func (v *fakeViews) Opened(_ context.Context, who commands.Request) {
	v.mu.Lock()
	v.opened = append(v.opened, who)
	v.mu.Unlock()
	v.got <- "opened " + who.UserID
}

func (v *fakeViews) Press(_ context.Context, who commands.Request, cb slack.InteractionCallback) (commands.Request, bool) {
	v.got <- "pressed " + cb.ActionCallback.BlockActions[0].ActionID
	who.Text = v.text
	return who, v.text != ""
}

func (v *fakeViews) Submit(_ context.Context, who commands.Request, cb slack.InteractionCallback) (map[string]string, commands.Request, bool) {
	if len(v.errs) > 0 {
		return v.errs, commands.Request{}, false
	}
	who.Text = v.text
	return nil, who, true
}

func (v *fakeViews) Responder(user string) commands.Responder { return viewReplies{v, user} }

type viewReplies struct {
	v    *fakeViews
	user string
}

func (r viewReplies) Respond(_ context.Context, rep commands.Reply) error {
	r.v.mu.Lock()
	r.v.replies = append(r.v.replies, rep)
	r.v.mu.Unlock()
	r.v.got <- "replied " + r.user + " " + rep.Text
	return nil
}

func (v *fakeViews) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-v.got:
		return s
	case <-time.After(wait):
		t.Fatal("the views were not called")
		return ""
	}
}

// none checks that the views were not called again once the workers are done.
func (v *fakeViews) none(t *testing.T, w *Workers) {
	t.Helper()
	if err := w.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-v.got:
		t.Errorf("views called again: %s", s)
	default:
	}
}

// /slack/events answers Slack's URL check, refuses what is not signed,
// acknowledges app_home_opened and hands it to the views once however
// often Slack sends it.
func TestEventsEndpoint(t *testing.T) {
	const secret = "s3cret"
	stub := slackstub.New()
	defer stub.Close()
	views := newFakeViews()
	h := &fakeHandler{}
	bh := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 1, Queue: 4, Clock: clock.NewFake(time.Now()),
		Logger: quiet(t), HTTPClient: loopbackOnly(), Views: views})
	srv := httptest.NewServer(bh)
	defer srv.Close()

	code, body, err := slackstub.SendURLVerification(srv.URL+"/slack/events", secret, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
	var ch struct{ Challenge string }
	if err != nil || code != 200 || json.Unmarshal(body, &ch) != nil || ch.Challenge != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("url_verification: %d %s %v", code, body, err)
	}
	if code, _, _ := slackstub.SendURLVerification(srv.URL+"/slack/events", "not the secret", "x"); code != 401 {
		t.Errorf("a wrongly signed challenge got %d", code)
	}
	if _, code, _ := stub.SendHomeOpened(srv.URL+"/slack/events", "not the secret", "U1"); code != 401 {
		t.Errorf("a wrongly signed event got %d", code)
	}

	_, body1 := stub.HomeOpened("U1")
	if code, _, err := slackstub.PostSigned(srv.URL+"/slack/events", secret, "application/json", body1); err != nil || code != 200 {
		t.Fatalf("app_home_opened: %d %v", code, err)
	}
	if got := views.next(t); got != "opened U1" {
		t.Errorf("views got %q", got)
	}
	// Slack retries an event it thinks was lost: the same event id.
	if code, _, _ := slackstub.PostSigned(srv.URL+"/slack/events", secret, "application/json", body1); code != 200 {
		t.Errorf("a retried event got %d", code)
	}
	// The Messages tab is not the Home tab.
	_, msgs := stub.HomeOpened("U2")
	msgs = []byte(strings.Replace(string(msgs), `"tab":"home"`, `"tab":"messages"`, 1))
	if code, _, _ := slackstub.PostSigned(srv.URL+"/slack/events", secret, "application/json", msgs); code != 200 {
		t.Errorf("app_home_opened on the Messages tab got %d", code)
	}
	views.none(t, bh.Workers())
	if len(h.requests()) != 0 {
		t.Errorf("an event ran commands: %+v", h.requests())
	}
}

// A press on a view goes to the views, and the command it stands for runs
// through the handler, answered through the views' responder; a
// submission's errors are its acknowledgement, and nothing runs.
func TestViewInteractions(t *testing.T) {
	const secret = "s3cret"
	stub := slackstub.New()
	defer stub.Close()
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) {
			views := newFakeViews()
			h := &fakeHandler{reply: &commands.Reply{Text: "done"}}
			var send func(cb slack.InteractionCallback) []byte
			var workers *Workers
			if mode == "http" {
				bh := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 1, Queue: 4,
					Clock: clock.NewFake(time.Now()), Logger: quiet(t), HTTPClient: loopbackOnly(), Views: views})
				srv := httptest.NewServer(bh)
				defer srv.Close()
				workers = bh.Workers()
				send = func(cb slack.InteractionCallback) []byte {
					code, body, err := slackstub.PostInteraction(srv.URL+"/slack/interactivity", secret, cb)
					if err != nil || code != 200 {
						t.Fatalf("interaction: %d %v", code, err)
					}
					return body
				}
			} else {
				r := startSocket(t, h, SocketOptions{Views: views}, nil)
				if err := r.stub.WaitForConnections(1, wait); err != nil {
					t.Fatal(err)
				}
				workers = r.sock.Workers()
				n := 0
				send = func(cb slack.InteractionCallback) []byte {
					n++
					env := "e" + strings.Repeat("x", n)
					if err := r.stub.PushInteractive(env, cb); err != nil {
						t.Fatal(err)
					}
					acks, err := r.stub.WaitForAcks(n, wait)
					if err != nil {
						t.Fatal(err)
					}
					if p := acks[n-1].Payload; string(p) != "null" {
						return p
					}
					return nil
				}
			}
			u := slack.User{ID: "U1", Name: "ann"}
			press := slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, User: u, TriggerID: "t-press",
				Container: slack.Container{Type: "view", ViewID: "V1"}, View: slack.View{ID: "V1", Type: slack.VTHomeTab},
				ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "home.up", Value: "linux-ci"}}}}
			views.text = "up linux-ci"
			if b := send(press); len(b) != 0 {
				t.Errorf("press acked with %s", b)
			}
			if got := views.next(t); got != "pressed home.up" {
				t.Errorf("views got %q", got)
			}
			if got := views.next(t); got != "replied U1 done" {
				t.Errorf("the command answered %q", got)
			}

			submit := slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission, User: u, TriggerID: "t-submit",
				View: slack.View{ID: "V2", Type: slack.VTModal, CallbackID: "form.create"}}
			views.errs = map[string]string{"name": "bad name"}
			var resp slack.ViewSubmissionResponse
			if b := send(submit); json.Unmarshal(b, &resp) != nil || resp.ResponseAction != slack.RAErrors ||
				resp.Errors["name"] != "bad name" {
				t.Errorf("a refused submission acked with %s", b)
			}
			views.errs, views.text = nil, "create linux-new"
			submit.TriggerID = "t-submit-2"
			if b := send(submit); len(b) != 0 {
				t.Errorf("an accepted submission acked with %s, want an empty ack (the form closes)", b)
			}
			if got := views.next(t); got != "replied U1 done" {
				t.Errorf("the form's command answered %q", got)
			}
			views.none(t, workers)
			reqs := h.requests()
			if len(reqs) != 2 || reqs[0].Text != "up linux-ci" || reqs[1].Text != "create linux-new" ||
				reqs[0].UserID != "U1" || reqs[0].Source != "home" || reqs[1].RequestID == "" {
				t.Errorf("commands run: %+v", reqs)
			}
		})
	}
}

// In Socket Mode app_home_opened is an events_api envelope: acked, handed
// to the views once however often it is delivered.
func TestSocketHomeOpened(t *testing.T) {
	views := newFakeViews()
	r := startSocket(t, &fakeHandler{}, SocketOptions{Views: views}, nil)
	if err := r.stub.WaitForConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.stub.PushHomeOpened("env-home", "U1"); err != nil {
			t.Fatal(err)
		}
	}
	acks, err := r.stub.WaitForAcks(2, wait)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acks {
		if a.EnvelopeID != "env-home" || (len(a.Payload) != 0 && string(a.Payload) != "null") {
			t.Errorf("ack %+v", a)
		}
	}
	if got := views.next(t); got != "opened U1" {
		t.Errorf("views got %q", got)
	}
	views.none(t, r.sock.Workers())
}

// The app manifest's request URLs are the endpoints poolbot serves, and it
// subscribes to the event and enables the tab the Home tab needs.
func TestManifestURLsServed(t *testing.T) {
	raw, err := os.ReadFile("../slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := string(raw)
	for _, want := range []string{"home_tab_enabled: true", "- app_home_opened", "/slack/events"} {
		if !strings.Contains(m, want) {
			t.Errorf("the manifest lacks %q", want)
		}
	}
	bh := NewHTTP(HTTPOptions{SigningSecret: "s", Handler: &fakeHandler{}, Workers: 1, Queue: 1, Logger: discardLog,
		Views: newFakeViews()})
	srv := httptest.NewServer(bh)
	defer srv.Close()
	urls := regexp.MustCompile(`https://poolbot\.example\.com(/[a-z/]+)`).FindAllStringSubmatch(m, -1)
	if len(urls) < 3 {
		t.Fatalf("%d request URLs in the manifest", len(urls))
	}
	for _, u := range urls {
		// Unsigned: 401 where the route exists, 404 where it does not.
		if code, _ := post(t, srv, u[1], "", "", ""); code != 401 {
			t.Errorf("%s answered %d, want 401 (served, and refused unsigned)", u[1], code)
		}
	}
}

// With the queue full a press on the Home tab is still acknowledged, and
// the user is told in their messages with poolbot to try again.
func TestViewPressBusy(t *testing.T) {
	const secret = "s3cret"
	views := newFakeViews()
	views.text = "up linux-ci"
	release := make(chan struct{})
	h := &fakeHandler{block: release, ran: make(chan struct{}, 4)}
	bh := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 1, Queue: 1, Clock: clock.NewFake(time.Now()),
		Logger: discardLog, HTTPClient: loopbackOnly(), Views: views})
	srv := httptest.NewServer(bh)
	defer srv.Close()
	press := slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, User: slack.User{ID: "U1"},
		Container:      slack.Container{Type: "view", ViewID: "V1"},
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "home.up", Value: "linux-ci"}}}}
	send := func() {
		t.Helper()
		if code, body, err := slackstub.PostInteraction(srv.URL+"/slack/interactivity", secret, press); err != nil || code != 200 || len(body) != 0 {
			t.Fatalf("press: %d %q %v", code, body, err)
		}
	}
	send()
	<-h.ran // the first press's command runs, and blocks
	send()  // queued
	send()  // refused
	for {
		if got := views.next(t); strings.HasPrefix(got, "replied U1 "+busyText) {
			break
		}
	}
	close(release)
	if err := bh.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.requests()); n != 2 {
		t.Errorf("%d commands ran, want the 2 taken", n)
	}
}
