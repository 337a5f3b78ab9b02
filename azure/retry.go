package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/poolbot/poolbot/retryafter"
)

// RetryPolicy bounds how the Azure DevOps client retries. The SDK has no
// retries of its own: azcore's retry policy retries dropped connections and
// 408, 500, 502, 503 and 504 answers (MaxAttempts, BaseDelay, MaxDelay, and
// a 503's Retry-After up to MaxDelay), and poolbot's pacer waits out 429s on
// the client's clock (MaxAttempts, MaxElapsed and the waits).
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
// state). POST creates and is never repeated blindly: azcore's retry policy
// gets no retries for it (a 429, refused before any work, is still sent
// again by the pacer).
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

// NonRetriable tells azcore's retry policy not to retry: a statusError is
// final (an answer the pacer refused to send, or the last one).
func (*statusError) NonRetriable() {}

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
