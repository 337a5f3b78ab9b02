package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/retryafter"
)

// RetryPolicy bounds how the Azure DevOps client retries. The SDK has no
// retries of its own.
type RetryPolicy struct {
	MaxAttempts int           // tries per call, the first included; default 5
	MaxElapsed  time.Duration // total time per call, waits included; default 2m
	BaseDelay   time.Duration // first back-off after a 5xx or a dropped connection; default 500ms
	MaxDelay    time.Duration // longest back-off; default 30s
	// MaxWait is the longest Retry-After poolbot waits out itself; a longer
	// one is returned at once as a throttled error. Default 60s.
	MaxWait time.Duration
	// InteractiveWait is the longest an Interactive call (a person's Slack
	// command) waits for a throttle before it fails with the time the
	// throttle ends, so that the person is answered within Slack's limits.
	// Default 1s.
	InteractiveWait time.Duration
	// ScheduledWait is the longest a Scheduled or Background call (the
	// scheduler, the watcher) waits out a throttle. Default 10m.
	ScheduledWait time.Duration
}

// Urgency says how a call waits for Azure DevOps's throttle. A 429's
// Retry-After holds every call of the client until it passes (Azure DevOps
// throttles the identity, not the request); what each caller then does
// depends on who waits for it.
type Urgency int

const (
	// Normal calls wait out a throttle up to MaxWait.
	Normal Urgency = iota
	// Interactive calls have a person waiting in Slack: they wait at most
	// InteractiveWait and otherwise fail at once with a throttled error
	// that says until when.
	Interactive
	// Scheduled calls (scheduled changes) wait out a throttle up to
	// ScheduledWait and go first when it lifts.
	Scheduled
	// Background calls (the watcher's polls) wait up to ScheduledWait and
	// go after the Scheduled calls once a throttle lifts.
	Background
)

type urgencyKey struct{}

// WithUrgency marks ctx's Azure DevOps calls with u.
func WithUrgency(ctx context.Context, u Urgency) context.Context {
	return context.WithValue(ctx, urgencyKey{}, u)
}

// UrgencyOf is ctx's urgency; Normal when unmarked.
func UrgencyOf(ctx context.Context) Urgency {
	u, _ := ctx.Value(urgencyKey{}).(Urgency)
	return u
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = 2 * time.Minute
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.MaxWait <= 0 {
		p.MaxWait = 60 * time.Second
	}
	if p.InteractiveWait <= 0 {
		p.InteractiveWait = time.Second
	}
	if p.ScheduledWait <= 0 {
		p.ScheduledWait = 10 * time.Minute
	}
	return p
}

// budget is how long a call of urgency u waits for a throttle.
func (p RetryPolicy) budget(u Urgency) time.Duration {
	switch u {
	case Interactive:
		return p.InteractiveWait
	case Scheduled, Background:
		return p.ScheduledWait
	}
	return p.MaxWait
}

// elapsed is how long one call of urgency u may take, waits included.
func (p RetryPolicy) elapsed(u Urgency) time.Duration {
	if u == Scheduled || u == Background {
		return p.MaxElapsed + p.ScheduledWait
	}
	return p.MaxElapsed
}

// backoff is the wait before retry number attempt (0 for the first retry):
// exponential, capped, with jitter in [d/2, d] so that concurrent callers
// spread out.
func (p RetryPolicy) backoff(attempt int, rnd func() float64) time.Duration {
	d := p.BaseDelay
	for i := 0; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	if d > p.MaxDelay {
		d = p.MaxDelay
	}
	return d/2 + time.Duration(rnd()*float64(d/2))
}

// retryAfter reads how long the server asks us to wait: Retry-After-Ms,
// x-ms-retry-after-ms or Retry-After (retryafter.Parse), else Azure DevOps'
// X-RateLimit-Reset (Unix seconds), else X-RateLimit-Delay (seconds,
// possibly fractional).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if d, ok := retryafter.Parse(h, now); ok {
		return d, true
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
			t := time.Unix(0, int64(s*float64(time.Second)))
			if d := t.Sub(now); d >= 0 && d < 24*time.Hour {
				return d, true
			}
		}
	}
	return retryafter.Seconds(h.Get("X-RateLimit-Delay"))
}

