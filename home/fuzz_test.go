package home

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/pool"
)

// listOnly is a pool service that only lists (the create form's check).
type listOnly struct{ pool.Service }

func (listOnly) List(context.Context, pool.ListOptions) ([]pool.Pool, error) {
	return []pool.Pool{{Name: "linux-ci"}}, nil
}

// FuzzSubmit: whatever a submission holds, it is refused beside the form's
// own fields, or it becomes the form's command on the form's pool, with
// only the options that form sets: a value never adds a word or an option
// to the command line.
func FuzzSubmit(f *testing.F) {
	f.Add(FormCreate, "linux", "linux-new", "", "1", "4", "", "", "", "", "")
	f.Add(FormCreate, "linux", "a b", "Standard_D2s_v5 max=99", "x", "", "img template=evil", "", "", "", "")
	f.Add(FormMute, "", "", "", "", "", "", "2h", "failed-nodes", "", "")
	f.Add(FormMute, "", "", "", "", "", "", "2h standby=0", "all", "", "")
	f.Add(FormHold, "", "", "", "3", "", "", "", "", "22:30", "")
	f.Add(FormStandby, "", "", "", "-1", "", "", "", "", "", "")
	f.Add(FormSkip, "", "", "", "", "", "", "", "", "", "2026-01-05T20:00:00+01:00")
	h := New(Options{Service: listOnly{}, Templates: templates})
	want := map[string]struct {
		verb string
		pos  int // most positional words, the verb included
		keys []string
	}{
		FormCreate:  {"create", 2, []string{"template", "standby", "max", "sku", "image"}},
		FormStandby: {"standby", 3, nil},
		FormMute:    {"mute", 3, []string{"for"}},
		FormHold:    {"up", 2, []string{"until", "standby"}},
		FormSkip:    {"skip", 3, nil},
	}
	fields := []string{InTemplate, InName, InSKU, InStandby, InMax, InImage, InFor, InCondition, InUntil, InEntry}
	f.Fuzz(func(t *testing.T, form, template, name, sku, standby, max, image, forV, cond, until, entry string) {
		w, ok := want[form]
		if !ok {
			return
		}
		vals := []string{template, name, sku, standby, max, image, forV, cond, until, entry}
		st := &slack.ViewState{Values: map[string]map[string]slack.BlockAction{}}
		for i, k := range fields {
			if vals[i] != "" {
				st.Values[k] = map[string]slack.BlockAction{k: {Value: vals[i]}}
			}
		}
		md, _ := json.Marshal(meta{Pool: "linux-ci", Max: 10})
		cb := slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission,
			View: slack.View{CallbackID: form, PrivateMetadata: string(md), State: st}}
		errs, req, run := h.Submit(context.Background(), commands.Request{UserID: "U1"}, cb)
		if !run {
			for k := range errs {
				if !slices.Contains(fields, k) {
					t.Fatalf("an error beside %q, which no form has", k)
				}
			}
			return
		}
		a, err := commands.Parse(req.Text)
		if err != nil {
			t.Fatalf("%q does not parse: %v", req.Text, err)
		}
		if len(a.Pos) == 0 || a.Pos[0] != w.verb || len(a.Pos) > w.pos {
			t.Fatalf("%s became %q", form, req.Text)
		}
		if form != FormCreate && a.Pos[1] != "linux-ci" {
			t.Fatalf("%s on linux-ci became %q", form, req.Text)
		}
		for _, o := range a.Opts {
			if !slices.Contains(w.keys, o.Key) {
				t.Fatalf("%s became %q, with option %s", form, req.Text, o.Key)
			}
		}
	})
}
