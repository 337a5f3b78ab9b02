package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"frobnicate"}, nil, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), `unknown command "frobnicate"`) {
		t.Fatalf("code %d, stderr %q", code, errb.String())
	}
}

func TestHelpListsCommands(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, nil, &out, &out); code != 0 {
		t.Fatalf("code %d", code)
	}
	for _, c := range subcommands() {
		if !strings.Contains(out.String(), c.name) {
			t.Errorf("help does not list %q:\n%s", c.name, out.String())
		}
	}
}

// The command line: help for a command, flags of schedule, the version,
// a misspelt command, a date for --from, and arguments refused.
func TestCommandLine(t *testing.T) {
	path := writeConfig(t, "http://127.0.0.1:1", goodSchedules)
	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{"help check", []string{"help", "check"}, 0, "Usage: poolbot check --config FILE", ""},
		{"help check lists its flags", []string{"help", "check"}, 0, "-offline", ""},
		{"check --help", []string{"check", "--help"}, 0, "-timeout duration", ""},
		{"help of an unknown command", []string{"help", "chek"}, 2, "", `unknown command "chek"; did you mean "check"?`},
		{"schedule --help shows flags", []string{"schedule", "--help"}, 0, "-from day or instant", ""},
		{"schedule preview --help shows flags", []string{"schedule", "preview", "--help"}, 0, "-days days", ""},
		{"--version", []string{"--version"}, 0, "poolbot devel", ""},
		{"version", []string{"version"}, 0, "poolbot devel", ""},
		{"did you mean", []string{"chek"}, 2, "", `unknown command "chek"; did you mean "check"?`},
		{"a swap of letters", []string{"cehck"}, 2, "", `did you mean "check"?`},
		{"nothing near", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"` + "\n"},
		{"--from a date", []string{"schedule", "preview", "--config", path, "--from", "2026-03-27", "--days", "1"}, 0,
			"2026-03-27T07:00:00+01:00 linux-ci standby=2 office-hours\n", ""},
		{"--from neither", []string{"schedule", "preview", "--config", path, "--from", "27/03/2026"}, 1, "",
			`--from "27/03/2026" is neither a date such as 2026-03-27 nor an RFC 3339 instant`},
		{"preview needs no secret", []string{"schedule", "preview", "--config", "../../config.example.toml", "--from", "2026-03-27", "--days", "1"}, 0,
			"2026-03-27T06:45:00+01:00 linux-ci restore standby=1 ttl=3 office-hours", ""},
		{"demo --warm-up -1h", []string{"demo", "--warm-up", "-1h"}, 1, "", "--warm-up -1h0m0s: must not be negative"},
		{"demo extra", []string{"demo", "extra"}, 1, "", `unexpected argument "extra": demo takes only flags`},
		{"check extra", []string{"check", "--config", path, "extra"}, 1, "", `unexpected argument "extra"`},
		{"sim extra", []string{"sim", "--listen", "127.0.0.1:0", "fast"}, 1, "", `unexpected argument "fast": sim takes only flags`},
		{"demo --user not an id", []string{"demo", "--user", "alice"}, 1, "", `--user "alice": want a Slack user id`},
	}
	for _, v := range []string{"AZDO_PAT", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\n(want %q)\nstderr:\n%s\n(want %q)", code, tt.code, out.String(), tt.out, errb.String(), tt.err)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}
	if got := version(bi); got != "v1.4.0 (0123456789ab, modified)" {
		t.Errorf("version = %q", got)
	}
	if got := version(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}); got != "devel" {
		t.Errorf("version of a checkout = %q", got)
	}
	if got := version(nil); got != "devel" {
		t.Errorf("version without build info = %q", got)
	}
}

func TestSubcommandTableRefusesDuplicates(t *testing.T) {
	if err := checkTable(subcommands()); err != nil {
		t.Fatalf("poolbot's own table: %v", err)
	}
	run := func(context.Context, []string, io.Reader, io.Writer, io.Writer) error { return nil }
	dup := []subcommand{{name: "serve", run: run}, {name: "check", run: run}, {name: "serve", run: run}}
	if err := checkTable(dup); err == nil || !strings.Contains(err.Error(), "serve is in the table twice") {
		t.Errorf("a duplicate: err = %v", err)
	}
	if err := checkTable([]subcommand{{usage: "x", run: run}}); err == nil {
		t.Error("an entry without a name was taken")
	}
}
