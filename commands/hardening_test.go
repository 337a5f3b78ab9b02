package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackmsg"
	"github.com/poolbot/poolbot/slackstub"
)

// slackTexts returns every text of a reply Slack reads as mrkdwn: the
// fallback and the mrkdwn of its blocks, as JSON decodes them.
func slackTexts(t *testing.T, r Reply) []string {
	t.Helper()
	out := []string{r.Text}
	raw, err := json.Marshal(slack.Blocks{BlockSet: r.Blocks})
	if err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "mrkdwn" {
				if s, ok := v["text"].(string); ok {
					out = append(out, s)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	walk(doc)
	return out
}

// hostile are texts that Slack would turn into a ping or a link.
var hostile = []string{"<!channel>", "<https://x|click>"}

func assertEscaped(t *testing.T, what string, rs []Reply) {
	t.Helper()
	for _, r := range rs {
		for _, s := range slackTexts(t, r) {
			for _, h := range hostile {
				if strings.Contains(s, h) {
					t.Errorf("%s: %q reaches Slack unescaped in %q", what, h, s)
				}
			}
		}
	}
}

// TestOthersTextReachesSlackEscaped: another user's command text, a pool
// name and an Azure DevOps error reach Slack escaped in every reply that
// quotes them, and still read as written once unescaped.
func TestOthersTextReachesSlackEscaped(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	s.sim.AddPools(1, sim.PoolSpec{Name: "<!channel>", Max: 2})
	hostilePool := "<!channel>-0001"

	// Another user holds linux-ci with a command quoting both.
	unlock, err := s.ch.Lock(ctx, "linux-ci", change.Actor{ID: "U-x", Name: "<!channel>"}, "standby linux-ci <https://x|click>")
	if err != nil {
		t.Fatal(err)
	}
	// Their command in the audit trail.
	if err := s.ch.Audit(ctx, change.Actor{ID: "U-x", Name: "mallory"}, "up linux-ci <!channel> <https://x|click>", "linux-ci", "ok"); err != nil {
		t.Fatal(err)
	}
	// A confirmation saved by another replica, quoting them.
	save := func(id string, expires time.Time) {
		p := pending{ID: id, Requester: "U-admin", RequesterName: "<!channel>", Command: "down <https://x|click> <!channel>",
			Created: s.clk.Now(), Expires: expires}
		b, _ := json.Marshal(p)
		if err := s.store.Put(ctx, confirmKey(id), string(b)); err != nil {
			t.Fatal(err)
		}
	}
	save("c-cancel", s.clk.Now().Add(time.Minute))
	save("c-expired", s.clk.Now().Add(-time.Minute))

	tests := []struct {
		name string
		r    Request
		want string // in the unescaped fallback
	}{
		{"being changed by", req("U-viewer", "status linux-ci"), "being changed by <!channel> (standby linux-ci <https://x|click>)"},
		{"locked change", req("U-operator", "standby linux-ci 1"), "<https://x|click>"},
		{"history", req("U-viewer", "history linux-ci"), "up linux-ci <!channel> <https://x|click>"},
		{"cancelled", press("U-admin", "cancel", "c-cancel"), "Cancelled /pool down <https://x|click> <!channel>"},
		{"expired", press("U-admin", "confirm", "c-expired"), "run /pool down <https://x|click> <!channel> again"},
		{"unknown command", req("U-viewer", "<!channel>"), "I don't know the command <!channel>"},
		{"no such pool", req("U-viewer", "status <https://x|click>"), `No pool named "<https://x|click>"`},
		{"pool name in list", req("U-viewer", "list"), hostilePool},
		{"pool name in status", req("U-viewer", "status "+hostilePool), hostilePool},
		{"button value", press("U-viewer", "run", slackmsg.Command{Name: "status", Args: []string{"<!channel>"}}.Value()), `No pool named "<!channel>"`},
	}
	for _, tt := range tests {
		rec := s.run(tt.r)
		assertEscaped(t, tt.name, rec.all)
		if got := plainOf(rec.last()); !strings.Contains(got, tt.want) {
			t.Errorf("%s: reply %q, want %q", tt.name, got, tt.want)
		}
	}
	unlock()
	// A change of the hostile pool announced in the channel.
	rec := s.run(req("U-operator", "standby "+hostilePool+" 1"))
	assertEscaped(t, "change", rec.all)
	if !rec.last().InChannel || !strings.Contains(plainOf(rec.last()), "set "+hostilePool+" standby") {
		t.Errorf("change of %s: %q", hostilePool, rec.texts())
	}
}

// TestConfirmationRunsWhatItShowed: a press after the pattern's match
// changed runs nothing and asks again, showing the new match; the new
// confirmation is the asker's and runs on exactly what it showed.
func TestConfirmationRunsWhatItShowed(t *testing.T) {
	s := newStack(t)
	ask := s.run(req("U-operator", "down *ci*")).last()
	id := confirmID(t, ask)
	s.sim.AddPools(1, sim.PoolSpec{Name: "mac-ci", Max: 3, Standby: 1})

	rec := s.run(press("U-operator", "confirm", id))
	again := rec.last()
	if !again.ReplaceOriginal || !strings.Contains(plainOf(again), "Nothing was changed: down *ci* now matches linux-ci, mac-ci-0001, windows-ci, not linux-ci, windows-ci") {
		t.Fatalf("press after the match changed: %q", rec.texts())
	}
	for _, name := range []string{"linux-ci", "windows-ci", "mac-ci-0001"} {
		if s.settings(name).Standby == 0 {
			t.Errorf("%s was scaled down by a confirmation that did not show it", name)
		}
	}
	if es := s.audit(""); len(es) != 0 {
		t.Errorf("audit %+v, want nothing done", es)
	}
	// The old button is used up; the new one shows all three and runs them.
	if rep := s.run(press("U-operator", "confirm", id)).last(); !strings.Contains(rep.Text, "already confirmed") {
		t.Errorf("old button pressed again: %q", rep.Text)
	}
	id2 := confirmID(t, again)
	var p pending
	raw, _ := s.store.Get(context.Background(), confirmKey(id2))
	if err := json.Unmarshal([]byte(raw), &p); err != nil || p.Requester != "U-operator" || strings.Join(p.Pools, ",") != "linux-ci,mac-ci-0001,windows-ci" {
		t.Errorf("confirmation asked again: %s (%v)", raw, err)
	}
	s.run(press("U-admin", "confirm", id2))
	for _, name := range []string{"linux-ci", "windows-ci", "mac-ci-0001"} {
		if s.settings(name).Standby != 0 {
			t.Errorf("%s not scaled down after the second confirmation", name)
		}
	}
	if es := s.audit("mac-ci-0001"); len(es) != 1 || es[0].Actor != "U-operator" || es[0].Command != "down *ci* (confirmed by admin)" {
		t.Errorf("audit of mac-ci-0001: %+v, want one row of the asker's, naming who confirmed", es)
	}
}

// TestConfirmationUnderAskersGrant: an admin pressing an operator's button
// cannot apply it beyond what the operator may do now.
func TestConfirmationUnderAskersGrant(t *testing.T) {
	s := newMemStack(t)
	asker := req("U-linux", "standby linux-* 1")
	asker.Groups = []string{"S-linux"}
	id := confirmID(t, s.run(asker).last())
	// The grant is withdrawn (a config reload, another replica).
	o := s.opts
	o.Roles = []Grant{{Role: "admin", Users: []string{"U-admin"}}}
	h := mustNew(t, o)
	rec := &replies{}
	if err := h.Handle(context.Background(), press("U-admin", "confirm", id), rec); err != nil {
		t.Fatal(err)
	}
	if got := plainOf(rec.last()); !strings.Contains(got, "Sorry, linux, who asked for this, no longer has role operator for standby on linux-ci") {
		t.Errorf("admin's press of a withdrawn grant: %q", got)
	}
	if s.settings("linux-ci").Standby != 2 {
		t.Errorf("linux-ci changed beyond the asker's grant")
	}
	// Under the grant as it was, the admin's press runs it as the asker's.
	s.run(press("U-admin", "confirm", id))
	if s.settings("linux-ci").Standby != 1 {
		t.Errorf("standby %d, want 1", s.settings("linux-ci").Standby)
	}
	if es := s.audit("linux-ci"); len(es) != 2 || es[0].Actor != "U-linux" || es[0].Result != "ok" || es[1].Result != "denied" {
		t.Errorf("audit %+v", es)
	}
}

// TestNothingToChange: a pattern that would change nothing is said so, with
// no confirmation and no audit row; a pattern changing some pools confirms
// those and names the others unchanged.
func TestNothingToChange(t *testing.T) {
	s := newMemStack(t)
	s.run(req("U-operator", "standby windows-ci 2"))
	rep := s.run(req("U-operator", "standby *-ci 2")).last()
	if ids, _, _, _ := buttons(t, rep); len(ids) != 0 || !strings.Contains(plainOf(rep), "Nothing to change: linux-ci (standby 2 (unchanged)), windows-ci") {
		t.Errorf("no-op pattern: %q, buttons %v", rep.Text, ids)
	}
	if es := s.audit(""); len(es) != 1 {
		t.Errorf("audit %+v, want only the first change", es)
	}
	ask := s.run(req("U-operator", "standby *-ci 3")).last()
	s.run(req("U-operator", "standby windows-ci 3"))
	if !strings.Contains(plainOf(ask), "Set standby of 2 pools") {
		t.Errorf("confirmation %q", ask.Text)
	}
	ask = s.run(req("U-operator", "max *-ci 10")).last()
	if p := plainOf(ask); !strings.Contains(p, "Set max of 1 pool matching *-ci?") || !strings.Contains(p, "windows-ci: max 6 → 10") ||
		!strings.Contains(p, "unchanged: linux-ci (max 10 (unchanged))") {
		t.Errorf("partial no-op: %q", p)
	}
	rec := s.run(press("U-operator", "confirm", confirmID(t, ask)))
	if s.settings("windows-ci").Max != 10 || len(s.audit("linux-ci")) != 0 {
		t.Errorf("after confirmation: %q; linux-ci audit %+v", rec.texts(), s.audit("linux-ci"))
	}
	for _, e := range s.audit("") {
		if e.Result == "pending" {
			t.Errorf("a pending row in the audit trail: %+v", e)
		}
	}
}

// TestPoolsRevealedOnlyToThoseWhoMaySee: no role, no pool names; a grant
// on some pools, suggestions among those only.
func TestPoolsRevealedOnlyToThoseWhoMaySee(t *testing.T) {
	s := newMemStack(t)
	linux := func(text string) Request {
		r := req("U-linux", text)
		r.Groups = []string{"S-linux"}
		return r
	}
	tests := []struct {
		r          Request
		want, lack string
	}{
		{req("U-none", "status linux-cj"), "you need role viewer for status on linux-cj", "linux-ci"},
		{req("U-none", "down *"), "you need role operator for down on *", "-ci"},
		{req("U-none", "stauts linux-ci"), "I don't know the command", "Did you mean"},
		{linux("status windows-cj"), `No pool named "windows-cj" that you may see`, "windows-ci"},
		{linux("status windows-ci"), `No pool named "windows-ci" that you may see`, "Did you mean"},
		{linux("status linux-cj"), "Did you mean linux-ci?", ""},
		{linux("down *"), "you need role operator for down on every pool * matches", "windows"},
		{linux("standby gpu-nightly 1"), `No pool named "gpu-nightly" that you may see`, "Did you mean"},
	}
	for _, tt := range tests {
		got := plainOf(s.run(tt.r).last())
		if !strings.Contains(got, tt.want) || tt.lack != "" && strings.Contains(got, tt.lack) {
			t.Errorf("%s %q: %q, want %q without %q", tt.r.UserID, tt.r.Text, got, tt.want, tt.lack)
		}
	}
}

// TestStatusListsNodesForNode: status shows each node's id, agent name,
// state and since when; node takes the name as well as the id.
func TestStatusListsNodesForNode(t *testing.T) {
	s := newStack(t)
	idle := s.idleNode("linux-ci")
	var name string
	for _, n := range s.nodes("linux-ci") {
		if n.ID == idle {
			name = n.Name
		}
	}
	if name == "" {
		t.Fatalf("node %d has no agent name", idle)
	}
	st := plainOf(s.run(req("U-viewer", "status linux-ci")).last())
	line := regexp.MustCompile(fmt.Sprintf(`(?m)^#%-4d %-20s idle +ubuntu22/versions/1\.1\.0 +agent 4\.258\.1 +since \d\d:\d\d CET$`, idle, regexp.QuoteMeta(name)))
	if !line.MatchString(st) {
		t.Fatalf("status lacks a line for node %d (%s):\n%s", idle, name, st)
	}
	rep := s.run(req("U-operator", "node reimage linux-ci "+strings.ToUpper(name))).last()
	if want := fmt.Sprintf("started reimaging node %s (#%d) of linux-ci", name, idle); !strings.Contains(plainOf(rep), want) {
		t.Errorf("node by name: %q, want %q", rep.Text, want)
	}
	if es := s.audit("linux-ci"); len(es) != 1 || es[0].After != fmt.Sprintf("reimage nodes %d", idle) {
		t.Errorf("audit %+v", es)
	}
}

// TestHelpReadsAsREADME: every usage line is the README's, and in Slack its
// <…> and | are escaped so that nothing reads as a link; skip's line is
// whole.
func TestHelpReadsAsREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table, err := newCommandTable(builtins())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range table.names() {
		want := "`" + strings.ReplaceAll(table[n].usage, "|", `\|`) + "`"
		if !strings.Contains(string(readme), want) {
			t.Errorf("README's command table lacks %s", want)
		}
	}
	s := newMemStack(t)
	rep := s.run(req("U-admin", "help")).last()
	link := regexp.MustCompile(`<[^@#!][^>]*>`)
	for _, txt := range slackTexts(t, rep) {
		if m := link.FindString(txt); m != "" {
			t.Errorf("Slack reads %q as a link in %q", m, txt)
		}
	}
	p := plainOf(rep)
	for _, w := range []string{"/pool node reimage|delete <pool> <node>…", "/pool image <pool> <image | latest | rollback> [reimage=idle]",
		"/pool skip <pool> next — Skips a pool's next scheduled change, so that it keeps its settings until the change after (to keep it up tonight, say); unskip undoes it."} {
		if !strings.Contains(p, w) {
			t.Errorf("help lacks %q:\n%s", w, p)
		}
	}
	if got := plainOf(s.run(req("U-admin", "help node")).last()); !strings.HasPrefix(got, "/pool node reimage|delete <pool> <node>…") {
		t.Errorf("help node: %q", got)
	}
}

func TestFirstSentence(t *testing.T) {
	for in, want := range map[string]string{
		"One. Two.":                     "One.",
		"Skips it, e.g. tonight. More.": "Skips it, e.g. tonight.",
		"No stop":                       "No stop",
		"Ends with i.e. ":               "Ends with i.e. ",
	} {
		if got := firstSentence(in); got != want {
			t.Errorf("firstSentence(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSkipTwiceAndUnskip: a second skip says the entry is already skipped
// instead of skipping it again; unskip undoes it.
func TestSkipTwiceAndUnskip(t *testing.T) {
	s := newMemStack(t)
	steps := []struct {
		text, want string
		inChannel  bool
	}{
		{"skip linux-ci next", "skipped the next scheduled change of linux-ci: 19:00 CET → standby=0 (skipped)", true},
		{"skip linux-ci next", "The next scheduled change of linux-ci is already skipped: 19:00 CET → standby=0 (skipped). /pool unskip linux-ci undoes it.", false},
		{"unskip linux-ci", "unskipped the next scheduled change of linux-ci: 19:00 CET → standby=0", true},
		{"unskip linux-ci", "linux-ci has no skipped scheduled change", false},
	}
	for _, st := range steps {
		rep := s.run(req("U-operator", st.text)).last()
		if !strings.Contains(plainOf(rep), st.want) || rep.InChannel != st.inChannel {
			t.Errorf("%s: %q (in channel %t), want %q", st.text, rep.Text, rep.InChannel, st.want)
		}
	}
	if n := len(s.sched.skipped); n != 1 {
		t.Errorf("%d skips, want 1", n)
	}
}

// TestLongHoldConfirmed: until= that falls on tomorrow says so and, over 12
// hours, asks first; a short hold does not.
func TestLongHoldConfirmed(t *testing.T) {
	s := newMemStack(t) // 10:00 CET
	ask := s.run(req("U-operator", "up linux-ci until=09:30")).last()
	if p := plainOf(ask); !strings.Contains(p, "It would be held until tomorrow 09:30 CET, 23 h 30 min from now.") {
		t.Fatalf("long hold: %q", p)
	}
	if _, ok := s.sched.hold("linux-ci"); ok || s.settings("linux-ci").Standby != 2 {
		t.Fatalf("a long hold was applied before confirmation")
	}
	rep := s.run(press("U-operator", "confirm", confirmID(t, ask))).last()
	if !strings.Contains(plainOf(rep), "until tomorrow 09:30 CET") {
		t.Errorf("confirmed: %q", rep.Text)
	}
	if h, ok := s.sched.hold("linux-ci"); !ok || !h.until.Equal(time.Date(2026, 1, 6, 8, 30, 0, 0, time.UTC)) {
		t.Errorf("hold %+v", h)
	}
	for _, text := range []string{"down windows-ci until=18:30", "down windows-ci for=12h"} {
		if rep := s.run(req("U-operator", text)).last(); !rep.InChannel {
			t.Errorf("%s asked for confirmation: %q", text, rep.Text)
		}
	}
	if rep := s.run(req("U-operator", "down windows-ci for=2d")).last(); !strings.Contains(plainOf(rep), "It would be held until") {
		t.Errorf("for=2d: %q", rep.Text)
	}
}

// TestTimesInReadersZone: history, mute and status show times in the
// reader's zone from Slack's users.info, cached, naming it; a reader Slack
// does not know sees the schedule's zone.
func TestTimesInReadersZone(t *testing.T) {
	stub := slackstub.New()
	defer stub.Close()
	stub.AddUser(slackstub.User{ID: "U-operator", Name: "operator", TZ: "America/New_York"})
	var s *stack
	s = newStack(t, func(o *Options) {
		o.Zones = NewSlackZones(slack.New("xoxb-test", slack.OptionAPIURL(stub.APIURL())), o.Clock)
	})
	tests := []struct {
		user, text string
		want       []string
	}{
		// 10:00 CET is 04:00 EST.
		{"U-operator", "up linux-ci for=2h", []string{"until 06:00 EST"}},
		{"U-operator", "mute linux-ci for=1h", []string{"until 05:00 EST"}},
		{"U-operator", "history linux-ci", []string{"04:00 EST operator: up linux-ci for=2h", "04:00 EST operator: mute"}},
		{"U-operator", "status linux-ci", []string{"muted until 05:00 EST", "next: 13:00 EST", "ubuntu22/versions/1.1.0", " since 03:"}},
		{"U-admin", "history linux-ci", []string{"10:00 CET operator: up linux-ci for=2h"}},
		{"U-admin", "status linux-ci", []string{"muted until 11:00 CET", "next: 19:00 CET"}},
	}
	for _, tt := range tests {
		got := plainOf(s.run(req(tt.user, tt.text)).last())
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s %q: %q lacks %q", tt.user, tt.text, got, w)
			}
		}
		if tt.user == "U-operator" && (strings.Contains(got, "CET") || strings.Contains(got, "UTC")) {
			t.Errorf("%s %q shows another zone: %q", tt.user, tt.text, got)
		}
	}
	if n := stub.Calls("users.info"); n != 2 { // U-operator once, U-admin (unknown) once
		t.Errorf("%d users.info calls, want one per user", n)
	}
}
