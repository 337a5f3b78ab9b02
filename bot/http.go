package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"

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
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /slack/commands", h.verified(h.command))
	h.mux.HandleFunc("POST /slack/interactivity", h.verified(h.interaction))
	return h
}

func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Workers is the pool running the commands.
func (h *HTTP) Workers() *Workers { return h.d.pool }

// Shutdown stops taking commands and waits for the acknowledged ones.
func (h *HTTP) Shutdown(ctx context.Context) error { return h.d.pool.Shutdown(ctx) }

// verified wraps next with the signature check.
func (h *HTTP) verified(next func(w http.ResponseWriter, r *http.Request, id string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := h.d.ids.next()
		body, err := verifyRequest(r, h.secret, h.d.clk.Now())
		if err != nil {
			// The reason is logged, never echoed: it would help a forger.
			h.d.log.Warn("refused unsigned or badly signed request", "request_id", id, "path", r.URL.Path,
				"remote", r.RemoteAddr, "reason", err)
			http.Error(w, "invalid request signature", http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next(w, r, id)
	}
}

func (h *HTTP) command(w http.ResponseWriter, r *http.Request, id string) {
	c, err := slack.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "malformed slash command", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("ssl_check") == "1" {
		w.WriteHeader(http.StatusOK) // Slack checking the certificate
		return
	}
	req := commandRequest(c, id)
	acked := make(chan struct{})
	defer close(acked)
	ok := h.d.submit(req, c.ResponseURL, acked)
	if !ok {
		h.d.refused(id, c.UserID)
	}
	writeAck(w, ok)
}

func (h *HTTP) interaction(w http.ResponseWriter, r *http.Request, id string) {
	cb, err := slack.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	req, ok := interactionRequest(cb, id)
	if !ok {
		w.WriteHeader(http.StatusOK)
		return
	}
	acked := make(chan struct{})
	defer close(acked)
	if !h.d.submit(req, cb.ResponseURL, acked) {
		h.d.refused(id, req.UserID)
		h.d.busy(req, cb.ResponseURL)
	}
	// A button press is acknowledged with an empty 200; the answer follows
	// through response_url.
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	flush(w)
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

// writeAck answers a slash command. With its length known the answer goes
// out in one write when flushed, not as chunks.
func writeAck(w http.ResponseWriter, accepted bool) {
	b := ackBusy
	if accepted {
		b = ackWorking
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	flush(w)
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
