package commands

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
)

// buttons returns the action ids, values and styles of a reply's buttons,
// and whether the confirm button has a confirm dialog.
func buttons(t *testing.T, r Reply) (ids, values []string, style slack.Style, dialog bool) {
	t.Helper()
	for _, b := range r.Blocks {
		ab, ok := b.(*slack.ActionBlock)
		if !ok {
			continue
		}
		for _, el := range ab.Elements.ElementSet {
			btn, ok := el.(*slack.ButtonBlockElement)
			if !ok {
				continue
			}
			ids = append(ids, btn.ActionID)
			values = append(values, btn.Value)
			if btn.ActionID == "confirm" {
				style = btn.Style
				dialog = btn.Confirm != nil
			}
		}
	}
	return
}

func confirmID(t *testing.T, r Reply) string {
	t.Helper()
	ids, values, _, _ := buttons(t, r)
	for i, id := range ids {
		if id == "confirm" {
			return values[i]
		}
	}
	t.Fatalf("no confirm button in %q", r.Text)
	return ""
}

func press(user, actionID, value string) Request {
	r := req(user, "")
	r.Action = &Action{ActionID: actionID, Value: value}
	return r
}

func TestImageConfirmProgressRollback(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	rec := s.run(req("U-admin", "image linux-ci latest reimage=idle"))
	ask := rec.last()
	if ask.InChannel {
		t.Errorf("the confirmation is in the channel")
	}
	ids, _, style, dialog := buttons(t, ask)
	if strings.Join(ids, ",") != "confirm,cancel" || style != slack.StyleDanger || !dialog {
		t.Fatalf("buttons %v style %q dialog %t; want confirm (danger, with a dialog) and cancel", ids, style, dialog)
	}
	if !strings.Contains(ask.Text, "ubuntu22/versions/1.1.0 → ubuntu22") {
		t.Errorf("confirmation %q does not show current → new", ask.Text)
	}
	id := confirmID(t, ask)
	raw, err := s.store.Get(ctx, "confirm/"+id)
	if err != nil {
		t.Fatalf("pending confirmation not saved: %v", err)
	}
	var p pending
	if err := json.Unmarshal([]byte(raw), &p); err != nil || p.Requester != "U-admin" ||
		p.Command != "image linux-ci latest reimage=idle" || !p.Expires.Equal(s.clk.Now().Add(15*time.Minute)) {
		t.Errorf("saved confirmation %s (%v)", raw, err)
	}
	// Nothing changed yet.
	if img := s.image("linux-ci"); img.Short() != "ubuntu22/versions/1.1.0" {
		t.Fatalf("image %s before confirmation", img.Short())
	}
	idle := len(idleNodes(s.nodes("linux-ci")))

	rec = s.run(press("U-admin", "confirm", id))
	for i, r := range rec.all {
		if !r.ReplaceOriginal || r.InChannel {
			t.Errorf("reply %d %q: replace %t, in channel %t; want an edit of the confirmation", i, r.Text, r.ReplaceOriginal, r.InChannel)
		}
	}
	final := rec.last()
	if !strings.Contains(final.Text, "changed the image of linux-ci: ubuntu22/versions/1.1.0 → ubuntu22/versions/1.2.0") {
		t.Errorf("final reply %q", rec.texts())
	}
	if idle > 0 && !strings.Contains(final.Text, "reimaging") {
		t.Errorf("final reply %q does not report reimaging %d idle agents", final.Text, idle)
	}
	if len(rec.all) != 2 {
		t.Errorf("%d replies, want progress then the result", len(rec.all))
	}
	// The channel sees one message, posted then updated in place, which a
	// restart could finish.
	msgs, err := s.store.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var swap []pool.OutboxMessage
	for _, m := range msgs {
		if strings.HasPrefix(m.Key, "image/") {
			swap = append(swap, m)
		}
	}
	if len(swap) < 2 || swap[0].Op != "post" || swap[0].Channel != "C-x" || swap[len(swap)-1].Op != "update" ||
		!strings.Contains(swap[len(swap)-1].Text, "changed the image of *linux-ci*: `ubuntu22/versions/1.1.0` → `ubuntu22/versions/1.2.0`") {
		t.Errorf("channel messages %+v; want the swap posted, then updated to its result", swap)
	}
	if img := s.image("linux-ci"); img.Short() != "ubuntu22/versions/1.2.0" {
		t.Errorf("image %s after confirmation", img.Short())
	}
	es := s.audit("linux-ci")
	if idle > 0 && (len(es) != 2 || es[1].After != s.image("linux-ci").String() || es[0].Result != "ok") {
		t.Errorf("audit %+v; want the image change and the reimage, no pending row", es)
	}

	// A second press does nothing.
	rec = s.run(press("U-admin", "confirm", id))
	if !strings.Contains(rec.last().Text, "already confirmed") {
		t.Errorf("second press: %q", rec.last().Text)
	}

	// Rollback goes back to the image before.
	id = confirmID(t, s.run(req("U-admin", "image linux-ci rollback")).last())
	s.run(press("U-admin", "confirm", id))
	if img := s.image("linux-ci"); img.Short() != "ubuntu22/versions/1.1.0" {
		t.Errorf("image %s after rollback", img.Short())
	}
}

