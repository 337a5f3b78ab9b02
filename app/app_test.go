package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/bot"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/console"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
)

// writeConfig writes a configuration for a store in dir, Azure DevOps and
// Azure at org (the simulator) and Slack at slackAPI (the stub), and loads it.
func writeConfig(t *testing.T, dir, org, slackAPI, extra string) *config.Config {
	t.Helper()
	stubURL, err := url.Parse(slackAPI)
	if err != nil {
		t.Fatal(err)
	}
	text := `
[azure_devops]
organization_url = "` + org + `/contoso"
auth = "pat"
pat = "test-pat"

[azure]
resource_manager_url = "` + org + `/"
retail_prices_url = "` + org + `/api/retail/prices"
subscription = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-agents"
auth = "static"
static_token = "test-token"

[slack]
mode = "http"
signing_secret = "test-signing-secret"
bot_token = "xoxb-test"
api_url = "` + slackAPI + `"
channel = "C0TEST"
response_url_hosts = ["` + stubURL.Host + `"]

[store]
path = "` + filepath.Join(dir, "poolbot.db") + `"

[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"
` + extra
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// With Azure DevOps unreachable the replica is alive but not ready, and it
// stops when its context ends.
func TestRunServesHealthAndStops(t *testing.T) {
	dir := t.TempDir()
	stub := slackstub.New()
	defer stub.Close()
	cfg := writeConfig(t, dir, "http://127.0.0.1:1", stub.APIURL(), "")
	var logs logBuffer
	log, _ := NewLogger(&logs, config.Log{}, "json")
	a, err := New(context.Background(), Options{Config: cfg, Logger: log, Owner: "test-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	base := "http://" + a.Addr().String()

	if code, body := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("healthz %d %s", code, body)
	}
	code, body := httpGet(t, base+"/readyz")
	if code != 503 || !strings.Contains(body, `"name":"store","ok":true`) || !strings.Contains(body, `"name":"devops","ok":false`) {
		t.Errorf("readyz %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/metrics"); code != 200 || !strings.Contains(body, "poolbot_leader 1") {
		t.Errorf("metrics %d: no leader gauge at 1 on a single SQLite replica", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	out := logs.String()
	for _, s := range []string{`"msg":"listening"`, `"msg":"poolbot stopped"`, `"replica":"test-1"`} {
		if !strings.Contains(out, s) {
			t.Errorf("logs lack %s:\n%s", s, out)
		}
	}
	for _, secret := range []string{"test-pat", "test-token", "test-signing-secret", "xoxb-test"} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret (%s) is in the logs", secret)
		}
	}
}

// startSim serves a simulator on loopback, its clock running speed times
// the wall clock.
func startSim(t *testing.T, speed float64) (*sim.Sim, string) {
	t.Helper()
	s := sim.New(sim.Options{Seed: 1})
	srv := httptest.NewServer(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, speed); close(done) }()
	// A read still waiting on an injected latency when the test ends (a
	// pool list shared by the snapshot cache is not the caller's to cancel)
	// is cut off with its connection, rather than held until it is answered.
	t.Cleanup(func() { cancel(); <-done; srv.CloseClientConnections(); srv.Close() })
	return s, srv.URL
}

// A signed slash command over HTTP is answered through its response_url,
// the watcher's figures reach /metrics and the replica becomes ready.
func TestSlackCommandAndMetricsOnTheSimulator(t *testing.T) {
	s, simURL := startSim(t, 600)
	stub := slackstub.New()
	defer stub.Close()
	cfg := writeConfig(t, t.TempDir(), simURL, stub.APIURL(), `
[[roles]]
name = "viewer"
channels = ["C0TEST"]
[alerts]
interval = "60s"
[cost.prices]
Standard_D4s_v5 = 0.192
Standard_NC4as_T4_v3 = 0.526
`)
	var logs logBuffer
	log, _ := NewLogger(&logs, config.Log{}, "json")
	a, err := New(context.Background(), Options{Config: cfg, Logger: log, Clock: s, Owner: "test-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + a.Addr().String()

	form := url.Values{"command": {"/pool"}, "text": {"list"}, "user_id": {"U1"}, "user_name": {"ann"},
		"channel_id": {"C0TEST"}, "team_id": {"T1"}, "response_url": {stub.ResponseURL("r1")}}
	body := form.Encode()
	ts, sig := bot.Sign("test-signing-secret", time.Now(), []byte(body))
	req, _ := http.NewRequest("POST", base+"/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("command acknowledged with %d", resp.StatusCode)
	}
	rs, err := stub.WaitForResponses("r1", 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := console.RenderJSON(rs[len(rs)-1].Blocks, rs[len(rs)-1].Text)
	for _, p := range []string{"linux-ci", "windows-ci", "gpu-nightly"} {
		if !strings.Contains(got, p) {
			t.Errorf("list does not show %s", p)
		}
	}
	t.Logf("/pool list:\n%s", got)

	// A bad signature gets 401.
	req, _ = http.NewRequest("POST", base+"/slack/commands", strings.NewReader(body))
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0=00")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("forged request: %v %v", resp.StatusCode, err)
	}

	// The watcher's first cycle feeds /metrics; the replica is ready.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, m := httpGet(t, base+"/metrics")
		code, ready := httpGet(t, base+"/readyz")
		if code == 200 && strings.Contains(m, `poolbot_pool_max{pool="gpu-nightly"} 2`) &&
			strings.Contains(m, `poolbot_pool_agents{pool="linux-ci",state="idle"}`) &&
			strings.Contains(m, `poolbot_commands_total{command="list"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready with pool figures: readyz %d %s\n%s", code, ready, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"msg":"command"`) || !strings.Contains(logs.String(), `"request_id"`) {
		t.Errorf("no command log line with a request id:\n%s", logs.String())
	}
}
