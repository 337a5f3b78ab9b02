package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/bot"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/home"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
)

// homeConfig grants a viewer, an operator and an admin, schedules linux-ci
// and offers one template, so that every button and form
// of the Home tab has something to do.
const homeConfig = `
[[roles]]
name = "viewer"
users = ["UVIEW"]
[[roles]]
name = "operator"
users = ["UOPS"]
[[roles]]
name = "admin"
users = ["UADM"]

[[templates]]
name = "linux"
os = "linux"
sku = "Standard_D2s_v5"
image = "/subscriptions/` + sim.Subscription + `/resourceGroups/` + sim.ResourceGroup + `/providers/Microsoft.Compute/galleries/` + sim.Gallery + `/images/ubuntu22"
region = "` + sim.Region + `"
resource_group = "` + sim.ResourceGroup + `"
subnet_id = "/subscriptions/` + sim.Subscription + `/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/agents"
admin_user = "azureuser"
ssh_public_key = "ssh-ed25519 AAAA test"
standby = 1
max = 4
ttl = 30
service_endpoint_id = "11111111-1111-1111-1111-111111111111"
service_endpoint_scope = "22222222-2222-2222-2222-222222222222"

# The simulator starts on a Friday evening, where this leaves linux-ci as
# it is: nothing changes before the test does.
[[schedules]]
name = "office-hours"
pools = ["linux-ci"]
timezone = "Europe/Paris"
[[schedules.entries]]
cron = "45 7 * * 1-5"
standby = 3
[[schedules.entries]]
cron = "0 20 * * 1-5"
standby = 2
`

// homeRig is poolbot over HTTP or Socket Mode on a simulator whose clock
// stands still, with a Slack stub that sends the Home tab's events, presses
// and submissions as Slack does.
type homeRig struct {
	t    *testing.T
	mode string
	app  *App
	sim  *sim.Sim
	stub *slackstub.Stub
	base string // HTTP mode: the app's address
	n    int
}

const homeSecret = "test-signing-secret"

func startHomeRig(t *testing.T, mode string) *homeRig {
	t.Helper()
	s := sim.New(sim.Options{Seed: 1})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	stub := slackstub.New()
	t.Cleanup(stub.Close)
	stub.RequireTokens("xoxb-test", "xapp-test")
	var cfg *config.Config
	if mode == "socket" {
		cfg = socketConfig(t, t.TempDir(), srv.URL, stub.APIURL(), homeConfig)
	} else {
		cfg = writeConfig(t, t.TempDir(), srv.URL, stub.APIURL(), homeConfig)
	}
	var logs logBuffer
	log, _ := NewLogger(&logs, config.Log{}, "json")
	a, err := New(context.Background(), Options{Config: cfg, Logger: log, Clock: s, Owner: "test-home-" + mode})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		_ = a.w.home.Idle(context.Background())
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(socketWait):
			t.Error("Run did not return after its context ended")
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	r := &homeRig{t: t, mode: mode, app: a, sim: s, stub: stub}
	if mode == "socket" {
		if err := stub.WaitForConnections(1, socketWait); err != nil {
			t.Fatal(err)
		}
	} else {
		r.base = "http://" + a.Addr().String()
	}
	return r
}

func (r *homeRig) workers() *bot.Workers {
	if r.app.w.socket != nil {
		return r.app.w.socket.Workers()
	}
	return r.app.w.http.Workers()
}

func (r *homeRig) envelope() string {
	r.n++
	return fmt.Sprintf("env-%d", r.n)
}