func (s *stack) image(name string) pool.Image {
	s.t.Helper()
	p, err := s.svc.Get(context.Background(), name)
	if err != nil {
		s.t.Fatal(err)
	}
	return p.ScaleSet.Image
}

func TestConfirmWho(t *testing.T) {
	s := newMemStack(t)
	ask := s.run(req("U-operator", "down *-ci")).last()
	if !strings.Contains(ask.Text, "Scale down 2 pools matching *-ci") || !strings.Contains(ask.Text, "linux-ci: standby 2 → 0") ||
		!strings.Contains(ask.Text, "windows-ci: standby 1 → 0") || strings.Contains(ask.Text, "gpu") {
		t.Fatalf("confirmation %q does not list the matched pools", ask.Text)
	}
	id := confirmID(t, ask)
	if s.settings("linux-ci").Standby != 2 {
		t.Fatal("a glob changed a pool before confirmation")
	}
	// Another operator may not confirm; a viewer may not either.
	for _, u := range []string{"U-operator2", "U-viewer"} {
		rep := s.run(press(u, "confirm", id)).last()
		if !strings.Contains(rep.Text, "Sorry") {
			t.Errorf("%s confirmed: %q", u, rep.Text)
		}
	}
	if s.settings("linux-ci").Standby != 2 {
		t.Fatal("a refused press changed a pool")
	}
	denials := 0
	for _, e := range s.audit("") {
		if e.Result == "denied" {
			denials++
		}
	}
	if denials != 2 {
		t.Errorf("%d denials audited, want 2", denials)
	}
	// An admin may.
	rec := s.run(press("U-admin", "confirm", id))
	if s.settings("linux-ci").Standby != 0 || s.settings("windows-ci").Standby != 0 || s.settings("gpu-nightly").Max != 2 {
		t.Errorf("after confirmation: linux %d windows %d", s.settings("linux-ci").Standby, s.settings("windows-ci").Standby)
	}
	if rec.all[0].InChannel || !rec.all[0].ReplaceOriginal || !rec.last().InChannel {
		t.Errorf("replies %+v: want the confirmation closed, then the change in the channel", rec.all)
	}
	for _, name := range []string{"linux-ci", "windows-ci"} {
		es := s.audit(name)
		// One row: the asker's change, naming who confirmed it.
		if len(es) == 0 || es[0].Actor != "U-operator" || es[0].ActorName != "operator" || es[0].Result != "ok" ||
			es[0].Command != "down *-ci (confirmed by admin)" || es[0].RequestID != "r-U-admin" {
			t.Errorf("audit of %s: %+v", name, es)
		}
	}
}

func TestConfirmCancelAndExpiry(t *testing.T) {
	s := newMemStack(t)
	id := confirmID(t, s.run(req("U-operator", "standby *-ci 5")).last())
	rep := s.run(press("U-operator2", "cancel", id)).last()
	if !strings.Contains(rep.Text, "Sorry") {
		t.Errorf("another operator cancelled: %q", rep.Text)
	}
	rep = s.run(press("U-operator", "cancel", id)).last()
	if !strings.Contains(rep.Text, "Cancelled") || !rep.ReplaceOriginal {
		t.Errorf("cancel: %+v", rep)
	}
	rep = s.run(press("U-operator", "confirm", id)).last()
	if !strings.Contains(rep.Text, "already confirmed or cancelled") || s.settings("linux-ci").Standby != 2 {
		t.Errorf("confirm after cancel: %q, standby %d", rep.Text, s.settings("linux-ci").Standby)
	}
	if es := s.audit(""); len(es) == 0 || es[0].Result != "cancelled" {
		t.Errorf("audit %+v, want a cancellation", es)
	}

	id = confirmID(t, s.run(req("U-operator", "standby *-ci 5")).last())
	s.clk.Advance(16 * time.Minute)
	rep = s.run(press("U-operator", "confirm", id)).last()
	if !strings.Contains(rep.Text, "expired") || s.settings("linux-ci").Standby != 2 {
		t.Errorf("late confirm: %q, standby %d", rep.Text, s.settings("linux-ci").Standby)
	}
	rep = s.run(press("U-operator", "confirm", "no-such-id")).last()
	if !strings.Contains(rep.Text, "unknown") {
		t.Errorf("unknown confirmation: %q", rep.Text)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"stauts linux-ci", []string{"Did you mean /pool status?"}},
		{"status linux-cj", []string{"Did you mean linux-ci?"}},
		{"standby linux-ci two", []string{`standby must be a whole number from 0 to 1000, not "two"`, "Usage: /pool standby <pool> <N>"}},
		{"standby linux-ci -1", []string{`standby must be a whole number from 0 to 1000, not "-1"`}},
		{"standby linux-ci 99999999999999999999999", []string{`standby must be a whole number from 0 to 1000, not "99999999999999999999999"`}},
		{"ttl linux-ci 100001", []string{`ttl must be a whole number from 0 to 100000, not "100001"`}},
		{"max linux-ci 1001", []string{`max must be a whole number from 1 to 1000, not "1001"`}},
		{"status linux-ci windows-ci", []string{`status takes 1 argument; "windows-ci" is one too many`}},
		{"history linux-ci windows-ci", []string{`history takes at most 1 argument; "windows-ci" is one too many`}},
		{"mute linux-ci failed-nodes x for=1h", []string{`mute takes at most 2 arguments; "x" is one too many`}},
		{"up linux-ci for=0m", []string{`for must be a duration from 1m to 30d, like 90m, 3h or 2d, not "0m"`}},
		{"up linux-ci for=99999999999h", []string{`for must be a duration from 1m to 30d`}},
		{"up linux-ci until=25:00", []string{`until must be a time of day from 00:00 to 23:59`}},
		{"standby linux-ci 20", []string{"standby (20) cannot be more than max (10)", "nothing was changed"}},
		{"standby linux-ci", []string{"standby takes 2 arguments, not 1", "Usage"}},
		{"up linux-ci standbye=3", []string{"takes no option standbye (did you mean standby=?)"}},
		{"up linux-ci for=3h until=18:00", []string{"not both"}},
		{"up linux-ci for=soon", []string{`for must be a duration from 1m to 30d, like 90m, 3h or 2d, not "soon"`}},
		{"max linux-* 0", []string{`max must be a whole number from 1 to 1000, not "0"`}},
		{"status linux-*", []string{"one pool at a time"}},
		{"down nothing-*", []string{"No pool matches"}},
		{"mute linux-ci", []string{"say for how long"}},
		{"node reboot linux-ci 1", []string{"reimage or delete"}},
		{"node reimage linux-ci 99999", []string{`has no node "99999"`}},
		{"node reimage linux-ci nonesuch", []string{`has no node "nonesuch"`}},
		{"mute linux-ci bogus-cond for=1h", []string{`"bogus-cond" is not a condition; the conditions are pool-state, failed-nodes`}},
		{"mute linux-ci faild-nodes for=1h", []string{`did you mean failed-nodes?`}},
		{"image linux-ci ubuntu", []string{"neither a resource id nor a marketplace URN"}},
		{"image linux-ci latest reimage=all", []string{"only reimage=idle"}},
		{"skip linux-ci tomorrow", []string{"write next"}},
		{"create linux-ci", []string{"already exists"}},
		{"create bad/name", []string{"cannot name a pool"}},
		{"create new-pool template=linx", []string{"did you mean linux"}},
		{"help frobnicate", []string{"no command"}},
		{"list x=", []string{"has no value"}},
	}
	s := newStack(t)
	before := s.settings("linux-ci")
	for _, tt := range tests {
		rep := s.run(req("U-admin", tt.text)).last()
		for _, w := range tt.want {
			if !strings.Contains(plainOf(rep), w) {
				t.Errorf("%q: reply %q, want %q", tt.text, rep.Text, w)
			}
		}
		if rep.InChannel {
			t.Errorf("%q: an error went to the channel", tt.text)
		}
	}
	if after := s.settings("linux-ci"); after.Standby != before.Standby || after.Max != before.Max {
		t.Errorf("bad input changed linux-ci: %+v → %+v", before, after)
	}
	if es := s.audit(""); len(es) != 0 {
		t.Errorf("bad input wrote audit records: %+v", es)
	}
	if s.settings("windows-ci").Max != 6 {
		t.Errorf("max linux-* 0 changed windows-ci")
	}
}

