package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckStorePath: check fails, naming [store] path, when the SQLite
// file could not be created where the config puts it.
func TestCheckStorePath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		want string
	}{
		{"usable", filepath.Join(dir, "poolbot.db"), ""},
		{"missing directory", filepath.Join(dir, "nope", "poolbot.db"), "[store] path: store path " + filepath.Join(dir, "nope", "poolbot.db") + ": the directory " + filepath.Join(dir, "nope") + " does not exist"},
		{"a directory", dir, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, "http://127.0.0.1:1", "\n[store]\npath = \""+tt.path+"\"\n")
			var out, errb strings.Builder
			code := run(context.Background(), []string{"check", "--offline", "--config", cfg}, nil, &out, &errb)
			if tt.want == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errb.String())
				}
				return
			}
			if code != 1 || !strings.Contains(errb.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errb.String(), tt.want)
			}
		})
	}
}
