package azure

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/poolbot/poolbot/clock"
)

// The Azure DevOps transport is azcore's pipeline, handed to the SDK's
// client as its http.Client's transport. Per call, outermost first:
//
//	answer    a final non-2xx answer becomes a *statusError, so that the
//	          SDK's own error unwrapping never sees it; counts retries
//	pacer     poolbot's: Scheduled calls go first after a throttle; a 429
//	          is sent again once the throttle ends, if the caller may wait
//	retries   per call: none for a POST; a person's command waits little
//	azcore's retry policy: dropped connections, 408 and 5xx, with back-off
//	          and a 503's Retry-After
//
// and per try: the pacer's gate (a 429 holds every call; the X-RateLimit
// budget slows them down), then authentication (PAT as Basic, or azcore's
// bearer token policy for Microsoft Entra ID), then sender, which bounds
// the calls in flight and counts each request sent.
type devopsPipeline struct {
	pl    runtime.Pipeline
	pacer *pacer
}

// newDevOpsPipeline builds the transport over base. auth is the
// authentication policy (patPolicy or a bearer token policy).
func newDevOpsPipeline(base http.RoundTripper, auth policy.Policy, p *pacer, limit limiter) *devopsPipeline {
	rp := p.policy
	opts := &policy.ClientOptions{
		Telemetry: policy.TelemetryOptions{Disabled: true}, // the SDK sets its own User-Agent
		Retry:     rp.retryOptions(),
		Transport: sender{base: base, limit: limit, stats: p.stats},
	}
	pl := runtime.NewPipeline("poolbot/azure", "", runtime.PipelineOptions{
		PerCall:  []policy.Policy{policyFunc(p.answer), policyFunc(p.call), policyFunc(p.retries)},
		PerRetry: []policy.Policy{policyFunc(p.gate), auth},
	}, opts)
	return &devopsPipeline{pl: pl, pacer: p}
}

// RoundTrip sends r through the pipeline. It works on a copy: a
// RoundTripper must not change the request it is given.
func (d *devopsPipeline) RoundTrip(r *http.Request) (*http.Response, error) {
	req, err := runtime.NewRequestFromRequest(r.Clone(r.Context()))
	if err != nil {
		return nil, err
	}
	return d.pl.Do(req)
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

// retryOptions are azcore's retry options from p: 429 is not among the
// codes, because the pacer owns throttles.
func (p RetryPolicy) retryOptions() policy.RetryOptions {
	return policy.RetryOptions{
		MaxRetries:    int32(p.MaxAttempts - 1),
		RetryDelay:    p.BaseDelay,
		MaxRetryDelay: p.MaxDelay,
		StatusCodes: []int{http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout},
	}
}

// sender sends one request: it bounds the calls in flight across the
// Client and counts each request sent, which poolbot_api_calls_total
// reports.
type sender struct {
	base  http.RoundTripper
	limit limiter
	stats *counters
}

func (s sender) Do(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	if err := s.limit.acquire(ctx); err != nil {
		return nil, err
	}
	s.stats.calls.Add(1)
	resp, err := s.base.RoundTrip(r)
	s.limit.release()
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.stats.errors.Add(1)
		return nil, &connError{err: err}
	case resp.StatusCode == http.StatusTooManyRequests:
		s.stats.throttled.Add(1)
	case resp.StatusCode >= 400:
		s.stats.errors.Add(1)
	}
	// The SDK writes a package variable from this header without a lock;
	// concurrent calls would race on it.
	resp.Header.Del("X-TFS-Session")
	return resp, nil
}

// pacer is poolbot's own rate-limit policy for Azure DevOps, which throttles
// an identity (200 TSTU per sliding 5 minutes), not a request: a 429's
// Retry-After holds every call of the client until it passes, and a budget
// running low (X-RateLimit-Remaining) spaces the calls out so that it lasts
// until it resets. Waits are on the client's clock; how long a call may wait
// depends on its Urgency.
type pacer struct {
	clock  clock.Clock
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

// callState is one call's, shared by its policies.
type callState struct {
	tries int           // requests let through the gate
	wait  time.Duration // the last 429's Retry-After
	until time.Time     // and when it ends
}

func stateOf(req *policy.Request) *callState {
	var st *callState
	if req.OperationValue(&st) {
		return st
	}
	return &callState{}
}

// answer turns a final non-2xx answer into a *statusError, and counts the
// call's retries.
func (p *pacer) answer(req *policy.Request) (*http.Response, error) {
	st := &callState{}
	req.SetOperationValue(st)
	resp, err := req.Next()
	if st.tries > 1 {
		p.stats.retries.Add(int64(st.tries - 1))
	}
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	var wait time.Duration
	until := time.Time{}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		wait, until = st.wait, st.until
	case http.StatusServiceUnavailable:
		now := p.clock.Now()
		if d, ok := retryAfter(resp.Header, now); ok {
			wait, until = d, now.Add(d)
		}
	}
	se := newStatusError("Azure DevOps", resp, wait)
	se.Until = until
	return nil, se
}