func TestHelpShowsWhatCallerMayRun(t *testing.T) {
	s := newMemStack(t)
	tests := []struct {
		user      string
		has, lack []string
	}{
		{"U-viewer", []string{"/pool list", "/pool status", "/pool history", "/pool schedule", "/pool help"}, []string{"/pool down", "/pool image", "/pool create"}},
		{"U-operator", []string{"/pool down", "/pool up", "/pool mute", "/pool node", "/pool skip"}, []string{"/pool image", "/pool create"}},
		{"U-admin", []string{"/pool image", "/pool create", "/pool down"}, nil},
	}
	for _, tt := range tests {
		text := s.run(req(tt.user, "help")).last().Text
		for _, h := range tt.has {
			if !strings.Contains(text, h) {
				t.Errorf("help for %s lacks %s:\n%s", tt.user, h, text)
			}
		}
		for _, l := range tt.lack {
			if strings.Contains(text, l) {
				t.Errorf("help for %s shows %s", tt.user, l)
			}
		}
	}
	if rep := s.run(req("U-viewer", "help down")).last(); !strings.Contains(rep.Text, "you need role operator for down") {
		t.Errorf("help down for a viewer: %q", rep.Text)
	}
	if rep := s.run(req("U-operator", "help up")).last(); !strings.Contains(plainOf(rep), "/pool up <pool>") || !strings.Contains(rep.Text, "Needs role operator") {
		t.Errorf("help up: %q", rep.Text)
	}
	if rep := s.run(req("U-viewer", "lsit")).last(); !strings.Contains(rep.Text, "Did you mean /pool list") {
		t.Errorf("lsit: %q", rep.Text)
	}
	// A misspelling is not answered with a command the caller may not run.
	if rep := s.run(req("U-viewer", "dwn linux-ci")).last(); strings.Contains(rep.Text, "down") {
		t.Errorf("dwn for a viewer suggests down: %q", rep.Text)
	}
}

func TestPoolLimitedGrant(t *testing.T) {
	s := newMemStack(t)
	r := req("U-linux", "down windows-ci")
	r.Groups = []string{"S-linux"}
	// windows-ci is not theirs to see: it is answered as if it did not exist.
	if rep := s.run(r).last(); !strings.Contains(plainOf(rep), `No pool named "windows-ci" that you may see`) {
		t.Errorf("down windows-ci: %q", rep.Text)
	}
	r.Text = "down linux-ci"
	if rep := s.run(r).last(); !rep.InChannel || s.settings("linux-ci").Standby != 0 {
		t.Errorf("down linux-ci: %q", rep.Text)
	}
	// A glob reaching beyond the grant is denied as a whole, without
	// naming the pools beyond it.
	r.Text = "standby *-ci 1"
	if rep := s.run(r).last(); !strings.Contains(rep.Text, "you need role operator for standby on every pool *-ci matches") ||
		strings.Contains(rep.Text, "windows") {
		t.Errorf("standby *-ci: %q", rep.Text)
	}
	// From the ops channel everyone is a viewer: list shows every pool.
	v := req("U-x", "list")
	v.ChannelID = "C-ops"
	rep := s.run(v).last()
	for _, name := range []string{"linux-ci", "windows-ci", "gpu-nightly"} {
		if !strings.Contains(rep.Text, name) {
			t.Errorf("list from C-ops lacks %s: %q", name, rep.Text)
		}
	}
}

