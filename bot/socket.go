package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
)

// SocketOptions configures Socket Mode.
type SocketOptions struct {
	// Slack is a client with the bot token and the app-level token
	// (slack.OptionAppLevelToken) and, for tests, the API URL.
	Slack   *slack.Client
	Handler Handler
	// Workers and Queue size the worker pool (defaults 8 and 64); Pool,
	// when set, is used instead.
	Workers    int
	Queue      int
	Pool       *Workers
	Clock      clock.Clock
	Logger     *slog.Logger
	HTTPClient *http.Client // posts to response_url
	// ResponseURLHosts are the hosts beside https://hooks.slack.com that
	// response_urls may point at (see NewResponseHosts).
	ResponseURLHosts []string
	// Watchdog forces a reconnect when nothing at all (not even a ping) has
	// come in on the socket for this long (default 2m; Slack pings every
	// few seconds).
	Watchdog time.Duration
	// Dedupe is how long envelope ids are remembered (default 10m).
	Dedupe time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnects after
	// slack-go gives up (defaults 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is slack-go's own limit on the time between Slack's
	// pings (default 30s).
	PingInterval time.Duration
	// Views, when set, serves the Home tab and forms (events.go).
	Views Views
}

// Socket runs poolbot over Socket Mode: no inbound port. It acks each
// envelope before any work, runs each envelope once however often Slack
// redelivers it, and reconnects for ever.
type Socket struct {
	o     SocketOptions
	d     *dispatch
	seen  *dedupe
	last  atomic.Int64 // clock time (UnixNano) of the last inbound byte or event
	conns atomic.Int64 // connections made
}

// NewSocket returns a Socket Mode transport; Run starts it.
func NewSocket(o SocketOptions) *Socket {
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
	if o.Watchdog <= 0 {
		o.Watchdog = 2 * time.Minute
	}
	if o.Dedupe <= 0 {
		o.Dedupe = 10 * time.Minute
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Minute, o.MinBackoff)
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	log := o.Logger.With("transport", "socket")
	s := &Socket{o: o, seen: newDedupe(o.Clock, o.Dedupe),
		d: newDispatch(o.Handler, o.Pool, o.Slack, o.HTTPClient, o.Clock, log)}
	s.d.setViews(o.Views)
	s.d.hosts = NewResponseHosts(o.ResponseURLHosts...)
	return s
}

// Workers is the pool running the commands.
func (s *Socket) Workers() *Workers { return s.d.pool }

// Shutdown stops taking commands and waits for the acknowledged ones. Call
// it after Run has returned.
func (s *Socket) Shutdown(ctx context.Context) error { return s.d.pool.Shutdown(ctx) }

// Connections is how many times a socket was opened.
func (s *Socket) Connections() int { return int(s.conns.Load()) }

// Run connects and serves until ctx ends, reconnecting with back-off
// whenever slack-go gives up or the watchdog finds the socket silent. It
// returns nil when ctx ends.
func (s *Socket) Run(ctx context.Context) error {
	if s.o.Slack == nil {
		return errors.New("socket mode: no slack client")
	}
	wait := s.o.MinBackoff
	for {
		connected, err := s.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			wait = s.o.MinBackoff
		}
		s.d.log.Warn("socket mode stopped; reconnecting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-s.o.Clock.After(wait):
		}
		wait = min(2*wait, s.o.MaxBackoff)
	}
}

var errSilent = errors.New("nothing received on the socket for too long")

// runOnce runs one slack-go client until it gives up, the watchdog fires
// or ctx ends; connected reports whether it got a connection at all.
func (s *Socket) runOnce(ctx context.Context) (connected bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.touch()
	dialer := &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 45 * time.Second,
		// slack-go's own default: Slack drops responses split across frames.
		WriteBufferSize: 32 * 1024,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &watchedConn{Conn: c, touch: s.touch}, nil
		},
	}
	sm := socketmode.New(s.o.Slack,
		socketmode.OptionDialer(dialer),
		socketmode.OptionPingInterval(s.o.PingInterval),
		socketmode.OptionLog(slogOutput{s.d.log}))

	var wg sync.WaitGroup
	var gotConn atomic.Bool
	wg.Go(func() { s.events(ctx, sm, &gotConn) })
	wg.Go(func() { s.watchdog(ctx, cancel) })
	err = sm.RunContext(ctx)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	cancel(nil)
	wg.Wait()
	return gotConn.Load(), err
}

func (s *Socket) touch() { s.last.Store(s.o.Clock.Now().UnixNano()) }

// watchdog cancels the run when nothing has come in for o.Watchdog: a
// socket can die without either end noticing.
func (s *Socket) watchdog(ctx context.Context, cancel context.CancelCauseFunc) {
	check := max(s.o.Watchdog/4, time.Millisecond)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.o.Clock.After(check):
		}
		silent := s.o.Clock.Now().Sub(time.Unix(0, s.last.Load()))
		if silent > s.o.Watchdog {
			s.d.log.Warn("socket silent; forcing a reconnect", "silent_for", silent)
			cancel(errSilent)
			return
		}
	}
}

func (s *Socket) events(ctx context.Context, sm *socketmode.Client, gotConn *atomic.Bool) {
	for {
		select {
		case <-ctx.Done():
			return
		case evt := <-sm.Events:
			s.touch()
			s.event(ctx, sm, evt, gotConn)
		}
	}
}