// socketAck waits for envelope's first ack.
func (r *homeRig) socketAck(envelope string) slackstub.Ack {
	r.t.Helper()
	deadline := time.Now().Add(socketWait)
	for {
		for _, a := range r.stub.Acks() {
			if a.EnvelopeID == envelope {
				return a
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("envelope %s never acked", envelope)
		}
		_, _ = r.stub.WaitForAcks(len(r.stub.Acks())+1, 50*time.Millisecond)
	}
}

// open opens user's Home tab and returns the view published for it.
func (r *homeRig) open(user string) slackstub.View {
	r.t.Helper()
	before := len(r.stub.HomeViews(user))
	if r.mode == "socket" {
		env := r.envelope()
		if err := r.stub.PushHomeOpened(env, user); err != nil {
			r.t.Fatal(err)
		}
		if a := r.socketAck(env); len(a.Payload) != 0 {
			r.t.Errorf("app_home_opened acked with %s", a.Payload)
		}
	} else {
		_, status, err := r.stub.SendHomeOpened(r.base+"/slack/events", homeSecret, user)
		if err != nil || status != 200 {
			r.t.Fatalf("app_home_opened: %d %v", status, err)
		}
	}
	return r.home(user, before+1)
}

// home waits for user's n-th Home tab publish and returns it.
func (r *homeRig) home(user string, n int) slackstub.View {
	r.t.Helper()
	hs, err := r.stub.WaitForHome(user, n, socketWait)
	if err != nil {
		r.t.Fatal(err)
	}
	return hs[n-1]
}

// interact sends an interaction payload and returns the acknowledgement's
// body (a view submission's errors, or empty).
func (r *homeRig) interact(cb slack.InteractionCallback) []byte {
	r.t.Helper()
	if r.mode == "socket" {
		env := r.envelope()
		if err := r.stub.PushInteractive(env, cb); err != nil {
			r.t.Fatal(err)
		}
		p := r.socketAck(env).Payload
		if string(p) == "null" {
			return nil
		}
		return p
	}
	status, body, err := slackstub.PostInteraction(r.base+"/slack/interactivity", homeSecret, cb)
	if err != nil || status != 200 {
		r.t.Fatalf("interaction: %d %v %s", status, err, body)
	}
	return body
}

// press presses a button on user's Home tab.
func (r *homeRig) press(user, action, value string) {
	r.t.Helper()
	cb, err := r.stub.HomePress(slack.User{ID: user, Name: "olga"}, action, value)
	if err != nil {
		r.t.Fatal(err)
	}
	if b := r.interact(cb); len(b) != 0 {
		r.t.Errorf("press acked with %s", b)
	}
}

// form waits for the n-th modal opened and checks its form.
func (r *homeRig) form(n int, callback string) slackstub.View {
	r.t.Helper()
	ms, err := r.stub.WaitForModals(n, socketWait)
	if err != nil {
		r.t.Fatal(err)
	}
	if ms[n-1].CallbackID != callback {
		r.t.Fatalf("modal %d is %s, want %s", n, ms[n-1].CallbackID, callback)
	}
	return ms[n-1]
}

// submit submits a modal and returns the errors the app answered with.
func (r *homeRig) submit(user string, v slackstub.View, values map[string]string) map[string]string {
	r.t.Helper()
	cb, err := r.stub.Submission(slack.User{ID: user, Name: "olga"}, v.ID, values)
	if err != nil {
		r.t.Fatal(err)
	}
	b := r.interact(cb)
	if len(b) == 0 {
		return nil
	}
	var resp slack.ViewSubmissionResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		r.t.Fatalf("submission answered %s: %v", b, err)
	}
	if resp.ResponseAction != slack.RAErrors {
		r.t.Fatalf("submission answered %s", b)
	}
	return resp.Errors
}

// slash types /pool text as user and returns the response_url's id.
func (r *homeRig) slash(user, text string) string {
	r.t.Helper()
	env := r.envelope()
	cmd := slashCommand(text, user, r.stub.ResponseURL(env), r.stub.Trigger(user))
	if r.mode == "socket" {
		if err := r.stub.PushSlashCommand(env, cmd); err != nil {
			r.t.Fatal(err)
		}
		r.socketAck(env)
		return env
	}
	form := url.Values{"command": {"/pool"}, "text": {text}, "user_id": {user}, "user_name": {cmd.UserName},
		"channel_id": {cmd.ChannelID}, "team_id": {"T0STUB"}, "response_url": {cmd.ResponseURL},
		"trigger_id": {cmd.TriggerID}}
	status, body, err := slackstub.PostSigned(r.base+"/slack/commands", homeSecret, "application/x-www-form-urlencoded",
		[]byte(form.Encode()))
	if err != nil || status != 200 {
		r.t.Fatalf("/pool %s: %d %v %s", text, status, err, body)
	}
	return env
}

