package azure

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/poolbot/poolbot/clock"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second, true},
		{"fraction", map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond, true},
		{"ms wins", map[string]string{"Retry-After": "0", "Retry-After-Ms": "250"}, 250 * time.Millisecond, true},
		{"x-ms ms", map[string]string{"x-ms-retry-after-ms": "1500"}, 1500 * time.Millisecond, true},
		{"http date", map[string]string{"Retry-After": t0.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second, true},
		{"date in past", map[string]string{"Retry-After": t0.Add(-time.Minute).Format(http.TimeFormat)}, 0, true},
		{"reset", map[string]string{"X-RateLimit-Reset": "1767603630"}, 30 * time.Second, true}, // t0 + 30 s
		{"delay", map[string]string{"X-RateLimit-Delay": "2.250"}, 2250 * time.Millisecond, true},
		{"retry-after before reset", map[string]string{"Retry-After": "3", "X-RateLimit-Reset": "1767603630"}, 3 * time.Second, true},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0, false},
		{"negative", map[string]string{"Retry-After": "-4"}, 0, false},
		{"none", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			got, ok := retryAfter(h, t0)
			if got != tt.want || ok != tt.ok {
				t.Errorf("retryAfter(%v) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "0.25", "Mon, 05 Jan 2026 09:00:30 GMT", "1767603630", "-1", "NaN", "1e308", ""} {
		f.Add(s, s, s)
	}
	f.Fuzz(func(t *testing.T, ra, reset, delay string) {
		h := http.Header{}
		h.Set("Retry-After", ra)
		h.Set("X-RateLimit-Reset", reset)
		h.Set("X-RateLimit-Delay", delay)
		d, ok := retryAfter(h, t0)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("retryAfter(%q, %q, %q) = %v, %v", ra, reset, delay, d, ok)
		}
		h.Set("X-RateLimit-Remaining", delay)
		h.Set("X-RateLimit-Limit", ra)
		if p := pace(h, t0); p < 0 || p > 10*time.Second {
			t.Fatalf("pace = %v", p)
		}
	})
}

func TestPace(t *testing.T) {
	tests := []struct {
		name           string
		remaining, lim string
		reset          time.Duration
		want           time.Duration
	}{
		{"plenty left", "150", "200", 0, 0},
		{"no headers", "", "", 0, 0},
		{"low, window from reset", "10", "200", 60 * time.Second, 6 * time.Second},
		{"low, default window", "39", "200", 0, 5 * time.Minute / 39},
		{"none left is capped", "0", "200", 5 * time.Minute, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("X-RateLimit-Remaining", tt.remaining)
			h.Set("X-RateLimit-Limit", tt.lim)
			if tt.reset > 0 {
				h.Set("X-RateLimit-Reset", itoa(t0.Add(tt.reset).Unix()))
			}
			if got := pace(h, t0); got != tt.want {
				t.Errorf("pace = %v, want %v", got, tt.want)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestBackoffBounds(t *testing.T) {
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		lo, hi := p.backoff(attempt, func() float64 { return 0 }), p.backoff(attempt, func() float64 { return 0.999999 })
		if lo != want/2 || hi > want || hi < want*9/10 {
			t.Errorf("attempt %d: backoff in [%v, %v], want [%v, %v]", attempt, lo, hi, want/2, want)
		}
	}
}

// script is an HTTP server answering each request with the next of its
// answers, counting requests.
type script struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter, r *http.Request)
	calls   int
	auth    []string
	bodies  []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	i := s.calls
	s.calls++
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	b, _ := io.ReadAll(r.Body)
	s.bodies = append(s.bodies, string(b))
	var a func(w http.ResponseWriter, r *http.Request)
	if i < len(s.answers) {
		a = s.answers[i]
	} else {
		a = s.answers[len(s.answers)-1]
	}
	s.mu.Unlock()
	a(w, r)
}

func (s *script) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func status(code int, headers ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, `{"message":"answer `+http.StatusText(code)+`","typeKey":"Test"}`)
	}
}

func drop(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }

// newTestTransport is the Azure DevOps transport as New builds it, with
// auth as its authentication policy.
func newTestTransport(t *testing.T, c clock.Clock, auth policy.Policy) (http.RoundTripper, *counters) {
	t.Helper()
	st := &counters{}
	p := &pacer{clock: c, stats: st, log: discard(), rnd: defaultRand,
		policy: RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond, MaxWait: time.Minute}.withDefaults()}
	return newDevOpsPipeline(http.DefaultTransport.(*http.Transport).Clone(), auth, p, make(limiter, 4)), st
}

func TestTransportRetries(t *testing.T) {
	ok := status(200)
	tests := []struct {
		name      string
		method    string
		answers   []func(http.ResponseWriter, *http.Request)
		wantCalls int
		wantCode  int // 0: error expected
		wantErr   func(error) bool
	}{
		{"get 503 then ok", "GET", []func(http.ResponseWriter, *http.Request){status(503), status(503), ok}, 3, 200, nil},
		{"get 500 exhausts", "GET", []func(http.ResponseWriter, *http.Request){status(500)}, 4, 0, isStatus(500)},
		{"get dropped then ok", "GET", []func(http.ResponseWriter, *http.Request){drop, ok}, 2, 200, nil},
		{"patch 502 then ok", "PATCH", []func(http.ResponseWriter, *http.Request){status(502), ok}, 2, 200, nil},
		{"post 503 not repeated", "POST", []func(http.ResponseWriter, *http.Request){status(503), ok}, 1, 0, isStatus(503)},
		{"post 500 not repeated", "POST", []func(http.ResponseWriter, *http.Request){status(500), ok}, 1, 0, isStatus(500)},
		{"post dropped not repeated", "POST", []func(http.ResponseWriter, *http.Request){drop, ok}, 1, 0, isConn},
		{"post 429 repeated", "POST", []func(http.ResponseWriter, *http.Request){status(429, "Retry-After-Ms", "1"), ok}, 2, 200, nil},
		{"503 retry-after honoured", "GET", []func(http.ResponseWriter, *http.Request){status(503, "Retry-After-Ms", "2"), ok}, 2, 200, nil},
		{"503 retry-after beyond max delay returned", "GET", []func(http.ResponseWriter, *http.Request){status(503, "Retry-After", "300"), ok}, 1, 0, func(err error) bool {
			var se *statusError
			return errors.As(err, &se) && se.Status == 503 && se.RetryAfter == 300*time.Second
		}},
		{"404 final", "GET", []func(http.ResponseWriter, *http.Request){status(404), ok}, 1, 0, isStatus(404)},
		{"long retry-after returned", "GET", []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "300"), ok}, 1, 0, func(err error) bool {
			var se *statusError
			return errors.As(err, &se) && se.Status == 429 && se.RetryAfter == 300*time.Second
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{answers: tt.answers}
			srv := httptest.NewServer(s)
			defer srv.Close()
			tr, st := newTestTransport(t, clock.Real{}, newPATPolicy("p"))
			req, _ := http.NewRequest(tt.method, srv.URL+"/x", strings.NewReader(`{"state":"pendingDelete"}`))
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if s.n() != tt.wantCalls {
				t.Errorf("server saw %d calls, want %d", s.n(), tt.wantCalls)
			}
			if st.calls.Load() != int64(tt.wantCalls) || st.retries.Load() != int64(tt.wantCalls-1) {
				t.Errorf("stats: %+v", st.snapshot())
			}
			if tt.wantCode != 0 {
				if err != nil || resp.StatusCode != tt.wantCode {
					t.Fatalf("got %v, %v; want status %d", resp, err, tt.wantCode)
				}
				resp.Body.Close()
			} else if err == nil || !tt.wantErr(err) {
				t.Fatalf("got error %v, resp %v", err, resp)
			}
			for i, b := range s.bodies {
				if tt.method != "GET" && b != `{"state":"pendingDelete"}` {
					t.Errorf("attempt %d sent body %q", i, b)
				}
			}
		})
	}
}

func isStatus(code int) func(error) bool {
	return func(err error) bool {
		var se *statusError
		return errors.As(err, &se) && se.Status == code && strings.Contains(se.Message, "answer")
	}
}

