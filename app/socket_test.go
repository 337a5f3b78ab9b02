package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
)

// socketWait bounds every wait for a real goroutine hand-off (the socket, the
// workers, the stub); nothing waits on time passing.
const socketWait = 10 * time.Second

// socketConfig is writeConfig's configuration in Socket Mode, with an
// app-level token.
func socketConfig(t *testing.T, dir, org, slackAPI, extra string) *config.Config {
	t.Helper()
	writeConfig(t, dir, org, slackAPI, extra)
	path := filepath.Join(dir, "config.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), `mode = "http"`, `mode = "socket"`+"\n"+`app_token = "xapp-test"`, 1)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Slack.Mode != "socket" {
		t.Fatalf("mode %q", c.Slack.Mode)
	}
	return c
}

// socketApp is poolbot in Socket Mode on a simulator whose clock stands
// still (nothing here waits on time: the app runs on the simulator's clock)
// and a Slack stub that wants the app-level token for
// apps.connections.open and the bot token for everything else.
type socketApp struct {
	app  *App
	sim  *sim.Sim
	stub *slackstub.Stub
	logs *logBuffer
}

func startSocketApp(t *testing.T) *socketApp {
	t.Helper()
	s := sim.New(sim.Options{Seed: 1})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	stub := slackstub.New()
	t.Cleanup(stub.Close)
	stub.RequireTokens("xoxb-test", "xapp-test")
	cfg := socketConfig(t, t.TempDir(), srv.URL, stub.APIURL(), `
[[roles]]
name = "operator"
users = ["UOPS"]
`)
	var logs logBuffer
	log, _ := NewLogger(&logs, config.Log{}, "json")
	a, err := New(context.Background(), Options{Config: cfg, Logger: log, Clock: s, Owner: "test-socket"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(socketWait):
			t.Error("Run did not return after its context ended")
		}
		if out := logs.String(); strings.Contains(out, "xapp-test") || strings.Contains(out, "xoxb-test") {
			t.Error("a Slack token is in the logs")
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	if a.w.socket == nil {
		t.Fatal("mode = socket built no Socket Mode transport")
	}
	if err := stub.WaitForConnections(1, socketWait); err != nil {
		t.Fatal(err)
	}
	return &socketApp{app: a, sim: s, stub: stub, logs: &logs}
}

func slashCommand(text, user, responseURL, trigger string) slack.SlashCommand {
	return slack.SlashCommand{Command: "/pool", Text: text, UserID: user, UserName: "olga", ChannelID: "C0TEST",
		TeamID: "T0STUB", ResponseURL: responseURL, TriggerID: trigger}
}

// ackOf waits for envelope's n-th ack (1-based) and returns it.
func (r *socketApp) ackOf(t *testing.T, envelope string, n int) slackstub.Ack {
	t.Helper()
	var got []slackstub.Ack
	deadline := time.Now().Add(socketWait)
	for {
		got = got[:0]
		for _, a := range r.stub.Acks() {
			if a.EnvelopeID == envelope {
				got = append(got, a)
			}
		}
		if len(got) >= n {
			return got[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("envelope %s acked %d times, want %d", envelope, len(got), n)
		}
		_, _ = r.stub.WaitForAcks(len(r.stub.Acks())+1, 50*time.Millisecond)
	}
}

// idle waits until the workers have nothing running or queued, so that a
// command that should not have run would have by now.
func (r *socketApp) idle(t *testing.T) {
	t.Helper()
	w := r.app.w.socket.Workers()
	deadline := time.Now().Add(socketWait)
	for quiet := 0; quiet < 2; {
		if w.Busy() == 0 && w.Queued() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers still busy: %d running, %d queued", w.Busy(), w.Queued())
		}
		time.Sleep(time.Millisecond) // a real hand-off between goroutines, bounded above
	}
}

func (r *socketApp) standby(t *testing.T, name string) int {
	t.Helper()
	s, err := r.sim.Settings(name)
	if err != nil {
		t.Fatal(err)
	}
	return *s.Standby
}

func (r *socketApp) audit(t *testing.T, name, command string) []pool.AuditEntry {
	t.Helper()
	all, err := r.app.Store().Audit(context.Background(), pool.AuditQuery{Pool: name, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []pool.AuditEntry
	for _, e := range all {
		if e.Command == command {
			out = append(out, e)
		}
	}
	return out
}

// command pushes a slash command envelope and returns its ack and the
// answer posted to its response_url.
func (r *socketApp) command(t *testing.T, envelope, text, user, respID string) (slackstub.Ack, slackstub.Response) {
	t.Helper()
	pushed := time.Now()
	if err := r.stub.PushSlashCommand(envelope, slashCommand(text, user, r.stub.ResponseURL(respID), "trig-"+envelope)); err != nil {
		t.Fatal(err)
	}
	a := r.ackOf(t, envelope, 1)
	var body struct{ Text, ResponseType string }
	if err := json.Unmarshal(a.Payload, &body); err != nil || body.Text != "working on it…" {
		t.Fatalf("%s acked with %s, want an ephemeral working on it", envelope, a.Payload)
	}
	// Slack gives up on an ack after 3 s.
	if d := a.Time.Sub(pushed); d > 3*time.Second {
		t.Errorf("%s acked after %v", envelope, d)
	}
	rs, err := r.stub.WaitForResponses(respID, 1, socketWait)
	if err != nil {
		t.Fatalf("/pool %s: %v", text, err)
	}
	// The order of the ack and the answer is not asserted: the ack is
	// queued to slack-go's writer before the job starts, and an answer from
	// the snapshot, with no call to make, can reach the stub over loopback
	// before the ack's frame does. (Slack's own response_url is a round
	// trip away; the socket is open.)
	t.Logf("/pool %s: acked in %v, answered in %v", text, a.Time.Sub(pushed), rs[0].Time.Sub(pushed))
	return a, rs[0]
}

func TestSocketModeEndToEnd(t *testing.T) {
	r := startSocketApp(t)
	const cmd = "standby linux-ci 3"
	if r.standby(t, "linux-ci") == 3 {
		t.Fatal("linux-ci starts with standby 3; the test would prove nothing")
	}
	updates0 := r.sim.Calls()["ado.elasticpools.update"]

	// An operator's command is acked at once, changes the pool and is
	// answered through response_url and audited with the user.
	_, resp := r.command(t, "env-standby", cmd, "UOPS", "r1")
	if resp.ResponseType != "in_channel" || !strings.Contains(resp.Text+string(resp.Blocks), "linux-ci") {
		t.Errorf("answer %s %q %s", resp.ResponseType, resp.Text, resp.Blocks)
	}
	if got := r.standby(t, "linux-ci"); got != 3 {
		t.Errorf("linux-ci standby %d in the simulator, want 3", got)
	}
	rows := r.audit(t, "linux-ci", cmd)
	if len(rows) != 1 || rows[0].Actor != "UOPS" || rows[0].Result != "ok" || rows[0].Source != "slack" ||
		rows[0].RequestID == "" || rows[0].Channel != "C0TEST" {
		t.Fatalf("audit of %q: %+v", cmd, rows)
	}

	// Slack resends the envelope (its ack was late, as far as Slack knows):
	// acked again, empty, and not run.
	err := r.stub.Push(slackstub.Envelope{EnvelopeID: "env-standby", Type: "slash_commands",
		Payload: slashCommand(cmd, "UOPS", r.stub.ResponseURL("r1"), "trig-env-standby"), AcceptsResponsePayload: true,
		RetryAttempt: 1, RetryReason: "timeout"})
	if err != nil {
		t.Fatal(err)
	}
	if a := r.ackOf(t, "env-standby", 2); len(a.Payload) != 0 {
		t.Errorf("redelivery acked with %s, want an empty ack", a.Payload)
	}
	r.idle(t)
	if n := len(r.stub.Responses("r1")); n != 1 {
		t.Errorf("redelivered command answered %d times", n)
	}
	if rows := r.audit(t, "linux-ci", cmd); len(rows) != 1 {
		t.Errorf("%d audit rows after the redelivery, want 1", len(rows))
	}
	if n := r.sim.Calls()["ado.elasticpools.update"] - updates0; n != 1 {
		t.Errorf("%d Azure DevOps updates, want 1", n)
	}

	// The connection breaks, as a dead network or Slack's own refresh
	// does; poolbot opens a new one and the next command works.
	breaks := []struct {
		name   string
		break_ func() error
	}{
		{"socket dropped", func() error { r.stub.DropSocket(); return nil }},
		{"disconnect requested", func() error { return r.stub.PushDisconnect("refresh_requested") }},
	}
	for i, b := range breaks {
		if err := b.break_(); err != nil {
			t.Fatal(err)
		}
		if err := r.stub.WaitForConnections(i+2, socketWait); err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
		env := "env-after-" + strings.ReplaceAll(b.name, " ", "-")
		_, resp := r.command(t, env, "status linux-ci", "UOPS", env)
		if !strings.Contains(resp.Text+string(resp.Blocks), "linux-ci") {
			t.Errorf("%s: status after reconnecting: %q", b.name, resp.Text)
		}
	}
	if n := r.app.w.socket.Connections(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}

	// A change of several pools asks for confirmation; the asker's press
	// arrives as an interactivity envelope and runs it.
	gpu := r.standby(t, "gpu-nightly")
	_, ask := r.command(t, "env-down", "down *-ci", "UOPS", "d1")
	id := confirmValue(t, ask.Blocks)
	cb := slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, TriggerID: "trig-press",
		User:        slack.User{ID: "UOPS", Name: "olga"},
		Channel:     slack.Channel{GroupConversation: slack.GroupConversation{Conversation: slack.Conversation{ID: "C0TEST"}}},
		ResponseURL: r.stub.ResponseURL("d2"),
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{
			{ActionID: "confirm", BlockID: "confirm-" + id, Value: id, Type: "button"}}}}
	if err := r.stub.PushInteractive("env-press", cb); err != nil {
		t.Fatal(err)
	}
	if a := r.ackOf(t, "env-press", 1); len(a.Payload) != 0 {
		t.Errorf("button press acked with %s, want an empty ack", a.Payload)
	}
	if _, err := r.stub.WaitForResponses("d2", 1, socketWait); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"linux-ci", "windows-ci"} {
		if got := r.standby(t, name); got != 0 {
			t.Errorf("%s standby %d after the confirmed down, want 0", name, got)
		}
		rows := r.audit(t, name, "down *-ci")
		ok := false
		for _, e := range rows {
			ok = ok || (e.Actor == "UOPS" && e.Result == "ok")
		}
		if !ok {
			t.Errorf("no audit of the confirmed down of %s by UOPS: %+v", name, rows)
		}
	}
	if got := r.standby(t, "gpu-nightly"); got != gpu {
		t.Errorf("down *-ci changed gpu-nightly's standby %d → %d", gpu, got)
	}
}

// confirmValue finds the confirm button's value (the pending request's id)
// in a reply's blocks.
func confirmValue(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var blocks slack.Blocks
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatalf("blocks %s: %v", raw, err)
	}
	for _, b := range blocks.BlockSet {
		ab, ok := b.(*slack.ActionBlock)
		if !ok || ab.Elements == nil {
			continue
		}
		for _, e := range ab.Elements.ElementSet {
			if btn, ok := e.(*slack.ButtonBlockElement); ok && btn.ActionID == "confirm" {
				if btn.Style != slack.StyleDanger || btn.Confirm == nil {
					t.Errorf("the confirm button of a scale-down is %q with confirm dialog %v", btn.Style, btn.Confirm != nil)
				}
				return btn.Value
			}
		}
	}
	t.Fatalf("no confirm button in %s", raw)
	return ""
}