// waitAudit waits for an audit row of command with result.
func (r *homeRig) waitAudit(command, result string) pool.AuditEntry {
	r.t.Helper()
	deadline := time.Now().Add(socketWait)
	for {
		rows, err := r.app.Store().Audit(context.Background(), pool.AuditQuery{Limit: 200})
		if err != nil {
			r.t.Fatal(err)
		}
		for _, e := range rows {
			if e.Command == command && e.Result == result {
				return e
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no audit row %q %s in %+v", command, result, rows)
		}
		time.Sleep(5 * time.Millisecond) // a real hand-off to the workers, bounded above
	}
}

// dm waits for a message to user (their messages with poolbot), or in a
// channel, that mentions what and returns the latest such.
func (r *homeRig) dm(user, what string) slackstub.Message {
	r.t.Helper()
	deadline := time.Now().Add(socketWait)
	for {
		ms := r.stub.Messages()
		for i := len(ms) - 1; i >= 0; i-- {
			if ms[i].Channel == user && strings.Contains(ms[i].Text, what) {
				return ms[i]
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no message to %s about %s", user, what)
		}
		_, _ = r.stub.WaitForMessages(len(ms)+1, 50*time.Millisecond)
	}
}

// idle waits until the workers have nothing running or queued, so that
// a command that should not have run would have by now.
func (r *homeRig) idle() {
	r.t.Helper()
	w := r.workers()
	deadline := time.Now().Add(socketWait)
	for quiet := 0; quiet < 2; {
		if w.Busy() == 0 && w.Queued() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("workers still busy: %d running, %d queued", w.Busy(), w.Queued())
		}
		time.Sleep(time.Millisecond) // a real hand-off between goroutines, bounded above
	}
}

func (r *homeRig) standby(name string) int {
	r.t.Helper()
	s, err := r.sim.Settings(name)
	if err != nil {
		r.t.Fatal(err)
	}
	return *s.Standby
}

// buttons lists a view's buttons as "action_id value".
func buttons(t *testing.T, v slackstub.View) []string {
	t.Helper()
	bs, err := v.Blocks()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bs.BlockSet {
		if ab, ok := b.(*slack.ActionBlock); ok && ab.Elements != nil {
			for _, e := range ab.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					out = append(out, btn.ActionID+" "+btn.Value)
				}
			}
		}
	}
	return out
}

// sectionOf returns the text and fields of the section of pool name.
func sectionOf(t *testing.T, v slackstub.View, name string) string {
	t.Helper()
	bs, err := v.Blocks()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs.BlockSet {
		if s, ok := b.(*slack.SectionBlock); ok && s.BlockID == "pool."+name {
			text := s.Text.Text
			for _, f := range s.Fields {
				text += "\n" + f.Text
			}
			return text
		}
	}
	t.Fatalf("no section for %s in %s", name, v.JSON)
	return ""
}

