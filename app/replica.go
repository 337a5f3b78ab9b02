package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/poolbot/poolbot/config"
)

// replicaID is this replica's name in leases and claims, stable across
// restarts so that a restarted replica recognises what its killed process
// held: the config's [server] replica_id, else $POD_NAME (a StatefulSet's
// or Deployment's pod keeps it across container restarts), else, on
// SQLite, an id kept in a file beside the store, else the host name.
func replicaID(cfg *config.Config) (string, error) {
	if id := strings.TrimSpace(cfg.Server.ReplicaID); id != "" {
		return checkID(id, "server.replica_id")
	}
	if id := strings.TrimSpace(os.Getenv("POD_NAME")); id != "" {
		return checkID(id, "$POD_NAME")
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "poolbot"
	}
	if cfg.Store.Driver == "postgres" {
		return host, nil
	}
	path := cfg.Store.Path + ".replica-id" // config gives sqlite its default path
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("replica id: %w", err)
	}
	var r [4]byte
	rand.Read(r[:])
	id := host + "-" + hex.EncodeToString(r[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("replica id: %w", err)
	}
	// Written beside the store, so that it lives on the same volume.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("replica id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("replica id: %w", err)
	}
	return id, nil
}

// checkID refuses an id with a slash: leases are owned by "<id>/<token>",
// and a restart releases those under "<id>/", which must not reach
// another replica's.
func checkID(id, from string) (string, error) {
	if strings.ContainsAny(id, "/ \t") {
		return "", fmt.Errorf("%s: replica id %q: use letters, digits, '-', '_' or '.', no '/' or space", from, id)
	}
	return id, nil
}
