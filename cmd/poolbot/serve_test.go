package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeRefusesBadStarts(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[slack]\nmode = \"carrier-pigeon\"\nbogus = 1\n"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"serve"}, "--config is required"},
		{"missing file", []string{"serve", "--config", "/nonexistent/poolbot.toml"}, "read config"},
		{"invalid config", []string{"serve", "--config", bad}, bad + ":3: key slack.bogus: unknown key"},
		{"bad clock", []string{"serve", "--config", "../../config.example.toml", "--clock-start", "yesterday"}, "--clock-start"},
	}
	t.Setenv("AZDO_PAT", "x")
	t.Setenv("SLACK_SIGNING_SECRET", "x")
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-x")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			if code := run(context.Background(), tt.args, nil, &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1; stderr %s", code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr %q does not say %q", errb.String(), tt.want)
			}
		})
	}
}