func TestHomeTab(t *testing.T) {
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) {
			r := startHomeRig(t, mode)

			// A viewer sees every pool with its figures, and no button.
			v := r.open("UVIEW")
			for _, p := range []string{"linux-ci", "windows-ci", "gpu-nightly"} {
				s := sectionOf(t, v, p)
				for _, want := range []string{"Agents", "Standby / max", "Today", "Cost, 14 days", "Next scheduled change", "Alerts"} {
					if !strings.Contains(s, want) {
						t.Errorf("viewer's %s section lacks %s: %s", p, want, s)
					}
				}
			}
			if bs := buttons(t, v); len(bs) != 0 {
				t.Errorf("a viewer's Home tab has buttons: %v", bs)
			}
			if !strings.Contains(string(v.JSON), "Open linux-ci in Azure DevOps") {
				t.Errorf("a viewer's Home tab does not link linux-ci to Azure DevOps")
			}

			// An operator sees buttons for every pool, and no create.
			v = r.open("UOPS")
			bs := buttons(t, v)
			for _, want := range []string{home.ActUp + " linux-ci", home.ActDown + " linux-ci", home.ActStandby + " linux-ci",
				home.ActMute + " linux-ci", home.ActHold + " linux-ci", home.ActSkip + " linux-ci", home.ActOpen + " linux-ci",
				home.ActDown + " gpu-nightly"} {
				if !slices.Contains(bs, want) {
					t.Errorf("operator's Home tab lacks %s: %v", want, bs)
				}
			}
			if slices.Contains(bs, home.ActCreate+" ") || slices.Contains(bs, home.ActHold+" gpu-nightly") {
				t.Errorf("operator's Home tab offers create, or a hold on an unscheduled pool: %v", bs)
			}
			if !strings.Contains(sectionOf(t, v, "linux-ci"), "2 / 10") {
				t.Fatalf("linux-ci does not start at standby 2, max 10: %s", sectionOf(t, v, "linux-ci"))
			}

			// Pressing Down scales linux-ci down, answers in the operator's
			// messages with poolbot, and refreshes their tab.
			n := len(r.stub.HomeViews("UOPS"))
			r.press("UOPS", home.ActDown, "linux-ci")
			row := r.waitAudit("down linux-ci", "ok")
			if row.Actor != "UOPS" || row.Source != "home" {
				t.Errorf("audit of the press: %+v", row)
			}
			if got := r.standby("linux-ci"); got != 0 {
				t.Errorf("linux-ci standby %d after Down, want 0", got)
			}
			v = r.home("UOPS", n+1)
			if s := sectionOf(t, v, "linux-ci"); !strings.Contains(s, "0 / 10") {
				t.Errorf("the refreshed tab shows %s", s)
			}
			// The channel hears of it, as of a change typed there.
			if m := r.dm("C0TEST", "linux-ci standby 2 → 0"); !strings.Contains(m.Text, "<@UOPS> set linux-ci standby 2 → 0") {
				t.Errorf("the press was announced with %q", m.Text)
			}

			// A typed change refreshes the tab too.
			n = len(r.stub.HomeViews("UOPS"))
			r.slash("UOPS", "standby linux-ci 1")
			r.waitAudit("standby linux-ci 1", "ok")
			if s := sectionOf(t, r.home("UOPS", n+1), "linux-ci"); !strings.Contains(s, "1 / 10") {
				t.Errorf("the tab after a typed change shows %s", s)
			}

			// An admin's `/pool create` without arguments opens the form; a
			// bad name is refused beside the field and creates nothing.
			r.slash("UADM", "create")
			f := r.form(1, home.FormCreate)
			errs := r.submit("UADM", f, map[string]string{home.InTemplate: "linux", home.InName: "bad name!"})
			if !strings.Contains(errs[home.InName], "cannot name a pool") || len(errs) != 1 {
				t.Errorf("a bad name was answered with %v", errs)
			}
			errs = r.submit("UADM", f, map[string]string{home.InTemplate: "linux", home.InName: "windows-ci"})
			if !strings.Contains(errs[home.InName], "already exists") {
				t.Errorf("an existing name was answered with %v", errs)
			}
			errs = r.submit("UADM", f, map[string]string{home.InTemplate: "linux", home.InName: "linux-new",
				home.InStandby: "5", home.InMax: "3"})
			if !strings.Contains(errs[home.InStandby], "more than max") {
				t.Errorf("standby over max was answered with %v", errs)
			}
			r.idle()
			if _, err := r.sim.Settings("linux-new"); err == nil {
				t.Error("a refused form created linux-new")
			}
			rows, _ := r.app.Store().Audit(context.Background(), pool.AuditQuery{Limit: 200})
			for _, e := range rows {
				if strings.HasPrefix(e.Command, "create") {
					t.Errorf("a refused form was audited: %+v", e)
				}
			}
		})
	}
}

// confirmIn finds the confirm button's value in Block Kit JSON.
func confirmIn(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var blocks slack.Blocks
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatalf("blocks %s: %v", raw, err)
	}
	for _, b := range blocks.BlockSet {
		if ab, ok := b.(*slack.ActionBlock); ok && ab.Elements != nil {
			for _, e := range ab.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok && btn.ActionID == "confirm" {
					return btn.Value
				}
			}
		}
	}
	t.Fatalf("no confirm button in %s", raw)
	return ""
}

// radioValue is the first option of a form's radio buttons.
func radioValue(t *testing.T, v slackstub.View, block string) string {
	t.Helper()
	bs, err := v.Blocks()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs.BlockSet {
		if in, ok := b.(*slack.InputBlock); ok && in.BlockID == block {
			if rb, ok := in.Element.(*slack.RadioButtonsBlockElement); ok && len(rb.Options) > 0 {
				return rb.Options[0].Value
			}
		}
	}
	t.Fatalf("no radio buttons %s in %s", block, v.JSON)
	return ""
}

// confirm presses the confirm button of a message (from its response_url
// or the user's messages with poolbot).
func (r *homeRig) confirm(user, id string) {
	r.t.Helper()
	cb := slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, TriggerID: r.stub.Trigger(user),
		User:        slack.User{ID: user, Name: "olga"},
		Container:   slack.Container{Type: "message", MessageTs: "1.000001"},
		ResponseURL: r.stub.ResponseURL("confirm-" + id),
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{
			{ActionID: "confirm", BlockID: "confirm-" + id, Value: id, Type: "button"}}}}
	if b := r.interact(cb); len(b) != 0 {
		r.t.Errorf("confirm acked with %s", b)
	}
}

