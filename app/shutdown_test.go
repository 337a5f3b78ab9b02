package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/bot"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
)

// TestShutdownTellsCommandsCutOff: a command still waiting for Azure DevOps
// when shutdown gives up on it (shutdown_timeout) is told, through its
// response_url, that shutdown stopped it and what to check.
func TestShutdownTellsCommandsCutOff(t *testing.T) {
	s, simURL := startSim(t, 60)
	stub := slackstub.New()
	defer stub.Close()
	cfg := writeConfig(t, t.TempDir(), simURL, stub.APIURL(), `
[[roles]]
name = "operator"
channels = ["C0TEST"]
`)
	cfg.Server.ShutdownTimeout.Duration = 500 * time.Millisecond
	a, err := New(context.Background(), Options{Config: cfg, Clock: s, Owner: "test-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	base := "http://" + a.Addr().String()

	// Azure DevOps answers after 3 s: the command is still waiting
	// when shutdown starts.
	s.SetFaults(sim.Faults{Latency: 3 * time.Second})

	form := url.Values{"command": {"/pool"}, "text": {"standby linux-ci 4"}, "user_id": {"U1"}, "user_name": {"ann"},
		"channel_id": {"C0TEST"}, "team_id": {"T1"}, "response_url": {stub.ResponseURL("r1")}}
	body := form.Encode()
	ts, sig := bot.Sign("test-signing-secret", time.Now(), []byte(body))
	req, _ := http.NewRequest("POST", base+"/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A worker looks up the requester's user groups, then runs the command,
	// whose first Azure DevOps call takes 3 s.
	waitUntil(t, "a worker to take the command", func() bool { return stub.Calls("usergroups.list") > 0 })
	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
	rs := stub.Responses("r1")
	var texts []string
	for _, r := range rs {
		texts = append(texts, r.Text)
	}
	if len(rs) == 0 || !strings.Contains(rs[len(rs)-1].Text, "poolbot is shutting down") ||
		!strings.Contains(rs[len(rs)-1].Text, "standby linux-ci 4") || !strings.Contains(rs[len(rs)-1].Text, "/pool history") {
		t.Fatalf("responses %q; want the last to say shutdown stopped the command", texts)
	}
}
