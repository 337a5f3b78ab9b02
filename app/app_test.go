package app

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/config"
)

// writeConfig writes a configuration for a store in dir and Azure DevOps at
// org, and loads it.
func writeConfig(t *testing.T, dir, org, extra string) *config.Config {
	t.Helper()
	text := `
[azure_devops]
organization_url = "` + org + `/contoso"
auth = "pat"
pat = "test-pat"

[azure]
resource_manager_url = "` + org + `/"
subscription = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-agents"
auth = "static"
static_token = "test-token"

[slack]
mode = "http"
signing_secret = "test-signing-secret"
bot_token = "xoxb-test"
channel = "C0TEST"

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
	cfg := writeConfig(t, dir, "http://127.0.0.1:1", "")
	var logs strings.Builder
	log, _ := NewLogger(&syncWriter{w: &logs}, config.Log{}, "json")
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