// Everything the Home tab and its forms do can be typed, and the audit
// trail is the same either way: the same script, run by buttons and forms
// on one poolbot and typed on another, leaves the same rows but for where
// they came from.
func TestHomeAndTypedAuditAlike(t *testing.T) {
	type step struct {
		user, typed string
		home        func(r *homeRig) // the same through the Home tab
	}
	modals := 0
	form := func(user, action, pool, callback string, values func(v slackstub.View) map[string]string) func(r *homeRig) {
		return func(r *homeRig) {
			r.press(user, action, pool)
			modals++
			v := r.form(modals, callback)
			if errs := r.submit(user, v, values(v)); len(errs) != 0 {
				t.Fatalf("%s form refused: %v", callback, errs)
			}
		}
	}
	fixed := func(m map[string]string) func(slackstub.View) map[string]string {
		return func(slackstub.View) map[string]string { return m }
	}
	steps := []step{
		{"UOPS", "down linux-ci", func(r *homeRig) { r.press("UOPS", home.ActDown, "linux-ci") }},
		{"UOPS", "up linux-ci", func(r *homeRig) { r.press("UOPS", home.ActUp, "linux-ci") }},
		{"UOPS", "standby linux-ci 4", form("UOPS", home.ActStandby, "linux-ci", home.FormStandby,
			fixed(map[string]string{home.InStandby: "4"}))},
		{"UOPS", "mute linux-ci failed-nodes for=2h", form("UOPS", home.ActMute, "linux-ci", home.FormMute,
			fixed(map[string]string{home.InFor: "2h", home.InCondition: "failed-nodes"}))},
		{"UOPS", "up linux-ci until=11:30 standby=1", form("UOPS", home.ActHold, "linux-ci", home.FormHold,
			fixed(map[string]string{home.InUntil: "11:30", home.InStandby: "1"}))},
		{"UOPS", "skip linux-ci next", form("UOPS", home.ActSkip, "linux-ci", home.FormSkip,
			func(v slackstub.View) map[string]string {
				return map[string]string{home.InEntry: radioValue(t, v, home.InEntry)}
			})},
	}
	const create = "create linux-new template=linux max=3"
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) {
			modals = 0
			viaHome, typed := startHomeRig(t, mode), startHomeRig(t, mode)
			viaHome.t, typed.t = t, t
			viaHome.open("UOPS")
			viaHome.open("UADM")
			for _, s := range steps {
				s.home(viaHome)
				viaHome.waitAudit(s.typed, "ok")
				typed.slash(s.user, s.typed)
				typed.waitAudit(s.typed, "ok")
			}
			// Create: the form, then the confirmation in the admin's
			// messages with poolbot; typed, then the confirmation in its
			// answer.
			form("UADM", home.ActCreate, "", home.FormCreate,
				fixed(map[string]string{home.InTemplate: "linux", home.InName: "linux-new", home.InMax: "3"}))(viaHome)
			viaHome.confirm("UADM", confirmIn(t, viaHome.dm("UADM", "Create pool linux-new").Blocks))
			viaHome.waitAudit(create, "ok")
			id := typed.slash("UADM", create)
			rs, err := typed.stub.WaitForResponses(id, 1, socketWait)
			if err != nil {
				t.Fatal(err)
			}
			typed.confirm("UADM", confirmIn(t, rs[0].Blocks))
			typed.waitAudit(create, "ok")

			rows := func(r *homeRig, source string) []string {
				es, err := r.app.Store().Audit(context.Background(), pool.AuditQuery{Limit: 200})
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, e := range slices.Backward(es) {
					if e.Actor == "scheduler" || e.Actor == "watcher" {
						continue
					}
					// The confirmation is pressed on a message, in Slack
					// either way.
					if e.Source != source && !(e.Command == create && e.Result == "ok" && e.Source == "slack") {
						t.Errorf("%s row from %q: %+v", source, e.Source, e)
					}
					out = append(out, fmt.Sprintf("%s %s | %s | %s | %s → %s | %s", e.Actor, e.ActorName, e.Command, e.Pool,
						e.Before, e.After, e.Result))
				}
				return out
			}
			h, ty := rows(viaHome, "home"), rows(typed, "slack")
			if strings.Join(h, "\n") != strings.Join(ty, "\n") {
				t.Errorf("audit through the Home tab:\n%s\ntyped:\n%s", strings.Join(h, "\n"), strings.Join(ty, "\n"))
			}
			// One row a step, and one for the confirmed create.
			if len(h) != len(steps)+1 {
				t.Errorf("%d audit rows, want %d:\n%s", len(h), len(steps)+1, strings.Join(h, "\n"))
			}
			if _, err := viaHome.sim.Settings("linux-new"); err != nil {
				t.Errorf("the create form's pool: %v", err)
			}
		})
	}
}
