package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
)

// HTTPOptions configures the HTTP endpoints.
type HTTPOptions struct {
	SigningSecret string
	Handler       Handler
	// Workers and Queue size the worker pool (defaults 8 and 64); Pool,
	// when set, is used instead.
	Workers int
	Queue   int
	Pool    *Workers
	Clock   clock.Clock  // checks the signature's timestamp; clock.Real by default
	Logger  *slog.Logger // never given the signing secret or tokens
	// Slack looks up users' groups (usergroups.list); nil: no groups.
	Slack *slack.Client
	// HTTPClient posts to response_url; a 10 s timeout client by default.
	// Redirects are never followed.
	HTTPClient *http.Client
	// Views, when set, serves the Home tab and forms: POST /slack/events,
	// and presses on views and view submissions (events.go).
	Views Views
	// ResponseURLHosts are the hosts beside https://hooks.slack.com that a
	// request's response_url may point at (see NewResponseHosts); a signed
	// request naming any other is refused with 400 and runs nothing.
	ResponseURLHosts []string
	// BodyTimeout bounds reading a request's body for its signature check
	// (default 5s): a body that never completes is answered 408 and its
	// connection closed. It replaces the connection's read deadline while
	// the body is read, so it holds on a server with no timeouts; on one
	// with a ReadTimeout, keep it to what the headers leave of it.
	BodyTimeout time.Duration
	// Replays remembers each signed request for the signature window, so
	// that the same request sent again runs once (it is acknowledged, and
	// the worker drops it before it runs); nil: not checked. Give it the
	// store, so that every replica sees every request.
	Replays Replays
}

// Replays remembers keys for a while, for every replica at once. The
// store (pool.Store) is one.
type Replays interface {
	// Remember records key until the instant until and reports whether
	// this call recorded it: false when key is recorded already with an
	// until after now. Of concurrent calls for one key, on any replica,
	// one reports true. Keys whose until is past may be deleted.
	Remember(ctx context.Context, key string, now, until time.Time) (bool, error)
}

// defaultBodyTimeout bounds the body read of the signature check. Slack
// sends a few kilobytes at once.
const defaultBodyTimeout = 5 * time.Second

// HTTP serves Slack's slash command and interactivity requests:
// POST /slack/commands and POST /slack/interactivity. Every request's
// signature is verified before anything else; a bad one gets 401 and
// nothing more. Commands are acknowledged at once and run by the workers,
// which answer through response_url.
type HTTP struct {
	secret string
	d      *dispatch
	mux    *http.ServeMux
	body   time.Duration
}

// NewHTTP returns the endpoints as an http.Handler.
func NewHTTP(o HTTPOptions) *HTTP {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = defaultHTTPClient
	}
	if o.Pool == nil {
		o.Pool = NewWorkers(o.Workers, o.Queue, o.Logger)
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = defaultBodyTimeout
	}
	h := &HTTP{secret: o.SigningSecret, body: o.BodyTimeout,
		d: newDispatch(o.Handler, o.Pool, o.Slack, o.HTTPClient, o.Clock, o.Logger.With("transport", "http"))}
	h.d.setViews(o.Views)
	h.d.hosts, h.d.replays = NewResponseHosts(o.ResponseURLHosts...), o.Replays
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /slack/commands", h.verified(h.command))
	h.mux.HandleFunc("POST /slack/interactivity", h.verified(h.interactive))
	h.mux.HandleFunc("POST /slack/events", h.verified(h.events))
	return h
}

func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Workers is the pool running the commands.
func (h *HTTP) Workers() *Workers { return h.d.pool }

// Shutdown stops taking commands and waits for the acknowledged ones.
func (h *HTTP) Shutdown(ctx context.Context) error { return h.d.pool.Shutdown(ctx) }