func TestListAndStatus(t *testing.T) {
	s := newStack(t)
	rep := s.run(req("U-viewer", "list")).last()
	if rep.InChannel {
		t.Errorf("list went to the channel")
	}
	sections := 0
	for _, b := range rep.Blocks {
		if _, ok := b.(*slack.SectionBlock); ok {
			sections++
		}
	}
	if sections != 4 { // a title and a section per pool
		t.Errorf("list has %d sections, want 4", sections)
	}
	lines := strings.Split(rep.Text, "\n")
	if len(lines) != 3 {
		t.Fatalf("list text %q, want a line per pool", rep.Text)
	}
	var linux string
	for _, l := range lines {
		if strings.HasPrefix(l, "linux-ci:") {
			linux = l
		}
	}
	for _, w := range []string{"online", "idle", "busy", "offline", "failed", "standby 2, max 10", "today ≈ 12.50 USD", "next 19:00 CET → standby=0"} {
		if !strings.Contains(linux, w) {
			t.Errorf("list line %q lacks %q", linux, w)
		}
	}
	if rep := s.run(req("U-viewer", "list win*")).last(); strings.Contains(rep.Text, "linux") || !strings.Contains(rep.Text, "windows-ci") {
		t.Errorf("list win*: %q", rep.Text)
	}

	s.run(req("U-operator", "standby linux-ci 3"))
	s.run(req("U-operator", "up linux-ci for=2h"))
	s.clk.Advance(10 * time.Minute)
	rep = s.run(req("U-viewer", "status linux-ci")).last()
	for _, w := range []string{"standby 3, max 10", "scale set linux-ci", "Standard_D4s_v5", "ubuntu22/versions/1.1.0", "nodes:",
		"jobs waiting", "last changes:", "standby 3", "up linux-ci for=2h", "next:"} {
		if !strings.Contains(rep.Text, w) {
			t.Errorf("status lacks %q:\n%s", w, rep.Text)
		}
	}
	if h, ok := s.sched.hold("linux-ci"); !ok || !h.until.Equal(s.clk.Now().Add(-10*time.Minute).Add(2*time.Hour)) || h.by != "U-operator" {
		t.Errorf("hold %+v", h)
	}
}

func TestStatusShowsErrorsAndBusyPool(t *testing.T) {
	s := newStack(t)
	// gpu-nightly's extension fails; give it standby so it tries.
	s.run(req("U-operator", "standby gpu-nightly 1"))
	s.clk.Advance(30 * time.Minute)
	rep := s.run(req("U-viewer", "status gpu-nightly")).last()
	if !strings.Contains(rep.Text, "recent errors") {
		t.Errorf("status of a failing pool shows no errors:\n%s", rep.Text)
	}
	// A pool held by another change says who holds it.
	unlock, err := s.ch.Lock(context.Background(), "linux-ci", change.Actor{ID: "scheduler", Name: "scheduler"}, "schedule office")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	rep = s.run(req("U-operator", "standby linux-ci 1")).last()
	if !strings.Contains(rep.Text, "being changed by scheduler") || rep.InChannel {
		t.Errorf("change of a locked pool: %q", rep.Text)
	}
}

func TestUpDownHolds(t *testing.T) {
	s := newMemStack(t)
	// until= is in the schedule's zone: 18:30 Paris is 17:30 UTC in January.
	rep := s.run(req("U-operator", "down linux-ci until=18:30")).last()
	h, ok := s.sched.hold("linux-ci")
	if !ok || *h.s.Standby != 0 || !h.until.Equal(time.Date(2026, 1, 5, 17, 30, 0, 0, time.UTC)) {
		t.Errorf("hold %+v %t after down until=18:30", h, ok)
	}
	if !strings.Contains(rep.Text, "until 18:30 CET") {
		t.Errorf("down reply %q", rep.Text)
	}
	// up returns to the saved settings and holds until the next change.
	rep = s.run(req("U-operator", "up linux-ci standby=2")).last()
	if !strings.Contains(rep.Text, "standby 0 → 2") || !strings.Contains(rep.Text, "until 19:00 CET") {
		t.Errorf("up reply %q", rep.Text)
	}
	// down without for= ends the hold.
	s.run(req("U-operator", "down linux-ci"))
	if _, ok := s.sched.hold("linux-ci"); ok {
		t.Errorf("down did not end the hold")
	}
	// With no schedule, up falls back to what down saved, and for= is refused.
	s2 := newMemStack(t, func(o *Options) { o.Scheduler = nil })
	s2.run(req("U-operator", "down windows-ci"))
	if rep := s2.run(req("U-operator", "up windows-ci")).last(); !strings.Contains(rep.Text, "standby 0 → 1") {
		t.Errorf("up without a scheduler: %q", rep.Text)
	}
	if rep := s2.run(req("U-operator", "up windows-ci for=1h")).last(); !strings.Contains(rep.Text, "no schedule is configured") {
		t.Errorf("for= without a scheduler: %q", rep.Text)
	}
	if rep := s2.run(req("U-operator", "up gpu-nightly")).last(); !strings.Contains(rep.Text, "daytime settings") {
		t.Errorf("up with nothing saved: %q", rep.Text)
	}
}