// Each command is logged on one line, carrying its request id and, for a
// change, the pool before and after.
func TestOneLogLinePerCommand(t *testing.T) {
	r := startSocketApp(t)
	r.command(t, "env-1", "standby linux-ci 3", "UOPS", "l1")
	r.command(t, "env-2", "status linux-ci", "UOPS", "l2")
	r.command(t, "env-3", "standby linux-ci 5000", "UOPS", "l3") // refused: told, not run
	r.command(t, "env-4", "standby no-such-pool 1", "UOPS", "l4")

	// A command's line is written once its answer is sent: wait for the
	// last one's.
	var byID map[string][]map[string]any
	for deadline := time.Now().Add(socketWait); ; {
		byID = map[string][]map[string]any{}
		for _, line := range strings.Split(strings.TrimSpace(r.logs.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("a log line that is not JSON: %q", line)
			}
			if id, ok := rec["request_id"].(string); ok && id != "" {
				byID[id] = append(byID[id], rec)
			}
		}
		if len(byID) >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(byID) != 4 {
		t.Fatalf("%d request ids in the logs, want 4:\n%s", len(byID), r.logs.String())
	}
	texts := map[string]map[string]any{}
	for id, recs := range byID {
		if len(recs) != 1 {
			t.Errorf("request %s logged %d lines, want 1: %v", id, len(recs), recs)
			continue
		}
		if recs[0]["msg"] != "command" {
			t.Errorf("request %s logged %q, want the command line", id, recs[0]["msg"])
		}
		texts[recs[0]["text"].(string)] = recs[0]
	}
	ch, _ := texts["standby linux-ci 3"]["changes"].(map[string]any)
	first, _ := ch["0"].(map[string]any)
	if first["pool"] != "linux-ci" || !strings.Contains(fmt.Sprint(first["after"]), "standby=3") || first["result"] != "ok" {
		t.Errorf("the change's line lacks the change: %v", texts["standby linux-ci 3"])
	}
	if _, ok := texts["standby no-such-pool 1"]["err"]; !ok {
		t.Errorf("the failed command's line lacks its error: %v", texts["standby no-such-pool 1"])
	}
}