// verified wraps next with the signature check, then parses the verified
// form once. next gets the request's number; its id is formatted off the
// acknowledgement path, when something needs it.
func (h *HTTP) verified(next func(w http.ResponseWriter, r *http.Request, seq uint64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		seq := h.d.ids.take()
		// A body that never completes (a Content-Length larger than what
		// is sent, a chunked body with no end) is cut off here, whatever
		// the server's own timeouts. Servers that cannot set deadlines
		// (tests' recorders) are left to their own.
		rc := http.NewResponseController(w)
		deadline := rc.SetReadDeadline(time.Now().Add(h.body)) == nil
		body, err := verifyRequest(r, h.secret, h.d.clk.Now())
		if deadline && err == nil {
			// Read in full: nothing more is read until the next request,
			// which the server bounds itself. After a failure the deadline
			// stays, so that net/http's discarding of the rest of the body
			// ends at once too.
			_ = rc.SetReadDeadline(time.Time{})
		}
		if err != nil {
			// The reason is logged, never echoed: it would help a forger.
			h.d.log.Warn("refused unsigned or badly signed request", "request_id", h.d.ids.format(seq),
				"path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
			// Nothing more is taken from a client that could not sign.
			w.Header().Set("Connection", "close")
			if errors.Is(err, os.ErrDeadlineExceeded) {
				http.Error(w, "request body not received in time", http.StatusRequestTimeout)
				return
			}
			http.Error(w, "invalid request signature", http.StatusUnauthorized)
			return
		}
		if !parseForm(r, body) {
			http.Error(w, "malformed request body", http.StatusBadRequest)
			return
		}
		next(w, r, seq)
	}
}

// signedBy names r, verified, by its timestamp and signature. The
// signature's hex is read in either case, so it is named in lower case:
// the same request with its letters' case changed is the same request.
// (The timestamp is signed as written: another spelling of it needs
// another signature.)
func signedBy(r *http.Request) signed {
	return signed{ts: r.Header.Get("X-Slack-Request-Timestamp"), sig: strings.ToLower(r.Header.Get("X-Slack-Signature"))}
}

// refusedResponseURL answers 400 to a verified request whose response_url
// poolbot will not post to, and reports whether it did.
func (h *HTTP) refusedResponseURL(w http.ResponseWriter, r *http.Request, seq uint64, u string) bool {
	if u == "" || h.d.hosts.Check(u) == nil {
		return false
	}
	h.d.log.Warn("refused a request whose response_url is not Slack's", "request_id", h.d.ids.format(seq),
		"path", r.URL.Path, "remote", r.RemoteAddr)
	http.Error(w, ErrResponseHost.Error(), http.StatusBadRequest)
	return true
}

// parseForm gives r the form of its verified body. Parsed here, straight
// from the bytes the signature covered, it is parsed once: ParseForm (and so
// slack-go's parsers) would read it again from a new reader and copy it into
// r.Form. Slack posts only urlencoded forms; anything else is left to
// ParseForm as before.
func parseForm(r *http.Request, body []byte) bool {
	ct := r.Header.Get("Content-Type")
	if ct != "application/x-www-form-urlencoded" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded;") {
		r.Body = io.NopCloser(bytes.NewReader(body))
		return true
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return false
	}
	// Nothing reads the URL's query of a Slack request, so Form is PostForm.
	r.PostForm, r.Form, r.Body = form, form, http.NoBody
	return true
}

func (h *HTTP) command(w http.ResponseWriter, r *http.Request, seq uint64) {
	c, err := slack.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "malformed slash command", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("ssl_check") == "1" {
		w.WriteHeader(http.StatusOK) // Slack checking the certificate
		return
	}
	if h.refusedResponseURL(w, r, seq, c.ResponseURL) {
		return
	}
	// With the queue full nothing is built for the workers: the refusal is
	// the cheapest answer, and the one an overload gives most.
	acked := h.d.acceptOnce(commandRequest(c, ""), seq, c.ResponseURL, signedBy(r))
	if acked != nil {
		defer close(acked)
	}
	writeAck(w, acked != nil)
}

func (h *HTTP) interaction(w http.ResponseWriter, r *http.Request, seq uint64) {
	cb, err := slack.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	req, ok := interactionRequest(cb, "")
	if !ok {
		w.WriteHeader(http.StatusOK)
		return
	}
	if h.refusedResponseURL(w, r, seq, cb.ResponseURL) {
		return
	}
	if acked := h.d.acceptOnce(req, seq, cb.ResponseURL, signedBy(r)); acked != nil {
		defer close(acked)
	}
	// A button press is acknowledged with an empty 200; the answer follows
	// through response_url.
	w.WriteHeader(http.StatusOK)
}

var (
	ackWorking = mustJSON(ack(true))
	ackBusy    = mustJSON(ack(false))
)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// jsonType is the acknowledgement's Content-Type, shared rather than
// built per request (net/http copies the header map before writing it).
var jsonType = []string{"application/json"}[:1:1]

// writeAck answers a slash command. It is not flushed: net/http writes it
// whole, with its length, as the handler returns, which is also when the
// queued command may start (acked closes).
func writeAck(w http.ResponseWriter, accepted bool) {
	b := ackBusy
	if accepted {
		b = ackWorking
	}
	w.Header()["Content-Type"] = jsonType
	_, _ = w.Write(b)
}
