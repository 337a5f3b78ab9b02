package home

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/slackstub"
)

// press presses a button on user's Home tab (published first) and returns
// the command it stands for, or the form it opened.
func press(t *testing.T, r *rig, user, action, value string) (commands.Request, bool, *slackstub.View) {
	t.Helper()
	viewOf(t, r, user)
	cb, err := r.stub.HomePress(slack.User{ID: user, Name: "ann"}, action, value)
	if err != nil {
		t.Fatal(err)
	}
	n := len(r.stub.Modals())
	req, run := r.h.Press(context.Background(), commands.Request{UserID: user, UserName: "ann"}, cb)
	if ms := r.stub.Modals(); len(ms) > n {
		return req, run, &ms[len(ms)-1]
	}
	return req, run, nil
}

// Up and Down run their commands; the other buttons open their forms,
// filled with what the pool has now.
func TestPress(t *testing.T) {
	r := newRig(t)
	for _, a := range []string{ActUp, ActDown} {
		req, run, form := press(t, r, "UO", a, "linux-ci")
		want := strings.TrimPrefix(a, "home.") + " linux-ci"
		if !run || req.Text != want || req.Source != "home" || req.UserID != "UO" || req.UserName != "ann" || form != nil {
			t.Errorf("%s: %+v %v, form %v; want %q run", a, req, run, form, want)
		}
	}
	forms := map[string]string{ActStandby: FormStandby, ActMute: FormMute, ActHold: FormHold, ActSkip: FormSkip}
	for a, cb := range forms {
		req, run, form := press(t, r, "UO", a, "linux-ci")
		if run || form == nil || form.CallbackID != cb || form.User != "UO" {
			t.Errorf("%s: ran %+v, form %+v", a, req, form)
			continue
		}
		js := string(form.JSON)
		switch a {
		case ActStandby:
			if !strings.Contains(js, `"initial_value":"2"`) || !strings.Contains(js, "0 to 10") {
				t.Errorf("the standby form does not start at linux-ci's standby 2 of max 10: %s", js)
			}
		case ActHold:
			if !strings.Contains(js, `"initial_time":"20:00"`) || !strings.Contains(js, `"timezone":"Europe/Paris"`) {
				t.Errorf("the hold form does not offer the next change's time in the schedule's zone: %s", js)
			}
		case ActSkip:
			if !strings.Contains(js, "20:00 CET → standby=0") || !strings.Contains(js, "07:45 CET → standby=3") {
				t.Errorf("the skip form does not offer the next change and name the one after: %s", js)
			}
		}
	}
	if _, _, form := press(t, r, "UA", ActCreate, ""); form == nil || form.CallbackID != FormCreate ||
		!strings.Contains(string(form.JSON), "subnet `agents`") {
		t.Errorf("create: %+v", form)
	}

	// A trigger Slack no longer takes: no form, and the user is told.
	viewOf(t, r, "UO")
	cb, err := r.stub.HomePress(slack.User{ID: "UO"}, ActStandby, "linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	r.stub.SetNow(func() time.Time { return time.Now().Add(time.Minute) })
	defer r.stub.SetNow(time.Now)
	n := len(r.stub.Modals())
	r.h.Press(context.Background(), commands.Request{UserID: "UO"}, cb)
	if len(r.stub.Modals()) != n {
		t.Error("a form opened with an expired trigger")
	}
	ms := r.stub.Messages()
	if len(ms) == 0 || ms[len(ms)-1].Channel != "UO" || !strings.Contains(ms[len(ms)-1].Text, "press the button again") {
		t.Errorf("the user was told %+v", ms)
	}
}

// A submitted form becomes its command, or errors beside its fields and
// no command.
func TestSubmit(t *testing.T) {
	r := newRig(t)
	forms := map[string]slackstub.View{}
	for a, user := range map[string]string{ActStandby: "UO", ActMute: "UO", ActHold: "UO", ActSkip: "UO", ActCreate: "UA"} {
		value := "linux-ci"
		if a == ActCreate {
			value = ""
		}
		_, _, f := press(t, r, user, a, value)
		if f == nil {
			t.Fatalf("%s opened no form", a)
		}
		forms[f.CallbackID] = *f
	}
	tests := []struct {
		name   string
		form   string
		values map[string]string
		want   string            // the command
		errs   map[string]string // else: the errors, by field (a part of each)
	}{
		{"standby", FormStandby, map[string]string{InStandby: "4"}, "standby linux-ci 4", nil},
		{"standby over max", FormStandby, map[string]string{InStandby: "11"}, "", map[string]string{InStandby: "max is 10"}},
		{"mute all", FormMute, map[string]string{InFor: "2h"}, "mute linux-ci for=2h", nil},
		{"mute one", FormMute, map[string]string{InFor: "1d", InCondition: "failed-nodes"}, "mute linux-ci failed-nodes for=1d", nil},
		{"hold", FormHold, map[string]string{InUntil: "22:30"}, "up linux-ci until=22:30", nil},
		{"hold with standby", FormHold, map[string]string{InUntil: "22:30", InStandby: "1"}, "up linux-ci until=22:30 standby=1", nil},
		{"hold over max", FormHold, map[string]string{InUntil: "22:30", InStandby: "12"}, "", map[string]string{InStandby: "max is 10"}},
		{"create", FormCreate, map[string]string{InTemplate: "linux", InName: "linux-new"}, "create linux-new template=linux", nil},
		{"create in full", FormCreate, map[string]string{InTemplate: "linux", InName: "linux-new", InSKU: "Standard_D2s_v5",
			InStandby: "0", InMax: "8", InImage: "Canonical:ubuntu:22_04-lts:latest"},
			"create linux-new template=linux standby=0 max=8 sku=Standard_D2s_v5 image=Canonical:ubuntu:22_04-lts:latest", nil},
		{"create, bad name", FormCreate, map[string]string{InTemplate: "linux", InName: "-oops"}, "",
			map[string]string{InName: "cannot name a pool"}},
		{"create, taken name", FormCreate, map[string]string{InTemplate: "linux", InName: "Linux-CI"}, "",
			map[string]string{InName: "already exists"}},
		{"create, standby over template max", FormCreate, map[string]string{InTemplate: "linux", InName: "x1", InStandby: "5"}, "",
			map[string]string{InStandby: "more than max 4"}},
		{"create, max 0", FormCreate, map[string]string{InTemplate: "linux", InName: "x1", InMax: "0"}, "",
			map[string]string{InMax: "at least 1"}},
		{"create, bad image", FormCreate, map[string]string{InTemplate: "linux", InName: "x1", InImage: "not-an-image"}, "",
			map[string]string{InImage: ""}},
		{"create, everything wrong", FormCreate, map[string]string{InTemplate: "linux", InName: "a b", InStandby: "3", InMax: "2"}, "",
			map[string]string{InName: "cannot name", InStandby: "more than max 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := "UO"
			if tt.form == FormCreate {
				user = "UA"
			}
			cb, err := r.stub.Submission(slack.User{ID: user, Name: "ann"}, forms[tt.form].ID, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			errs, req, run := r.h.Submit(context.Background(), commands.Request{UserID: user, UserName: "ann"}, cb)
			if tt.errs == nil {
				if len(errs) != 0 || !run || req.Text != tt.want || req.UserID != user || req.Source != "home" {
					t.Errorf("got %q run=%v errs=%v, want %q", req.Text, run, errs, tt.want)
				}
				return
			}
			if run || len(errs) != len(tt.errs) {
				t.Errorf("errors %v (run %v), want %v", errs, run, tt.errs)
			}
			for k, part := range tt.errs {
				if e, ok := errs[k]; !ok || !strings.Contains(e, part) {
					t.Errorf("error beside %s: %q, want one with %q", k, e, part)
				}
			}
		})
	}

	// The skip form offered a change; when the next change is another by
	// the time it is submitted, it says so and skips nothing.
	cb, err := r.stub.Submission(slack.User{ID: "UO"}, forms[FormSkip].ID,
		map[string]string{InEntry: r.sched.next[0].At.Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	if errs, req, run := r.h.Submit(context.Background(), commands.Request{UserID: "UO"}, cb); !run || req.Text != "skip linux-ci next" || len(errs) != 0 {
		t.Errorf("skip: %q %v %v", req.Text, run, errs)
	}
	r.sched.next = r.sched.next[1:] // the 20:00 change happened meanwhile
	errs, _, run := r.h.Submit(context.Background(), commands.Request{UserID: "UO"}, cb)
	if run || !strings.Contains(errs[InEntry], "no longer the next change") {
		t.Errorf("a stale skip: run %v, errors %v", run, errs)
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven long", 10, "eleven lo…"},
		{"▁▂▃▄▅▆▇█", 4, "▁▂▃…"},
	} {
		if got := clip(tc.in, tc.n); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