func isConn(err error) bool {
	var ce *connError
	return errors.As(err, &ce)
}

// A 429's Retry-After holds the call, and every other call, until the time
// has passed on the clock.
func TestTransportHonoursRetryAfter(t *testing.T) {
	s := &script{answers: []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "30"), status(200)}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	fc := clock.NewFake(t0)
	tr, st := newTestTransport(t, fc, newPATPolicy("p"))
	done := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	fc.WaitFor(1)
	fc.Advance(29 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("call finished %v before Retry-After passed", err)
	default:
	}
	if s.n() != 1 {
		t.Fatalf("server saw %d calls during the wait", s.n())
	}
	fc.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.n() != 2 || st.throttled.Load() != 1 || st.retries.Load() != 1 {
		t.Errorf("calls %d, stats %+v", s.n(), st.snapshot())
	}
}

func TestTransportCancelDuringWait(t *testing.T) {
	s := &script{answers: []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "30")}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	fc := clock.NewFake(t0)
	tr, _ := newTestTransport(t, fc, newPATPolicy("p"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		_, err := (&http.Client{Transport: tr}).Do(req)
		done <- err
	}()
	fc.WaitFor(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// fakeCredential hands out numbered tokens that expire after lifetime on
// its clock; the first after first, when set.
type fakeCredential struct {
	clock    clock.Clock
	lifetime time.Duration
	first    time.Duration
	n        atomic.Int64
}

func (f *fakeCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := f.n.Add(1)
	if len(o.Scopes) != 1 || o.Scopes[0] != DevOpsScope {
		return azcore.AccessToken{}, errors.New("wrong scope")
	}
	life := f.lifetime
	if n == 1 && f.first != 0 {
		life = f.first
	}
	return azcore.AccessToken{Token: "token-" + itoa(n), ExpiresOn: f.clock.Now().Add(life)}, nil
}

// challenge is Azure DevOps' answer to a token it does not take.
var challenge = status(401, "WWW-Authenticate", `Bearer authorization_uri=https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000`)

func TestTransportReauthenticatesOnce(t *testing.T) {
	s := &script{answers: []func(http.ResponseWriter, *http.Request){challenge, status(200)}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	fc := clock.NewFake(t0)
	// azcore's bearer token policy times tokens on the real clock.
	cred := &fakeCredential{clock: clock.Real{}, lifetime: time.Hour}
	tr, _ := newTestTransport(t, fc, newTokenPolicy(cred, true))
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := strings.Join(s.auth, ","); got != "Bearer token-1,Bearer token-2" {
		t.Errorf("server saw %s", got)
	}
	// A PAT that is rejected is not retried.
	s2 := &script{answers: []func(http.ResponseWriter, *http.Request){status(401)}}
	srv2 := httptest.NewServer(s2)
	defer srv2.Close()
	tr2, _ := newTestTransport(t, fc, newPATPolicy("p"))
	if _, err := (&http.Client{Transport: tr2}).Get(srv2.URL); !isStatus(401)(err) || s2.n() != 1 {
		t.Errorf("PAT 401: %v after %d calls", err, s2.n())
	}
}

// When the rate-limit budget runs low, the next call waits so that the
// rest lasts until the budget resets.
func TestTransportSlowsDownBeforeBlocked(t *testing.T) {
	fc := clock.NewFake(t0)
	low := status(200, "X-RateLimit-Limit", "200", "X-RateLimit-Remaining", "10", "X-RateLimit-Reset", itoa(t0.Add(time.Minute).Unix()))
	s := &script{answers: []func(http.ResponseWriter, *http.Request){low, status(200)}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	tr, st := newTestTransport(t, fc, newPATPolicy("p"))
	hc := &http.Client{Transport: tr}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	done := make(chan error, 1)
	go func() {
		resp, err := hc.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	fc.WaitFor(1)
	fc.Advance(5 * time.Second)
	select {
	case <-done:
		t.Fatal("second call was not held back")
	default:
	}
	fc.Advance(time.Second) // 60 s / 10 calls left
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st.slowed.Load() != 1 || s.n() != 2 {
		t.Errorf("slowed %d, calls %d", st.slowed.Load(), s.n())
	}
}