// call lets Scheduled calls go first after a throttle, and sends a call
// that met a 429 again, once the throttle ends (gate waits for it), when
// its caller may wait that long.
func (p *pacer) call(req *policy.Request) (*http.Response, error) {
	ctx := req.Raw().Context()
	u := UrgencyOf(ctx)
	if u == Scheduled {
		p.enterFirst()
		defer p.leaveFirst()
	}
	st := stateOf(req)
	start := p.clock.Now()
	for attempt := 0; ; attempt++ {
		if err := req.RewindBody(); err != nil {
			return nil, err
		}
		resp, err := req.Next()
		if err != nil || resp.StatusCode != http.StatusTooManyRequests {
			return resp, err
		}
		if st.wait > p.policy.budget(u) || attempt+1 >= p.policy.MaxAttempts || p.clock.Now().Sub(start)+st.wait > p.policy.elapsed(u) {
			return resp, nil
		}
		drain(resp)
		p.log.DebugContext(ctx, "Azure DevOps throttles poolbot: the call waits", "method", req.Raw().Method,
			"path", req.Raw().URL.Path, "attempt", attempt+1, "wait", st.wait)
	}
}

// retries sets azcore's retry options for the call: none for a request
// that cannot be repeated, and short waits for a person's command.
func (p *pacer) retries(req *policy.Request) (*http.Response, error) {
	ctx := req.Raw().Context()
	o := p.policy.retryOptions()
	if !idempotent(req.Raw().Method) {
		o.MaxRetries = -1
	}
	if UrgencyOf(ctx) == Interactive {
		o.MaxRetryDelay = min(o.MaxRetryDelay, p.policy.InteractiveWait)
	}
	return req.WithContext(policy.WithRetryOptions(ctx, o)).Next()
}

// gate runs on every try: it holds the request while a throttle or the
// pacing holds calls back (or refuses it, unsent), then reads the answer's
// rate-limit headers.
func (p *pacer) gate(req *policy.Request) (*http.Response, error) {
	ctx := req.Raw().Context()
	if err := p.waitGate(ctx, UrgencyOf(ctx), req.Raw()); err != nil {
		return nil, err
	}
	st := stateOf(req)
	st.tries++
	resp, err := req.Next()
	if err != nil {
		return nil, err
	}
	now := p.clock.Now()
	if resp.StatusCode == http.StatusTooManyRequests {
		ra, ok := retryAfter(resp.Header, now)
		if !ok {
			ra = p.policy.backoff(st.tries-1, p.rnd)
		}
		st.wait, st.until = ra, now.Add(ra)
		p.holdThrottle(now.Add(ra)) // every call waits, not only this one
		return resp, nil
	}
	if d := pace(resp.Header, now); d > 0 {
		p.stats.slowed.Add(1)
		p.holdPace(now.Add(d))
	}
	return resp, nil
}

// holdThrottle holds every call until until (a 429's Retry-After).
func (p *pacer) holdThrottle(until time.Time) {
	p.mu.Lock()
	if until.After(p.throttle) {
		p.throttle = until
	}
	p.mu.Unlock()
}

// holdPace slows every call down until until (the budget runs low).
func (p *pacer) holdPace(until time.Time) {
	p.mu.Lock()
	if until.After(p.paced) {
		p.paced = until
	}
	p.mu.Unlock()
}

// ThrottledUntil is when Azure DevOps's current throttle ends; zero when
// none holds the client's calls.
func (c *Client) ThrottledUntil() time.Time { return c.pacer.throttledUntil() }

// throttledUntil is when the current throttle ends; zero when none holds.
func (p *pacer) throttledUntil() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.throttle.After(p.clock.Now()) {
		return p.throttle
	}
	return time.Time{}
}

// enterFirst and leaveFirst count the Scheduled calls in progress, which
// Normal and Background calls let go first after a throttle.
func (p *pacer) enterFirst() {
	p.mu.Lock()
	if p.first == 0 {
		p.idle = make(chan struct{})
	}
	p.first++
	p.mu.Unlock()
}

func (p *pacer) leaveFirst() {
	p.mu.Lock()
	p.first--
	if p.first == 0 {
		close(p.idle)
		p.lastLeft = p.clock.Now()
	}
	p.mu.Unlock()
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
func (p *pacer) waitGate(ctx context.Context, u Urgency, req *http.Request) error {
	waited := false
	for {
		now := p.clock.Now()
		p.mu.Lock()
		throttle, paced := p.throttle.Sub(now), p.paced.Sub(now)
		p.mu.Unlock()
		if throttle > 0 {
			if budget := p.policy.budget(u); throttle > budget {
				p.stats.refused.Add(1)
				e := &statusError{Service: "Azure DevOps", Status: http.StatusTooManyRequests, RetryAfter: throttle,
					Until: now.Add(throttle), Code: "throttled",
					Message: "not sent: Azure DevOps is throttling poolbot's identity"}
				if req != nil {
					e.Method, e.Path = req.Method, req.URL.Path
				}
				return e
			}
			if err := sleep(ctx, p.clock, throttle); err != nil {
				return err
			}
			waited = true
			continue // the throttle may have moved meanwhile
		}
		if waited && u != Scheduled && u != Interactive {
			if err := p.yield(ctx); err != nil {
				return err
			}
			waited = false
			continue
		}
		if paced > 0 {
			if u == Interactive {
				// Pacing saves the budget for the bulk of the polling; a
				// person's command is not worth holding for it.
				paced = min(paced, p.policy.InteractiveWait)
			}
			return sleep(ctx, p.clock, paced)
		}
		return nil
	}
}

// yield waits until no Scheduled call is in progress or has just ended
// (firstGap), yieldWait at most.
func (p *pacer) yield(ctx context.Context) error {
	deadline := p.clock.Now().Add(yieldWait)
	for {
		now := p.clock.Now()
		left := deadline.Sub(now)
		if left <= 0 {
			return nil
		}
		p.mu.Lock()
		busy, idle, gap := p.first > 0, p.idle, p.lastLeft.Add(firstGap).Sub(now)
		p.mu.Unlock()
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
		case <-p.clock.After(left):
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
