package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// A scripted session of the demo: the list, a change up and down, and the
// failure alert of gpu-nightly posted to the demo channel.
func TestDemoScript(t *testing.T) {
	script := "/pool list\n/pool up linux-ci\n/pool down linux-ci\n"
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if code := run(ctx, []string{"demo", "--speed", "600"}, strings.NewReader(script), &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	o := out.String()
	checks := []struct {
		name string
		re   string
	}{
		{"list shows 4 pools", `(?s)> /pool list\n4 pools\n.*gpu-nightly · .*linux-ci · .*windows-ci · .*mdp-linux · `},
		{"up raises standby", `> /pool up linux-ci\n.*set linux-ci standby 0 → 3`},
		{"down lowers it", `> /pool down linux-ci\n.*set linux-ci standby 3 → 0`},
		{"failure alert posted", `\[#poolbot-demo\] 🔴 gpu-nightly · .*failed-nodes.* · CRITICAL`},
		{"schedule change posted", `\[#poolbot-demo\] ⏰ linux-ci: standby 2 → 0, max 10 → 2, ttl 30 → 1 \(schedule office-hours\)`},
		{"digest of the quiet Sunday", `\[#poolbot-demo\] AGENT POOL COST FOR SUN 4 JAN 2026\n    4 pools: \$0\.00 in all`},
		{"digest of the working Monday", `\[#poolbot-demo\] AGENT POOL COST FOR MON 5 JAN 2026\n    4 pools: \$[1-9][0-9]*\.[0-9]{2} in all, [0-9.]+ idle and [1-9][0-9.]* busy agent-hours, [1-9][0-9]* jobs`},
		{"Monday's actual cost from Cost Management", `linux-ci \$[1-9][0-9]*\.[0-9]{2} · idle`},
		{"threads folded", `\(\d+ replies in thread\)`},
		{"the managed pool on its schedule", `\[#poolbot-demo\] ⏰ mdp-linux: standby 0 → 2 \(schedule managed-office-hours\)`},
		{"the managed pool's cost from Cost Management", `mdp-linux \$[0-9]+\.[0-9]{2} · idle`},
	}
	for _, c := range checks {
		if !regexp.MustCompile(c.re).MatchString(o) {
			t.Errorf("%s: no match for %s", c.name, c.re)
		}
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", o, errb.String())
	}
	// The alert is posted once, and updated in place after that.
	if n := strings.Count(o, "[#poolbot-demo] 🔴 gpu-nightly"); n != 1 {
		t.Errorf("gpu-nightly alert posted %d times, want 1", n)
	}
}

// With --listen the demo serves /metrics with the pools' figures while the
// console is open.
func TestDemoListen(t *testing.T) {
	inR, inW := io.Pipe()
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	t.Setenv("SLACK_SIGNING_SECRET", "")
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"demo", "--speed", "600", "--listen", "127.0.0.1:0"}, inR, out, errb)
	}()

	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/slack/commands`)
	var base string
	deadline := time.Now().Add(20 * time.Second)
	for base == "" {
		if m := addr.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no address printed:\n%s\n%s", out.String(), errb.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !strings.Contains(out.String(), "Slack signing secret for this demo: ") {
		t.Errorf("the demo secret is not printed")
	}
	io.WriteString(inW, "/pool list\n")
	var body string
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
	if !strings.Contains(body, `poolbot_alerts_firing{condition="failed-nodes",pool="gpu-nightly"`) ||
		!strings.Contains(body, `poolbot_commands_total{command="list",result="ok"} 1`) {
		t.Errorf("/metrics lacks the demo's figures:\n%s", body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	inW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not exit at the end of its input")
	}
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
