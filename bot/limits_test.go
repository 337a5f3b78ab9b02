package bot

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
)

// rawExchange writes raw on a new connection to srv, reads one response and
// then waits for the server to close the connection. It fails the test if
// no response comes within wait, or the connection stays open after it.
func rawExchange(t *testing.T, addr, raw string, wait time.Duration) (*http.Response, string, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(start.Add(wait))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", wait, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The server then closes: a read ends with EOF, not with our deadline.
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("connection still open after the answer (%v)", err)
	}
	return resp, string(body), time.Since(start)
}

func signedRaw(secret string, now time.Time, body string, headers string) string {
	ts, sig := Sign(secret, now, []byte(body))
	return "POST /slack/commands HTTP/1.1\r\nHost: poolbot\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"X-Slack-Request-Timestamp: " + ts + "\r\nX-Slack-Signature: " + sig + "\r\n" + headers
}

// A body that never completes is cut off by the signature check's own
// deadline, on a server with no timeouts at all, answered 408 and its
// connection closed; nothing runs.
func TestStalledBodyCutOff(t *testing.T) {
	const secret = "s3cret"
	body := url.Values{"command": {"/pool"}, "text": {"list"}, "user_id": {"U1"}}.Encode()
	now := time.Now()
	tests := []struct{ name, raw string }{
		{"Content-Length larger than sent", signedRaw(secret, now, body,
			"Content-Length: "+strconv.Itoa(len(body)+100)+"\r\n\r\n"+body)},
		{"chunked with no end", signedRaw(secret, now, body,
			"Transfer-Encoding: chunked\r\n\r\n"+strconv.FormatInt(int64(len(body)), 16)+"\r\n"+body+"\r\n")},
		{"headers only", signedRaw(secret, now, body, "Content-Length: 10\r\n\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each waits out the real 200ms on a server of its own
			h := &fakeHandler{}
			bh := NewHTTP(HTTPOptions{SigningSecret: secret, Handler: h, Workers: 1, Queue: 1,
				Clock: clock.NewFake(now), Logger: discardLog, BodyTimeout: 200 * time.Millisecond})
			// No ReadTimeout: the handler's deadline alone must end it.
			srv := httptest.NewUnstartedServer(bh)
			srv.Start()
			defer srv.Close()
			resp, got, took := rawExchange(t, srv.Listener.Addr().String(), tt.raw, 5*time.Second)
			if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
				t.Errorf("answer %d %q (Connection: close %v), want 408 and close", resp.StatusCode, got, resp.Close)
			}
			if took > 3*time.Second { // 200ms, and a busy machine's scheduling
				t.Errorf("closed after %s, want about the 200ms body timeout", took)
			}
			if err := bh.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if r := h.requests(); len(r) != 0 {
				t.Errorf("a request with no complete body ran: %+v", r)
			}
		})
	}
}

// A 401 closes its connection: a client that could not sign does not get
// to keep it for another try.
func TestUnauthorizedClosesConnection(t *testing.T) {
	bh := NewHTTP(HTTPOptions{SigningSecret: "s3cret", Handler: &fakeHandler{}, Logger: discardLog})
	defer bh.Shutdown(context.Background())
	srv := httptest.NewServer(bh)
	defer srv.Close()
	body := "command=%2Fpool&text=list"
	for _, raw := range []string{
		signedRaw("not-the-secret", time.Now(), body, "Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body),
		"POST /slack/interactivity HTTP/1.1\r\nHost: poolbot\r\nContent-Length: 10\r\n\r\npayload={}",
	} {
		resp, got, _ := rawExchange(t, srv.Listener.Addr().String(), raw, 5*time.Second)
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
			t.Errorf("answer %d %q (Connection: close %v), want 401 and close", resp.StatusCode, got, resp.Close)
		}
	}
}

// The deadline error is the one the handler tells apart for its 408.
func TestDeadlineErrorSurvivesVerify(t *testing.T) {
	err := error(&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded})
	r := httptest.NewRequest(http.MethodPost, "/slack/commands", iotestErrReader{err})
	ts, sig := Sign("s", time.Now(), nil)
	r.Header.Set("X-Slack-Request-Timestamp", ts)
	r.Header.Set("X-Slack-Signature", sig)
	if _, got := verifyRequest(r, "s", time.Now()); !errors.Is(got, os.ErrDeadlineExceeded) {
		t.Fatalf("verifyRequest = %v, want a deadline error", got)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }
