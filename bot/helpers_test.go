package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
)

// quiet is the logger for tests: only errors, to the test log.
func quiet(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// loopbackOnly is an HTTP client that refuses every non-loopback address,
// so that a test can never reach the real Slack (the documented example
// carries a hooks.slack.com response_url).
func loopbackOnly() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("test refuses to dial %s", host)
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// fakeHandler is poolbot's command handler as the transport sees it.
type fakeHandler struct {
	mu    sync.Mutex
	reqs  []commands.Request
	reply *commands.Reply           // answered when set
	err   error                     // returned when set
	block <-chan struct{}           // waited on before answering when set
	ran   chan struct{}             // receives once per request, when set
	work  func(ctx context.Context) // extra work, for benchmarks
}

func (h *fakeHandler) Handle(ctx context.Context, req commands.Request, resp commands.Responder) error {
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	if h.ran != nil {
		h.ran <- struct{}{}
	}
	if h.block != nil {
		select {
		case <-h.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if h.work != nil {
		h.work(ctx)
	}
	if h.reply != nil {
		if err := resp.Respond(ctx, *h.reply); err != nil {
			return err
		}
	}
	return h.err
}

func (h *fakeHandler) requests() []commands.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]commands.Request(nil), h.reqs...)
}

var errBoom = errors.New("boom")

// advancer moves a fake clock whenever something waits on it, so that code
// pacing itself on the clock runs at full speed in virtual time.
func advancer(t testing.TB, f *clock.Fake, step time.Duration) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if f.Waiters() > 0 {
					f.Advance(step)
				}
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		<-stopped
	})
}

// eventually polls cond for a goroutine hand-off, for at most 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// stubHosts names the Slack stub as the host response_urls may point at.
func stubHosts(s interface{ APIURL() string }) []string {
	u, err := url.Parse(s.APIURL())
	if err != nil {
		panic(err)
	}
	return []string{u.Host}
}
