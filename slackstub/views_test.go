package slackstub

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

func text(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func homeView(blocks ...slack.Block) slack.HomeTabViewRequest {
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}

// The views methods answer as Slack does, refusals included, through
// slack-go's own client.
func TestViews(t *testing.T) {
	s := New()
	defer s.Close()
	now := time.Unix(1_800_000_000, 0)
	s.SetNow(func() time.Time { return now })
	api := client(s)
	ctx := context.Background()

	btn := slack.NewActionBlock("acts", slack.NewButtonBlockElement("home.up", "linux-ci", text("Up")))
	r, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1",
		View: homeView(slack.NewSectionBlock(text("hi"), nil, nil), btn)})
	if err != nil || r.ID == "" || r.Hash == "" || r.Type != slack.VTHomeTab {
		t.Fatalf("publish: %+v %v", r, err)
	}
	stale := "an old hash"
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: homeView(btn),
		Hash: &stale}); err == nil || err.Error() != "hash_conflict" {
		t.Errorf("publish over a newer view: %v, want hash_conflict", err)
	}
	r2, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: homeView(btn), Hash: &r.Hash})
	if err != nil || r2.ID != r.ID || r2.Hash == r.Hash {
		t.Errorf("second publish: %+v %v; a Home tab keeps its id and gets a new hash", r2, err)
	}
	var many []slack.Block
	for range 101 {
		many = append(many, slack.NewDividerBlock())
	}
	_, err = api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: homeView(many...)})
	var se slack.SlackErrorResponse
	if err == nil || err.Error() != "invalid_arguments" {
		t.Errorf("101 blocks: %v, want invalid_arguments", err)
	} else if !strings.Contains(errorMessages(err, &se), "no more than 100") {
		t.Errorf("101 blocks refused with %q", errorMessages(err, &se))
	}
	if hs := s.HomeViews("U1"); len(hs) != 2 {
		t.Errorf("%d Home tab views recorded, want the 2 that were accepted", len(hs))
	}

	form := slack.ModalViewRequest{Type: slack.VTModal, Title: text("Standby"), Submit: text("Set"), CallbackID: "form.standby",
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewInputBlock("standby", text("Standby"), nil,
			slack.NewNumberInputBlockElement(nil, "standby", false))}}}
	if _, err := api.OpenViewContext(ctx, "made-up", form); err == nil || err.Error() != "invalid_trigger_id" {
		t.Errorf("open with an unknown trigger: %v", err)
	}
	old := s.Trigger("U1")
	now = now.Add(4 * time.Second)
	if _, err := api.OpenViewContext(ctx, old, form); err == nil || err.Error() != "expired_trigger_id" {
		t.Errorf("open with a 4 s old trigger: %v", err)
	}
	long := form
	long.Title = text("A title longer than Slack allows")
	if _, err := api.OpenViewContext(ctx, s.Trigger("U1"), long); err == nil || err.Error() != "invalid_arguments" {
		t.Errorf("open with a long title: %v", err)
	}
	noSubmit := form
	noSubmit.Submit = nil
	if _, err := api.OpenViewContext(ctx, s.Trigger("U1"), noSubmit); err == nil || err.Error() != "invalid_arguments" {
		t.Errorf("open a form without a submit button: %v", err)
	}
	trig := s.Trigger("U1")
	m, err := api.OpenViewContext(ctx, trig, form)
	if err != nil || m.ID == "" || m.CallbackID != "form.standby" {
		t.Fatalf("open: %+v %v", m, err)
	}
	if _, err := api.OpenViewContext(ctx, trig, form); err == nil || err.Error() != "exchanged_trigger_id" {
		t.Errorf("a trigger used twice: %v", err)
	}
	if _, err := api.UpdateViewContext(ctx, form, "", "", "V-unknown"); err == nil || err.Error() != "not_found" {
		t.Errorf("update of an unknown view: %v", err)
	}
	if _, err := api.UpdateViewContext(ctx, form, "", "stale", m.ID); err == nil || err.Error() != "hash_conflict" {
		t.Errorf("update with a stale hash: %v", err)
	}
	if _, err := api.UpdateViewContext(ctx, form, "", m.Hash, m.ID); err != nil {
		t.Errorf("update: %v", err)
	}
	if ms := s.Modals(); len(ms) != 2 || ms[0].User != "U1" || ms[1].ID != m.ID {
		t.Errorf("modals recorded: %+v", ms)
	}

	// Submissions carry what a user could enter, and nothing else.
	u := slack.User{ID: "U1", Name: "ann"}
	if _, err := s.Submission(u, m.ID, map[string]string{}); err == nil {
		t.Error("a required input left empty was submitted")
	}
	if _, err := s.Submission(u, m.ID, map[string]string{"standby": "1.5"}); err == nil {
		t.Error("a fraction was submitted to a whole-number input")
	}
	if _, err := s.Submission(u, m.ID, map[string]string{"standby": "2", "other": "x"}); err == nil {
		t.Error("an input the form does not have was submitted")
	}
	cb, err := s.Submission(u, m.ID, map[string]string{"standby": "2"})
	if err != nil || cb.Type != slack.InteractionTypeViewSubmission || cb.View.CallbackID != "form.standby" ||
		cb.View.State.Values["standby"]["standby"].Value != "2" || cb.TriggerID == "" {
		t.Errorf("submission: %+v %v", cb, err)
	}

	// A press is only of a button the view shows.
	if _, err := s.HomePress(u, "home.down", "linux-ci"); err == nil {
		t.Error("pressed a button the Home tab does not have")
	}
	p, err := s.HomePress(u, "home.up", "linux-ci")
	if err != nil || p.Container.Type != "view" || p.View.ID != r.ID || p.ActionCallback.BlockActions[0].Value != "linux-ci" {
		t.Errorf("press: %+v %v", p, err)
	}
}

func errorMessages(err error, se *slack.SlackErrorResponse) string {
	if e, ok := err.(slack.SlackErrorResponse); ok {
		*se = e
		return strings.Join(e.ResponseMetadata.Messages, " ")
	}
	return ""
}

// Events and interactions reach an app as Slack sends them: signed, the
// event in slack-go's shape.
func TestSendEvents(t *testing.T) {
	s := New()
	defer s.Close()
	got := make(chan slackevents.EventsAPIEvent, 2)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sv, err := slack.NewSecretsVerifier(r.Header, "secret")
		if err != nil {
			http.Error(w, err.Error(), 401)
			return
		}
		body, _ := io.ReadAll(r.Body)
		_, _ = sv.Write(body)
		if err := sv.Ensure(); err != nil {
			http.Error(w, err.Error(), 401)
			return
		}
		e, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got <- e
	}))
	defer app.Close()
	id, status, err := s.SendHomeOpened(app.URL, "secret", "U1")
	if err != nil || status != 200 || id == "" {
		t.Fatalf("send: %q %d %v", id, status, err)
	}
	e := <-got
	h, ok := e.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
	if !ok || h.User != "U1" || h.Tab != "home" {
		t.Errorf("event %+v", e.InnerEvent.Data)
	}
	if cb, ok := e.Data.(*slackevents.EventsAPICallbackEvent); !ok || cb.EventID != id {
		t.Errorf("outer event %+v", e.Data)
	}
	if _, status, _ := s.SendHomeOpened(app.URL, "another secret", "U1"); status != 401 {
		t.Errorf("a wrongly signed event got %d", status)
	}
}