func (s *Socket) event(ctx context.Context, sm *socketmode.Client, evt socketmode.Event, gotConn *atomic.Bool) {
	log := s.d.log
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		log.Debug("socket mode connecting")
	case socketmode.EventTypeConnected:
		gotConn.Store(true)
		n := s.conns.Add(1)
		log.Info("socket mode connected", "connections", n)
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorWriteFailed,
		socketmode.EventTypeErrorBadMessage:
		log.Warn("socket mode", "event", string(evt.Type), "err", eventErr(evt.Data))
	case socketmode.EventTypeInvalidAuth:
		log.Error("socket mode: Slack refused the app-level token")
	case socketmode.EventTypeSlashCommand:
		c, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		s.take(ctx, sm, evt.Request, c.TriggerID, commandRequest(c, ""), c.ResponseURL)
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || evt.Request == nil {
			return
		}
		if s.viewInteraction(ctx, sm, evt.Request, cb) {
			return
		}
		req, ok := interactionRequest(cb, "")
		if !ok {
			// Not a button press (a view submission, say): not poolbot's.
			s.ack(ctx, sm, evt.Request, nil)
			return
		}
		s.take(ctx, sm, evt.Request, cb.TriggerID, req, cb.ResponseURL)
	case socketmode.EventTypeEventsAPI:
		s.eventsAPI(ctx, sm, evt)
	}
}

// ackPayloads are a slash command's acknowledgements, refused and accepted,
// marshalled once (the HTTP path's bytes) and boxed once, so that an ack
// costs neither.
var ackPayloads = [2]any{json.RawMessage(ackBusy), json.RawMessage(ackWorking)}

// take acks an envelope and hands its request to the workers, as the HTTP
// path does: between reading the envelope and its ack there is only the
// de-duplication and, for a slash command, whose ack says whether it was
// taken, the queue's answer; the request id is formatted by the worker and
// the job starts once the ack is handed to slack-go.
// Slack resends an envelope whose ack was late or lost, and may resend a
// command under a new envelope id; the trigger id catches that. A resend
// is acked again, never run.
func (s *Socket) take(ctx context.Context, sm *socketmode.Client, r *socketmode.Request, trigger string,
	req commands.Request, responseURL string) {
	if !s.seen.first(r.EnvelopeID, trigger) {
		s.ack(ctx, sm, r, nil)
		s.d.log.Info("redelivered envelope ignored", "envelope_id", r.EnvelopeID, "retry_attempt", r.RetryAttempt,
			"retry_reason", r.RetryReason)
		return
	}
	if req.Action != nil {
		// A button press is acked empty whatever the queue says (a refusal
		// is told through response_url): ack, then hand it off.
		s.ack(ctx, sm, r, nil)
		if acked := s.d.accept(req, s.d.ids.take(), responseURL); acked != nil {
			close(acked)
		}
		return
	}
	// A slash command's ack says whether it was taken.
	acked := s.d.accept(req, s.d.ids.take(), responseURL)
	if acked == nil {
		s.ack(ctx, sm, r, ackPayloads[0])
		return
	}
	s.ack(ctx, sm, r, ackPayloads[1])
	close(acked)
}

func (s *Socket) ack(ctx context.Context, sm *socketmode.Client, r *socketmode.Request, payload any) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := sm.AckCtx(ctx, r.EnvelopeID, payload); err != nil {
		s.d.log.Warn("ack", "envelope_id", r.EnvelopeID, "err", err)
	}
}

func eventErr(data any) string {
	switch v := data.(type) {
	case *slack.ConnectionErrorEvent:
		return v.Error()
	case *slack.IncomingEventError:
		return v.Error()
	case *socketmode.ErrorWriteFailed:
		return v.Cause.Error()
	case *socketmode.ErrorBadMessage:
		return v.Cause.Error()
	case error:
		return v.Error()
	}
	return fmt.Sprint(data)
}

// watchedConn records the time of every read, for the watchdog.
type watchedConn struct {
	net.Conn
	touch func()
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

// dedupe remembers envelope and trigger ids for ttl. It keeps two
// generations, each at most ttl long: a new one replaces the older when the
// current is ttl old, so forgetting is dropping a map, never a sweep on the
// way to an ack.
type dedupe struct {
	clk   clock.Clock
	ttl   time.Duration
	mu    sync.Mutex
	cur   map[dedupeKey]time.Time // recorded since `since`
	old   map[dedupeKey]time.Time // the generation before
	since time.Time
}

// dedupeKey keeps envelope and trigger ids apart without building a string.
type dedupeKey struct {
	trigger bool
	id      string
}

func newDedupe(clk clock.Clock, ttl time.Duration) *dedupe {
	return &dedupe{clk: clk, ttl: ttl, cur: map[dedupeKey]time.Time{}, old: map[dedupeKey]time.Time{},
		since: clk.Now()}
}

// first records an envelope id and its trigger id (either may be empty)
// and reports whether neither was seen in the last ttl.
func (d *dedupe) first(envelope, trigger string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clk.Now()
	if now.Sub(d.since) >= d.ttl {
		// Whatever old holds was recorded before since, over ttl ago.
		d.old, d.cur, d.since = d.cur, make(map[dedupeKey]time.Time, len(d.cur)), now
	}
	fresh := d.record(dedupeKey{id: envelope}, now)
	if !d.record(dedupeKey{trigger: true, id: trigger}, now) {
		fresh = false
	}
	return fresh
}

// record adds k unless it was seen within ttl; d.mu held.
func (d *dedupe) record(k dedupeKey, now time.Time) bool {
	if k.id == "" {
		return true
	}
	if t, ok := d.cur[k]; ok && now.Sub(t) <= d.ttl {
		return false
	}
	if t, ok := d.old[k]; ok && now.Sub(t) <= d.ttl {
		return false
	}
	d.cur[k] = now
	return true
}

// slogOutput lets slack-go's socketmode log through slog, at debug level.
type slogOutput struct{ log *slog.Logger }

func (o slogOutput) Output(_ int, s string) error {
	o.log.Debug("slack-go", "msg", s)
	return nil
}

var _ commands.Responder = (*ResponseURL)(nil)