// pace reads the rate-limit budget headers and returns how long to hold the
// next call so that the remaining budget lasts until it resets, or zero when
// there is plenty left. Azure DevOps delays and then blocks an identity that
// spends its 200 TSTU per 5 minutes; slowing down early avoids both.
func pace(h http.Header, now time.Time) time.Duration {
	rem, err1 := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Remaining")), 64)
	lim, err2 := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Limit")), 64)
	if err1 != nil || err2 != nil || lim <= 0 || rem >= lim/5 {
		return 0
	}
	window := 5 * time.Minute // Azure DevOps's sliding window
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if d := time.Unix(0, int64(s*float64(time.Second))).Sub(now); d > 0 && d < time.Hour {
				window = d
			}
		}
	}
	d := window / time.Duration(max(rem, 1))
	return min(d, 10*time.Second)
}

// idempotent reports whether a request can be repeated without effect: reads,
// and the PATCHes poolbot sends, which set absolute values (settings, a node's
// state). POST creates and is never repeated blindly.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodPatch:
		return true
	}
	return false
}

// statusError is a non-2xx answer, read from its body. It never holds the
// request's headers.
type statusError struct {
	Service    string // "Azure DevOps" or "Azure Resource Manager"
	Status     int
	Method     string
	Path       string
	Code       string // Azure DevOps typeKey, or ARM error code
	Message    string
	RetryAfter time.Duration
	Until      time.Time // for a throttle: when it ends, on the client's clock
}

func (e *statusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s %s %s: %d %s", e.Service, e.Method, e.Path, e.Status, msg)
}

// newStatusError reads (at most 64 KiB of) resp's body and closes it.
func newStatusError(service string, resp *http.Response, wait time.Duration) *statusError {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &statusError{Service: service, Status: resp.StatusCode, RetryAfter: wait}
	if resp.Request != nil {
		e.Method, e.Path = resp.Request.Method, resp.Request.URL.Path
	}
	var ado struct {
		Message string `json:"message"`
		TypeKey string `json:"typeKey"`
		Error   *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &ado) == nil {
		e.Message, e.Code = ado.Message, ado.TypeKey
		if ado.Error != nil {
			e.Message, e.Code = ado.Error.Message, ado.Error.Code
		}
	} else if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/plain") {
		e.Message = strings.TrimSpace(string(b))
	}
	if len(e.Message) > 500 {
		e.Message = e.Message[:500] + "…"
	}
	return e
}

// counters are one service's call statistics.
type counters struct {
	calls, retries, throttled, errors, slowed, refused atomic.Int64
}

func (c *counters) snapshot() ServiceStats {
	return ServiceStats{Calls: c.calls.Load(), Retries: c.retries.Load(), Throttled: c.throttled.Load(),
		Errors: c.errors.Load(), Slowed: c.slowed.Load(), Refused: c.refused.Load()}
}

// limiter bounds the calls in flight across a Client.
type limiter chan struct{}

func (l limiter) acquire(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l limiter) release() { <-l }

// devopsTransport sends Azure DevOps requests: it sets the Authorization
// header on every attempt, bounds the calls in flight, retries what can be
// retried, honours Retry-After, and holds back every call when the rate-limit
// budget runs low. A final non-2xx answer becomes a *statusError, so the SDK's
// own error unwrapping never sees it.
type devopsTransport struct {
	base   http.RoundTripper
	auth   *authorizer
	clock  clock.Clock
	limit  limiter
	policy RetryPolicy
	stats  *counters
	log    *slog.Logger
	rnd    func() float64

	mu       sync.Mutex
	throttle time.Time     // a 429's end: no call starts before this
	paced    time.Time     // the rate-limit budget's pacing: calls hold until this
	first    int           // Scheduled calls in progress
	idle     chan struct{} // closed when first drops to zero
	lastLeft time.Time     // when the last Scheduled call ended
}

