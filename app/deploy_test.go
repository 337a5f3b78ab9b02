package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolbot/poolbot/config"
)

// The configuration in the Kubernetes example loads as it stands.
func TestKubernetesExampleConfigLoads(t *testing.T) {
	raw, err := os.ReadFile("../deploy/kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var toml []string
	in := false
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.TrimSpace(l) == "config.toml: |":
			in = true
		case in && (strings.HasPrefix(l, "    ") || strings.TrimSpace(l) == ""):
			toml = append(toml, strings.TrimPrefix(l, "    "))
		case in:
			in = false
		}
	}
	if len(toml) < 10 {
		t.Fatalf("no config.toml found in the example (%d lines)", len(toml))
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(strings.Join(toml, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLACK_SIGNING_SECRET", "s")
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-1")
	t.Setenv("POOLBOT_POSTGRES_DSN", "postgres://x@db/poolbot")
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Driver != "postgres" || c.Server.Listen != "0.0.0.0:3000" || c.Log.Format != "json" {
		t.Errorf("store %q listen %q log %q", c.Store.Driver, c.Server.Listen, c.Log.Format)
	}
}
