package main

import (
	"context"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemo runs the demo once with its whole warm-up (most of this
// package's time, so its checks share one run), with --listen, and checks:
//   - script: a scripted session (the list, a change up and down, and the
//     failure alert of gpu-nightly posted to the demo channel, the digests,
//     the schedules' changes);
//   - listen: the Slack endpoints, /metrics with the pools' figures, and
//     /healthz and /readyz, served while the console is open;
//   - waits: /pool waits answered from the job history the watcher read
//     from the simulator during the warm-up, as text and as the picture the
//     local Slack saved.
func TestDemo(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // where the demo saves pictures
	t.Setenv("SLACK_SIGNING_SECRET", "")
	inR, inW := io.Pipe()
	defer inW.Close()
	defer inR.Close() // ends the script's write if the demo has gone
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), demoBound)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--speed", "600", "--listen", "127.0.0.1:0"}, inR, out, errb)
	}()

	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/slack/commands`)
	var base string
	for base == "" { // the address is printed before the warm-up
		if m := addr.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
			continue
		}
		select {
		case code := <-done:
			t.Fatalf("exit %d before the address was printed\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The console reads the script once the warm-up is over: the write
	// returns then.
	written := make(chan struct{})
	go func() {
		io.WriteString(inW, "/pool list\n/pool up linux-ci\n/pool down linux-ci\n/pool waits linux-ci\n")
		close(written)
	}()
	select {
	case <-written:
	case code := <-done:
		t.Fatalf("exit %d before the console read its input\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	var body string
	// The figures get a wait of their own, from the end of the warm-up.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if strings.Contains(body, `poolbot_commands_total{command="list",result="ok"} 1`) &&
			strings.Contains(body, `poolbot_pool_agents{pool="gpu-nightly",state="failed"}`) &&
			strings.Contains(body, `poolbot_alerts_firing{condition="failed-nodes",pool="gpu-nightly"`) &&
			strings.Contains(body, "poolbot_leader 1") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	health := map[string]int{}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		health[p] = resp.StatusCode
	}
	inW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
		}
	case <-time.After(demoBound):
		t.Fatal("the demo did not exit at the end of its input")
	}
	o := out.String()

	t.Run("script", func(t *testing.T) {
		checks := []struct {
			name string
			re   string
		}{
			{"list shows 4 pools", `(?s)> /pool list\n(?:\n|[^>\n][^\n]*\n)*?4 pools( · as of [^\n]*)?\n.*gpu-nightly · .*linux-ci · .*windows-ci · .*mdp-linux · `},
			// Channel messages may print between a command and its answer.
			{"up raises standby", `(?s)> /pool up linux-ci\n(?:\n|[^>\n][^\n]*\n)*?@demo set linux-ci standby 0 → 3`},
			{"down lowers it", `(?s)> /pool down linux-ci\n(?:\n|[^>\n][^\n]*\n)*?@demo set linux-ci standby 3 → 0`},
			{"failure alert posted", `\[#poolbot-demo\] 🔴 gpu-nightly · .*failed-nodes.* · CRITICAL`},
			{"schedule change posted", `\[#poolbot-demo\] ⏰ linux-ci: standby 2 → 0, max 10 → 2, ttl 30 → 1 \(schedule office-hours\)`},
			{"digest of the quiet Sunday", `\[#poolbot-demo\] AGENT POOL COST FOR SUN 4 JAN 2026\n    4 pools: \$0\.00 in all`},
			{"digest of the working Monday", `\[#poolbot-demo\] AGENT POOL COST FOR MON 5 JAN 2026\n    4 pools: \$[1-9][0-9]*\.[0-9]{2} in all, [0-9.]+ idle and [1-9][0-9.]* busy agent-hours, [1-9][0-9]* jobs`},
			{"Monday's estimate, Cost Management's part of the day beside it", `linux-ci \$[1-9][0-9]*\.[0-9]{2} est\. \(Cost Management so far: \$[1-9][0-9]*\.[0-9]{2}\) · idle`},
			{"threads folded", `\(\d+ replies in thread\)`},
			{"the managed pool on its schedule", `\[#poolbot-demo\] ⏰ mdp-linux: standby 0 → 2 \(schedule managed-office-hours\)`},
			{"the managed pool's cost, Cost Management's part of the day beside it", `mdp-linux \$[0-9]+\.[0-9]{2} est\. \(Cost Management so far: \$[0-9]+\.[0-9]{2}\) · idle`},
		}
		for _, c := range checks {
			if !regexp.MustCompile(c.re).MatchString(o) {
				t.Errorf("%s: no match for %s", c.name, c.re)
			}
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", o, errb.String())
		}
		// The budget alert's last figure for Monday is the digest's.
		alert := regexp.MustCompile(`gpu-nightly · .budget-daily. · RESOLVED\n    gpu-nightly has cost (\$[0-9.]+) today`).FindStringSubmatch(o)
		digest := regexp.MustCompile("(?s)FOR MON 5 JAN 2026\n.*?gpu-nightly (\\$[0-9.]+) est\\.").FindStringSubmatch(o)
		if alert == nil || digest == nil || alert[1] != digest[1] {
			t.Errorf("Monday's budget alert and digest disagree on gpu-nightly: %q, %q", alert, digest)
		}
		// The alert is posted once, and updated in place after that.
		if n := strings.Count(o, "[#poolbot-demo] 🔴 gpu-nightly"); n != 1 {
			t.Errorf("gpu-nightly alert posted %d times, want 1", n)
		}
	})

	t.Run("listen", func(t *testing.T) {
		if !strings.Contains(o, "Slack signing secret for this demo: ") {
			t.Errorf("the demo secret is not printed")
		}
		if !strings.Contains(body, `poolbot_alerts_firing{condition="failed-nodes",pool="gpu-nightly"`) ||
			!strings.Contains(body, `poolbot_commands_total{command="list",result="ok"} 1`) {
			t.Errorf("/metrics lacks the demo's figures:\n%s", body)
		}
		for p, code := range health {
			if code != 200 {
				t.Errorf("%s: %d", p, code)
			}
		}
	})

	t.Run("waits", func(t *testing.T) {
		// Channel messages may print between the command and its answer.
		m := regexp.MustCompile(`(?s)> /pool waits linux-ci\n(?:.*?\n)?linux-ci, the last 7 days \(Europe/Paris\): ([1-9][0-9]*) jobs; wait for an agent p50 \S+, p95 \S+`).FindStringSubmatch(o)
		if m == nil {
			t.Fatalf("no waits answer:\n%s", o)
		}
		pic := regexp.MustCompile(`\(picture waits-linux-ci\.png: (\S+\.png)\)`).FindStringSubmatch(o)
		if pic == nil {
			t.Fatalf("no picture path printed:\n%s", o)
		}
		f, err := os.Open(pic[1])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s is not a PNG: %v", pic[1], err)
		}
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// demoScript runs the demo with a script and a short warm-up, and returns what
// it printed on each stream.
// demoBound only catches a demo that hangs: its 26-hour warm-up takes a few
// seconds, but minutes under the race detector on a 2-core machine that
// other work keeps busy.
const demoBound = 8 * time.Minute

func demoScript(t *testing.T, script string, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), demoBound)
	defer cancel()
	args = append([]string{"demo", "--speed", "600", "--warm-up", "1h"}, args...)
	if code := run(ctx, args, strings.NewReader(script), &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

func expectIn(t *testing.T, out string, checks [][2]string) {
	t.Helper()
	for _, c := range checks {
		if !regexp.MustCompile(c[1]).MatchString(out) {
			t.Errorf("%s: no match for %s", c[0], c[1])
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// The console presses a reply's buttons: /pool confirm for a glob change,
// the button's label for an image swap, /pool cancel; a press with nothing
// to press says so. A failed command logs nothing into the console.
func TestDemoConsolePressesButtons(t *testing.T) {
	t.Parallel()
	script := "/pool standby *-ci 2\n/pool confirm\n" +
		"/pool image linux-ci latest\n/pool change IMAGE\n" +
		"/pool image windows-ci latest\n/pool cancel\n/pool confirm\n" +
		"/pool create linux-ci\n/pool history linux-ci\n"
	out, errs := demoScript(t, script)
	expectIn(t, out, [][2]string{
		{"help says how", `/pool confirm or /pool cancel presses a reply's buttons`},
		{"glob change asked", `> /pool standby \*-ci 2\n.*\n• linux-ci: standby 0 → 2\n• windows-ci: standby 0 → 2\n  \[[^]]+\] \[Cancel\]`},
		{"glob change confirmed", `(?s)> /pool confirm\n\(pressed \[[^]]+\]\)\n.*@demo set linux-ci standby 0 → 2\n@demo set windows-ci standby 0 → 2`},
		{"image swap pressed by its label", `(?s)> /pool change IMAGE\n\(pressed \[Change image\]\)\n.*@demo changed the image of linux-ci: .* → .*ubuntu22/versions/1\.2\.0`},
		// Channel messages may come between a command and its answer.
		{"cancelled", `(?s)> /pool cancel\n\(pressed \[Cancel\]\)\n.*?Cancelled [^\n]*/pool image windows-ci latest[^\n]*; nothing was changed`},
		{"nothing left to press", `(?s)> /pool confirm\n.*?\(no reply shown has a confirm button: run the command first, then /pool confirm\)`},
		{"failed command answered", `(?s)> /pool create linux-ci\n.*?A pool named linux-ci already exists`},
		{"swap in history", `(?s)> /pool history linux-ci\n.*image linux-ci latest — .*versions/1\.1\.0 → .*versions/1\.2\.0 — ok`},
	})
	if strings.Contains(out, "level=") || errs != "" {
		t.Errorf("logs without -v:\nstdout:\n%s\nstderr:\n%s", out, errs)
	}
	if strings.Contains(out, "windows-ci: `win2022/versions/1.1.0` → ") {
		t.Errorf("the cancelled swap ran")
	}
	// With -v the logs go to standard error, never to the console.
	out, errs = demoScript(t, "/pool create linux-ci\n", "-v")
	if !strings.Contains(errs, `level=WARN msg=command`) || strings.Contains(out, "level=") {
		t.Errorf("-v: logs not on standard error alone\nstdout:\n%s\nstderr:\n%s", out, errs)
	}
}

// A line over 1 MiB is refused and the demo goes on.
func TestDemoRefusesHugeLine(t *testing.T) {
	t.Parallel()
	out, _ := demoScript(t, "/pool list "+strings.Repeat("x", 2<<20)+"\n/pool help list\n")
	expectIn(t, out, [][2]string{
		{"refused", `\(a line of 2097163 bytes was refused: a line may hold at most 1048576 bytes, 1 MiB\)`},
		{"goes on", `> /pool help list\n`},
	})
}

// --config takes the roles, schedules, alerts and cost of a file whose
// secrets are not set: the services are simulated. The console is its first
// admin, and says so.
func TestDemoWithExampleConfig(t *testing.T) {
	for _, v := range []string{"AZDO_PAT", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	out, errs := demoScript(t, "/pool standby linux-ci 2\n", "--config", "../../config.example.toml")
	expectIn(t, out, [][2]string{
		{"who the console is", `You are U0ALICE in the console: admin by \.\./\.\./config\.example\.toml's roles \(--user picks another: U0ALICE admin, U0BOB admin, U0CAROL operator on linux-\*\)\.`},
		{"not denied", `> /pool standby linux-ci 2\n@demo set linux-ci standby \d+ → 2`},
	})
	// Another user, and one with no role: told so before the first command.
	out, _ = demoScript(t, "/pool standby windows-ci 2\n", "--config", "../../config.example.toml", "--user", "U0CAROL")
	expectIn(t, out, [][2]string{
		{"operator on linux-*", `You are U0CAROL in the console: operator on linux-\* by`},
		{"not shown elsewhere", `> /pool standby windows-ci 2\nNo pool named "windows-ci" that you may see\.`},
	})
	out, _ = demoScript(t, "", "--config", "../../config.example.toml", "--user", "U0NOBODY")
	expectIn(t, out, [][2]string{{"no role", `You are U0NOBODY in the console: no role in \.\./\.\./config\.example\.toml, so every command is denied; the users it grants roles to: U0ALICE admin`}})
	_ = errs
	// A file whose roles name no user: the console's own user is granted admin.
	noUsers := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(noUsers, []byte("[[roles]]\nname = \"viewer\"\nchannels = [\"C1\"]\n"), 0o600)
	out, _ = demoScript(t, "/pool standby linux-ci 3\n", "--config", noUsers)
	expectIn(t, out, [][2]string{
		{"granted", `You are U0DEMO in the console: admin, granted by the demo: .*c\.toml's roles name no user`},
		{"allowed", `> /pool standby linux-ci 3\n@demo set linux-ci standby \d+ → 3`},
	})
}
