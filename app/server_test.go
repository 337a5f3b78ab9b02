package app

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/bot"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/slackstub"
)

// runApp runs poolbot with the [server] lines given (Azure DevOps
// unreachable: nothing here needs it) until the test ends.
func runApp(t *testing.T, serverLines string) (*App, *slackstub.Stub) {
	a, stub, _ := runAppStop(t, serverLines, nil)
	return a, stub
}

// runAppStop is runApp, with a stop that returns once poolbot has stopped
// (its commands in flight done); tweak, when set, changes the loaded
// configuration first.
func runAppStop(t *testing.T, serverLines string, tweak func(*config.Config)) (*App, *slackstub.Stub, func()) {
	t.Helper()
	stub := slackstub.New()
	t.Cleanup(stub.Close)
	cfg := writeConfig(t, t.TempDir(), "http://127.0.0.1:1", stub.APIURL(), serverLines)
	if tweak != nil {
		tweak(cfg)
	}
	a, err := New(context.Background(), Options{Config: cfg, Owner: "test-server"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return a, stub, stop
}

// signedCommand posts a signed /pool command with the test config's secret
// and returns the status.
func signedCommand(t testing.TB, client *http.Client, base, text, responseURL string) int {
	t.Helper()
	body := url.Values{"command": {"/pool"}, "text": {text}, "user_id": {"U1"}, "channel_id": {"C0TEST"},
		"response_url": {responseURL}}.Encode()
	ts, sig := bot.Sign("test-signing-secret", time.Now(), []byte(body))
	req, _ := http.NewRequest(http.MethodPost, base+"/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// stall opens a connection, writes raw and returns how long the server
// took to close it (reading and discarding whatever it answers), or an
// error when it is still open after limit.
func stall(addr, raw string, limit time.Duration) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	if raw != "" {
		if _, err := io.WriteString(c, raw); err != nil {
			return 0, err
		}
	}
	_ = c.SetReadDeadline(start.Add(limit))
	_, err = io.Copy(io.Discard, c)
	took := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return took, errors.New("still open")
	}
	return took, nil
}

const stallBody = "command=%2Fpool&text=list"

// stalls are the ways a client holds a connection without finishing a
// request, on the raw wire. The bodies carry a timestamp of now and a
// well-formed (wrong) signature, so that the signature check starts
// reading them.
func stalls() []struct{ name, raw string } {
	head := "POST /slack/commands HTTP/1.1\r\nHost: poolbot\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"X-Slack-Request-Timestamp: " + strconv.FormatInt(time.Now().Unix(), 10) + "\r\n" +
		"X-Slack-Signature: v0=" + strings.Repeat("0", 64) + "\r\n"
	return []struct{ name, raw string }{
		{"nothing sent", ""},
		{"headers never finished", "POST /slack/commands HTTP/1.1\r\nHost: poolbot\r\nX-Slack-Sig"},
		{"Content-Length larger than sent", head + "Content-Length: 1000\r\n\r\n" + stallBody},
		{"chunked body with no end", head + "Transfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(int64(len(stallBody)), 16) + "\r\n" + stallBody + "\r\n"},
		{"idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: poolbot\r\n\r\n"},
	}
}

// Every way of holding a connection open ends within the configured
// bounds, on the listener poolbot serves Slack on.
func TestServerBoundsStalledConnections(t *testing.T) {
	a, _ := runApp(t, "read_timeout = \"300ms\"\nwrite_timeout = \"300ms\"\nidle_timeout = \"300ms\"\n")
	addr := a.Addr().String()
	var wg sync.WaitGroup
	for _, s := range stalls() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			took, err := stall(addr, s.raw, 10*time.Second)
			if err != nil {
				t.Errorf("%s: %v after %s", s.name, err, took)
			} else if took > 3*time.Second { // 300ms, and a busy machine's scheduling
				t.Errorf("%s: closed after %s, want within about 300ms", s.name, took)
			}
		}()
	}
	wg.Wait()
}

func TestServerDefaults(t *testing.T) {
	s := newServer(config.Server{}, http.NotFoundHandler())
	if s.ReadTimeout != 10*time.Second || s.ReadHeaderTimeout != 5*time.Second || s.WriteTimeout != 10*time.Second ||
		s.IdleTimeout != 60*time.Second || bodyTimeout(config.Server{}) != 5*time.Second {
		t.Errorf("server %+v", s)
	}
	// Headers and body together stay within read_timeout.
	short := config.Server{ReadTimeout: config.Duration{Duration: 2 * time.Second}}
	if s := newServer(short, http.NotFoundHandler()); s.ReadHeaderTimeout+bodyTimeout(short) != 2*time.Second {
		t.Errorf("header timeout %s and body timeout %s exceed the read timeout", s.ReadHeaderTimeout, bodyTimeout(short))
	}
}

// With metrics_listen, the monitoring endpoints answer only there, and the
// Slack listener only /slack/*.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	a, stub := runApp(t, "metrics_listen = \"127.0.0.1:0\"\n")
	if a.MetricsAddr() == nil {
		t.Fatal("no metrics listener")
	}
	slackBase, monBase := "http://"+a.Addr().String(), "http://"+a.MetricsAddr().String()
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, _ := httpGet(t, slackBase+p); code != http.StatusNotFound {
			t.Errorf("Slack listener answers %s with %d, want 404", p, code)
		}
		if code, body := httpGet(t, monBase+p); code == http.StatusNotFound || (p != "/readyz" && code != 200) {
			t.Errorf("monitoring listener answers %s with %d %.80s", p, code, body)
		}
	}
	if code := signedCommand(t, http.DefaultClient, slackBase, "help", stub.ResponseURL("r1")); code != 200 {
		t.Errorf("signed command on the Slack listener: %d", code)
	}
	if code := signedCommand(t, http.DefaultClient, monBase, "help", stub.ResponseURL("r2")); code != http.StatusNotFound {
		t.Errorf("signed command on the monitoring listener: %d, want 404", code)
	}
	if _, err := stub.WaitForResponses("r1", 1, 10*time.Second); err != nil {
		t.Error(err)
	}
}

// The same signed command sent twice is answered once: the store
// remembers it.
func TestReplayedCommandRunsOnce(t *testing.T) {
	a, stub, stop := runAppStop(t, "", nil)
	base := "http://" + a.Addr().String()
	body := url.Values{"command": {"/pool"}, "text": {"help"}, "user_id": {"U1"}, "channel_id": {"C0TEST"},
		"response_url": {stub.ResponseURL("once")}}.Encode()
	ts, sig := bot.Sign("test-signing-secret", time.Now(), []byte(body))
	var acks []string
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, base+"/slack/commands", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		acks = append(acks, string(b))
	}
	if acks[0] == "" || acks[1] != acks[0] {
		t.Errorf("acknowledgements %q, want both alike (the store is asked by the worker)", acks)
	}
	stop() // the commands taken are done
	if n := len(stub.Responses("once")); n != 1 {
		t.Errorf("answered %d times, want 1", n)
	}
}