// holdThrottle holds every call until until (a 429's Retry-After).
func (t *devopsTransport) holdThrottle(until time.Time) {
	t.mu.Lock()
	if until.After(t.throttle) {
		t.throttle = until
	}
	t.mu.Unlock()
}

// holdPace slows every call down until until (the budget runs low).
func (t *devopsTransport) holdPace(until time.Time) {
	t.mu.Lock()
	if until.After(t.paced) {
		t.paced = until
	}
	t.mu.Unlock()
}

// ThrottledUntil is when Azure DevOps's current throttle ends; zero when
// none holds the client's calls.
func (c *Client) ThrottledUntil() time.Time {
	t := c.devops
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.throttle.After(t.clock.Now()) {
		return t.throttle
	}
	return time.Time{}
}

// enterFirst and leaveFirst count the Scheduled calls in progress, which
// Normal and Background calls let go first after a throttle.
func (t *devopsTransport) enterFirst() {
	t.mu.Lock()
	if t.first == 0 {
		t.idle = make(chan struct{})
	}
	t.first++
	t.mu.Unlock()
}

func (t *devopsTransport) leaveFirst() {
	t.mu.Lock()
	t.first--
	if t.first == 0 {
		close(t.idle)
		t.lastLeft = t.clock.Now()
	}
	t.mu.Unlock()
}

const (
	// yieldWait bounds how long a call that waited out a throttle lets the
	// Scheduled calls go first.
	yieldWait = 30 * time.Second
	// firstGap is how long after a Scheduled call the yielding calls still
	// wait: a scheduled change is a few calls in a row (read, then update).
	firstGap = 2 * time.Second
)

// waitGate holds a call of urgency u while a throttle or the pacing holds
// calls back. A throttle that ends later than u may wait fails the call at
// once with a 429 *statusError that says when it ends, without a request.
// A call that waited for a throttle lets the Scheduled calls in progress go
// first (for yieldWait at most).
func (t *devopsTransport) waitGate(ctx context.Context, u Urgency, req *http.Request) error {
	waited := false
	for {
		now := t.clock.Now()
		t.mu.Lock()
		throttle, paced := t.throttle.Sub(now), t.paced.Sub(now)
		t.mu.Unlock()
		if throttle > 0 {
			if budget := t.policy.budget(u); throttle > budget {
				t.stats.refused.Add(1)
				e := &statusError{Service: "Azure DevOps", Status: http.StatusTooManyRequests, RetryAfter: throttle,
					Until: now.Add(throttle), Code: "throttled",
					Message: "not sent: Azure DevOps is throttling poolbot's identity"}
				if req != nil {
					e.Method, e.Path = req.Method, req.URL.Path
				}
				return e
			}
			if err := sleep(ctx, t.clock, throttle); err != nil {
				return err
			}
			waited = true
			continue // the throttle may have moved meanwhile
		}
		if waited && u != Scheduled && u != Interactive {
			if err := t.yield(ctx); err != nil {
				return err
			}
			waited = false
			continue
		}
		if paced > 0 {
			if u == Interactive {
				// Pacing saves the budget for the bulk of the polling; a
				// person's command is not worth holding for it.
				paced = min(paced, t.policy.InteractiveWait)
			}
			return sleep(ctx, t.clock, paced)
		}
		return nil
	}
}

// yield waits until no Scheduled call is in progress or has just ended
// (firstGap), yieldWait at most.
func (t *devopsTransport) yield(ctx context.Context) error {
	deadline := t.clock.Now().Add(yieldWait)
	for {
		now := t.clock.Now()
		left := deadline.Sub(now)
		if left <= 0 {
			return nil
		}
		t.mu.Lock()
		busy, idle, gap := t.first > 0, t.idle, t.lastLeft.Add(firstGap).Sub(now)
		t.mu.Unlock()
		var wake <-chan struct{}
		switch {
		case busy:
			wake = idle
		case gap > 0:
			left = min(left, gap)
		default:
			return nil
		}
		select {
		case <-wake:
		case <-t.clock.After(left):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func sleep(ctx context.Context, c clock.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-c.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *devopsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	start := t.clock.Now()
	canRepeat := idempotent(req.Method)
	reauthed := false
	u := UrgencyOf(ctx)
	if u == Scheduled {
		t.enterFirst()
		defer t.leaveFirst()
	}
	for attempt := 0; ; attempt++ {
		if err := t.waitGate(ctx, u, req); err != nil {
			return nil, err
		}
		r := req.Clone(ctx)
		if attempt > 0 && req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, errors.New("request body cannot be sent again")
			}
			b, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = b
		}
		h, err := t.auth.header(ctx)
		if err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", h)

		if err := t.limit.acquire(ctx); err != nil {
			return nil, err
		}
		t.stats.calls.Add(1)
		resp, err := t.base.RoundTrip(r)
		t.limit.release()

		var (
			last  error
			delay time.Duration
			gated bool // the throttle gate holds the next attempt
		)
		now := t.clock.Now()
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			t.stats.errors.Add(1)
			last = &connError{err: err}
			if !canRepeat {
				return nil, last
			}
			delay = t.policy.backoff(attempt, t.rnd)
		default:
			// The SDK writes a package variable from this header without a
			// lock; concurrent calls would race on it.
			resp.Header.Del("X-TFS-Session")
			if p := pace(resp.Header, now); p > 0 && resp.StatusCode != http.StatusTooManyRequests {
				t.stats.slowed.Add(1)
				t.holdPace(now.Add(p))
			}
			code := resp.StatusCode
			switch {
			case code < 400:
				return resp, nil
			case code == http.StatusUnauthorized && !t.auth.isPAT() && !reauthed:
				// The token may have been revoked before its expiry: one
				// more try with a fresh one.
				drain(resp)
				t.auth.invalidate()
				reauthed = true
				attempt--
				continue
			case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
				ra, ok := retryAfter(resp.Header, now)
				if !ok {
					ra = t.policy.backoff(attempt, t.rnd)
				}
				if code == http.StatusTooManyRequests {
					t.stats.throttled.Add(1)
					t.holdThrottle(now.Add(ra)) // every call waits, not only this one
				}
				se := newStatusError("Azure DevOps", resp, ra)
				se.Until = now.Add(ra)
				last = se
				// A 429 was refused before any work; a 503 may not have been.
				if !canRepeat && code != http.StatusTooManyRequests {
					t.stats.errors.Add(1)
					return nil, last
				}
				if ra > t.policy.budget(u) {
					return nil, last
				}
				delay, gated = ra, code == http.StatusTooManyRequests
			case code >= 500 && canRepeat:
				t.stats.errors.Add(1)
				last = newStatusError("Azure DevOps", resp, 0)
				delay = t.policy.backoff(attempt, t.rnd)
			default:
				t.stats.errors.Add(1)
				return nil, newStatusError("Azure DevOps", resp, 0)
			}
		}
		if attempt+1 >= t.policy.MaxAttempts || now.Sub(start)+delay > t.policy.elapsed(u) {
			return nil, last
		}
		t.stats.retries.Add(1)
		t.log.DebugContext(ctx, "retrying Azure DevOps call", "method", req.Method, "path", req.URL.Path,
			"attempt", attempt+1, "wait", delay, "error", last)
		if gated {
			continue // waitGate waits for the throttle, in turn with the others
		}
		if err := sleep(ctx, t.clock, delay); err != nil {
			return nil, err
		}
	}
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// connError is a request that got no answer: refused, reset or timed out.
type connError struct{ err error }

func (e *connError) Error() string { return "no answer: " + e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// defaultRand is the jitter source.
func defaultRand() float64 { return rand.Float64() }