func TestDownSaysBusyAgentsFinish(t *testing.T) {
	s := newStack(t)
	for i := 0; i < 120; i++ {
		if pool.Count(s.nodes("linux-ci")).Busy > 0 {
			break
		}
		s.clk.Advance(time.Minute)
	}
	busy := pool.Count(s.nodes("linux-ci")).Busy
	if busy == 0 {
		t.Skip("the simulator gave linux-ci no job in two hours")
	}
	rep := s.run(req("U-operator", "down linux-ci")).last()
	if !strings.Contains(rep.Text, "finish their jobs first") && !strings.Contains(rep.Text, "busy agent") {
		t.Errorf("down with %d busy agents: %q", busy, rep.Text)
	}
	if got := pool.Count(s.nodes("linux-ci")).Busy; got < busy {
		t.Errorf("busy agents %d → %d right after down", busy, got)
	}
}

func TestRunButtonAndCreate(t *testing.T) {
	s := newStack(t)
	rep := s.run(press("U-operator", "run", "mute linux-ci failed-nodes for=1h")).last()
	if !rep.InChannel || !strings.Contains(rep.Text, "muted failed-nodes alerts of linux-ci") {
		t.Errorf("run button: %q", rep.Text)
	}
	if rep := s.run(press("U-viewer", "run", "node delete linux-ci 1")).last(); !strings.Contains(rep.Text, "you need role operator") {
		t.Errorf("run button by a viewer: %q", rep.Text)
	}

	id := confirmID(t, s.run(req("U-admin", "create linux-new max=3 sku=Standard_D2s_v5")).last())
	rec := s.run(press("U-admin", "confirm", id))
	if !strings.Contains(rec.last().Text, "created pool linux-new") || !rec.last().InChannel {
		t.Fatalf("create: %s", rec.texts())
	}
	p := s.settings("linux-new")
	if p.Max != 3 || p.Standby != 1 {
		t.Errorf("created pool %+v", p)
	}
	if es := s.audit("linux-new"); len(es) != 1 || es[0].Result != "ok" || !strings.Contains(es[0].After, "max=3") {
		t.Errorf("audit of create %+v", es)
	}
	if rep := s.run(req("U-viewer", "history")).last(); !strings.Contains(rep.Text, "create linux-new") || !strings.Contains(rep.Text, "mute linux-ci") {
		t.Errorf("history: %q", rep.Text)
	}
}

func TestObserveAndNoRole(t *testing.T) {
	s := newMemStack(t)
	s.run(req("U-none", "list"))
	s.run(req("U-viewer", "list"))
	s.run(req("U-viewer", "bogus"))
	s.run(req("U-operator", "standby linux-ci x"))
	s.run(req("U-operator", "standby linux-* 1"))
	want := []string{"list denied", "list ok", "unknown invalid", "standby invalid", "standby pending"}
	if strings.Join(s.observed, ",") != strings.Join(want, ",") {
		t.Errorf("observed %v, want %v", s.observed, want)
	}
	// The demo: everyone is an admin.
	d := newMemStack(t, func(o *Options) { o.Roles = nil; o.EveryoneAdmin = true })
	if rep := d.run(req("U-anyone", "standby linux-ci 1")).last(); !rep.InChannel {
		t.Errorf("demo: %q", rep.Text)
	}
}
