package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolbot/poolbot/config"
)

// The replica id survives a restart: a restarted replica must recognise
// the leases and claims of its killed process.
func TestReplicaIDIsStable(t *testing.T) {
	t.Setenv("POD_NAME", "")
	dir := t.TempDir()
	cfg := &config.Config{Store: config.Store{Driver: "sqlite", Path: filepath.Join(dir, "poolbot.db")}}
	first, err := replicaID(cfg)
	if err != nil || first == "" {
		t.Fatalf("first start: %q, %v", first, err)
	}
	second, err := replicaID(cfg)
	if err != nil || second != first {
		t.Fatalf("restart: %q, %v; want %q again", second, err, first)
	}
	if b, err := os.ReadFile(cfg.Store.Path + ".replica-id"); err != nil || strings.TrimSpace(string(b)) != first {
		t.Errorf("kept beside the store: %q, %v", b, err)
	}
	other, _ := replicaID(&config.Config{Store: config.Store{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "poolbot.db")}})
	if other == first {
		t.Errorf("two stores share the id %q", other)
	}

	t.Setenv("POD_NAME", "poolbot-7d9c-x2")
	if id, _ := replicaID(cfg); id != "poolbot-7d9c-x2" {
		t.Errorf("with POD_NAME: %q", id)
	}
	cfg.Server.ReplicaID = "poolbot-0"
	if id, _ := replicaID(cfg); id != "poolbot-0" {
		t.Errorf("with replica_id: %q", id)
	}
	cfg.Server.ReplicaID = "pool/bot"
	if _, err := replicaID(cfg); err == nil || !strings.Contains(err.Error(), "server.replica_id") {
		t.Errorf("a slash accepted: %v", err)
	}
}
