package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

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
	HTTPClient *http.Client
	// Views, when set, serves the Home tab and forms: POST /slack/events,
	// and presses on views and view submissions (events.go).
	Views Views
}

// HTTP serves Slack's slash command and interactivity requests:
// POST /slack/commands and POST /slack/interactivity. Every request's
// signature is verified before anything else; a bad one gets 401 and
// nothing more. Commands are acknowledged at once and run by the workers,
// which answer through response_url.
type HTTP struct {
	secret string
	d      *dispatch
	mux    *http.ServeMux
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
	h := &HTTP{secret: o.SigningSecret,
		d: newDispatch(o.Handler, o.Pool, o.Slack, o.HTTPClient, o.Clock, o.Logger.With("transport", "http"))}
	h.d.setViews(o.Views)
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
		body, err := verifyRequest(r, h.secret, h.d.clk.Now())
		if err != nil {
			// The reason is logged, never echoed: it would help a forger.
			h.d.log.Warn("refused unsigned or badly signed request", "request_id", h.d.ids.format(seq),
				"path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
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
	// With the queue full nothing is built for the workers: the refusal is
	// the cheapest answer, and the one an overload gives most.
	acked := h.d.accept(commandRequest(c, ""), seq, c.ResponseURL)
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
	if acked := h.d.accept(req, seq, cb.ResponseURL); acked != nil {
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
