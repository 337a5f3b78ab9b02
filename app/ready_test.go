package app

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/bot"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackstub"
)

// TestReadinessTracksWhatTheReplicaServes runs a replica over HTTP on the
// simulator with Slack's Web API refusing every call: it is ready all the
// same (Slack is reported in /readyz's body, advisory), refused outbox
// messages are reported without failing it, and once its SQLite file is
// deleted it is unready and refuses changes with a message that says why.
func TestReadinessTracksWhatTheReplicaServes(t *testing.T) {
	s, simURL := startSim(t, 60)
	stub := slackstub.New()
	defer stub.Close()
	stub.Refuse("service_unavailable", "auth.test", "usergroups.list")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, simURL, stub.APIURL(), `
[[roles]]
name = "operator"
channels = ["C0TEST"]
`)
	var logs logBuffer
	log, _ := NewLogger(&logs, config.Log{}, "json")
	a, err := New(context.Background(), Options{Config: cfg, Logger: log, Clock: s, Owner: "test-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	base := "http://" + a.Addr().String()

	waitReady := func(wantCode int, want ...string) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, body := httpGet(t, base+"/readyz")
			ok := code == wantCode
			for _, w := range want {
				ok = ok && strings.Contains(body, w)
			}
			if ok {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz %d %s; want %d with %q", code, body, wantCode, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Slack's Web API down: ready, and the body says so.
	waitReady(200, `"name":"slack","ok":false,"error":"Slack auth.test: service_unavailable","advisory":true`,
		`"name":"store","ok":true`, `"name":"devops","ok":true`)
	if _, m := httpGet(t, base+"/metrics"); !strings.Contains(m, `poolbot_ready_check{advisory="true",check="slack"} 0`) {
		t.Error("metrics lack the failing slack check")
	}

	// A refused message: reported, still ready.
	st := a.Store()
	id, err := st.Enqueue(ctx, pool.OutboxMessage{Channel: "C0GONE", Key: "k", Op: "post", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Refuse(ctx, id, "not_in_channel", time.Time{}); err != nil {
		t.Fatal(err)
	}
	waitReady(200, `"name":"outbox","ok":false,"error":"1 messages refused by Slack (the first to C0GONE: not_in_channel)`)
	if _, m := httpGet(t, base+"/metrics"); !strings.Contains(m, "poolbot_outbox_refused_messages 1") {
		t.Error("metrics lack the refused message kept")
	}

	// The store file deleted: unready, and changes refused in words.
	if err := os.Remove(filepath.Join(dir, "poolbot.db")); err != nil {
		t.Fatal(err)
	}
	waitReady(503, `"name":"store","ok":false`, "was deleted")
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
	rs, err := stub.WaitForResponses("r1", 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	reply := rs[len(rs)-1].Text
	// The changer words it (its lock is a write); /readyz and the log say why.
	if !strings.Contains(reply, "nothing was changed") {
		t.Errorf("standby with the store deleted answered %q", reply)
	}
	p, err := a.service.Get(ctx, "linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	if p.Standby == 4 {
		t.Error("the change reached Azure DevOps with the store deleted")
	}
	if !strings.Contains(logs.String(), `"msg":"store: not ready"`) {
		t.Error("the store's failure was not logged at error")
	}
}
