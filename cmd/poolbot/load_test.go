package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A small open-loop run: poolbot on the simulator and the bare handler
// each get their commands, and poolbot answers every one through its
// response_url. Nothing here is timed: the figures are only printed.
func TestLoadAnswersEveryCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"load", "--rate", "40", "--duration", "250ms", "--warm-up", "0"},
		strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		`40 signed "/pool status linux-ci" a second for 250ms to each side`,
		"answered through response_url 10 of 10, 0 failed (target every one: met)",
		"ack p99 ratio", "reply after ack p50",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// A command poolbot answers with an error is a failure of the run.
func TestLoadFailsOnUnansweredOrFailedCommands(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"load", "--rate", "40", "--duration", "100ms", "--warm-up", "0",
		"--text", "status no-such-pool"}, strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "4 failed or unexpected answers") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
}

func TestLoadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"--rate", "0"}, "--rate 0: want 1 to 100000"},
		{[]string{"--duration", "0s"}, "--duration 0s: want above 0"},
		{[]string{"--rounds", "0"}, "--rounds 0: want at least 1"},
		{[]string{"--warm-up", "-1s"}, "--warm-up -1s: must not be negative"},
		{[]string{"--text", " "}, "--text: empty"},
		{[]string{"--workers", "-1"}, "--workers and --queue must not be negative"},
		{[]string{"fast"}, `unexpected argument "fast": load takes only flags`},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"load"}, tt.args...), strings.NewReader(""), &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), tt.err) {
			t.Errorf("load %v: exit %d, stderr %q, want %q", tt.args, code, errb.String(), tt.err)
		}
	}
}

func TestCountCommands(t *testing.T) {
	text := `# HELP poolbot_commands_total Commands handled, by command and result.
poolbot_commands_total{command="status",result="ok"} 12
poolbot_commands_total{command="status",result="error"} 3
poolbot_commands_total{command="up",result="denied"} 1
poolbot_command_duration_seconds_count{command="status"} 16
`
	if total, notOK := countCommands(text); total != 16 || notOK != 4 {
		t.Errorf("countCommands = %d, %d, want 16, 4", total, notOK)
	}
}
