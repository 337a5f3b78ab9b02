package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/poolbot/poolbot/commands"
)

// Views is what the Home tab and the forms are to the transports;
// home.Home is the real one. Its methods may be called concurrently.
// who carries the user (id and name) and, on a worker, their groups.
type Views interface {
	// Opened publishes who's Home tab. It runs on a worker, after the event
	// is acknowledged.
	Opened(ctx context.Context, who commands.Request)
	// Press handles a button pressed in a view (the Home tab), on a
	// worker: it opens a form with the press's trigger id and returns
	// false, or returns the command the button stands for, which is run as
	// the same command typed would be.
	Press(ctx context.Context, who commands.Request, cb slack.InteractionCallback) (commands.Request, bool)
	// Submit checks a submitted form, within Slack's 3 s: it returns
	// errors by block id, shown beside the fields (nothing runs), or the
	// command the form stands for (run true), which is then run as typed.
	Submit(ctx context.Context, who commands.Request, cb slack.InteractionCallback) (errs map[string]string, req commands.Request, run bool)
	// Responder answers a command that came from a view, which has no
	// response_url.
	Responder(user string) commands.Responder
}

// submitWait bounds Views.Submit: its answer must reach Slack within 3 s.
const submitWait = 2500 * time.Millisecond

// viewsState is what a transport keeps for views: the handler and the
// event ids seen (Slack retries an event it thinks was not acknowledged).
type viewsState struct {
	views  Views
	events *dedupe
}

// setViews gives the dispatch a Views (nil: events are acknowledged and
// dropped, view payloads are not poolbot's).
func (d *dispatch) setViews(v Views) {
	if v != nil {
		d.views = &viewsState{views: v, events: newDedupe(d.clk, 10*time.Minute)}
	}
}

func who(u slack.User) commands.Request {
	return commands.Request{UserID: u.ID, UserName: u.Name, Source: "home"}
}

// event hands an Events API event, acknowledged already, to the workers.
// Only app_home_opened on the Home tab is poolbot's.
func (d *dispatch) event(e slackevents.EventsAPIEvent) {
	if d.views == nil || e.Type != slackevents.CallbackEvent {
		return
	}
	if cb, ok := e.Data.(*slackevents.EventsAPICallbackEvent); ok && !d.views.events.first(cb.EventID, "") {
		d.log.Info("redelivered event ignored", "event_id", cb.EventID)
		return
	}
	var user string
	switch ev := e.InnerEvent.Data.(type) {
	case *slackevents.AppHomeOpenedEvent:
		if ev.Tab == "home" {
			user = ev.User
		}
	case slackevents.AppHomeOpenedEvent:
		if ev.Tab == "home" {
			user = ev.User
		}
	}
	if user == "" {
		return
	}
	if !d.pool.Submit(func(ctx context.Context) {
		w := commands.Request{UserID: user, Source: "home"}
		w.Groups = d.groups.of(ctx, user)
		d.views.views.Opened(ctx, w)
	}) {
		// Opening the tab again retries; nothing to tell.
		d.refusalDue()
	}
}

// isView reports whether an interaction is the views': a submission, or a
// press on a view rather than on a message.
func (d *dispatch) isView(cb slack.InteractionCallback) bool {
	if d.views == nil {
		return false
	}
	switch cb.Type {
	case slack.InteractionTypeViewSubmission:
		return true
	case slack.InteractionTypeBlockActions:
		return cb.Container.Type == "view" || (cb.Container.Type == "" && cb.View.ID != "")
	}
	return false
}

// press hands a press on a view, acknowledged already, to the workers.
func (d *dispatch) press(cb slack.InteractionCallback) {
	w := who(cb.User)
	ok := d.pool.Submit(func(ctx context.Context) {
		w.Groups = d.groups.of(ctx, w.UserID)
		req, run := d.views.views.Press(ctx, w, cb)
		if run {
			d.runView(ctx, req)
		}
	})
	if !ok {
		d.refusalDue()
		d.tellBusy(w.UserID)
	}
}

// submit checks a submission on the acknowledgement path and queues the
// command it stands for; the returned body, when not nil, is the
// acknowledgement (the errors beside the fields).
func (d *dispatch) submit(ctx context.Context, cb slack.InteractionCallback) *slack.ViewSubmissionResponse {
	ctx, cancel := context.WithTimeout(ctx, submitWait)
	defer cancel()
	errs, req, run := d.views.views.Submit(ctx, who(cb.User), cb)
	if len(errs) > 0 {
		return slack.NewErrorsViewSubmissionResponse(errs)
	}
	if !run {
		return nil
	}
	seq := d.ids.take()
	if !d.pool.Submit(func(ctx context.Context) {
		req.RequestID = d.ids.format(seq)
		req.Groups = d.groups.of(ctx, req.UserID)
		d.runView(ctx, req)
	}) {
		d.refusedSeq(seq, req.UserID)
		d.tellBusy(req.UserID)
	}
	return nil
}

// runView runs a command that came from a view, answering through the
// views' responder.
func (d *dispatch) runView(ctx context.Context, req commands.Request) {
	if req.RequestID == "" {
		req.RequestID = d.ids.format(d.ids.take())
	}
	resp := &countingResponder{r: d.views.views.Responder(req.UserID)}
	log := d.log.With("request_id", req.RequestID, "user", req.UserID, "source", req.Source)
	start := time.Now()
	if err := d.handler.Handle(ctx, req, resp); err != nil {
		log.Debug("command failed", "text", req.Text, "err", err) // the Handler logs it
		if resp.n == 0 {
			if rerr := resp.Respond(ctx, commands.Reply{Text: fmt.Sprintf(failedText, req.RequestID)}); rerr != nil {
				log.Error("respond", "err", rerr)
			}
		}
		return
	}
	log.Debug("command done", "text", req.Text, "took", time.Since(start)) // the Handler logs its line
}

func (d *dispatch) tellBusy(user string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.views.views.Responder(user).Respond(ctx, commands.Reply{Text: busyText}); err != nil {
			d.log.Warn("tell user poolbot is busy", "user", user, "err", err)
		}
	}()
}

// countingResponder counts the replies a command made.
type countingResponder struct {
	r commands.Responder
	n int
}

func (c *countingResponder) Respond(ctx context.Context, r commands.Reply) error {
	c.n++
	return c.r.Respond(ctx, r)
}

// events serves POST /slack/events, verified already: the URL check Slack
// makes when the URL is saved is answered with its challenge; an event is
// acknowledged at once and handed to the workers.
func (h *HTTP) events(w http.ResponseWriter, r *http.Request, _ uint64) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	// The signature was checked; the legacy verification token is not.
	e, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	if e.Type == slackevents.URLVerification {
		v, ok := e.Data.(*slackevents.EventsAPIURLVerificationEvent)
		if !ok {
			http.Error(w, "malformed challenge", http.StatusBadRequest)
			return
		}
		w.Header()["Content-Type"] = jsonType
		_ = json.NewEncoder(w).Encode(map[string]string{"challenge": v.Challenge})
		return
	}
	w.WriteHeader(http.StatusOK)
	h.d.event(e)
}

// interactive serves POST /slack/interactivity, verified already: presses
// on views and view submissions go to the views, the rest (message
// buttons) to interaction.
func (h *HTTP) interactive(w http.ResponseWriter, r *http.Request, seq uint64) {
	cb, err := slack.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	if !h.d.isView(cb) {
		h.interaction(w, r, seq)
		return
	}
	if cb.Type == slack.InteractionTypeBlockActions {
		w.WriteHeader(http.StatusOK)
		h.d.press(cb)
		return
	}
	if resp := h.d.submit(r.Context(), cb); resp != nil {
		w.Header()["Content-Type"] = jsonType
		_ = json.NewEncoder(w).Encode(resp)
		return
	}
	// An empty 200 closes the form.
	w.WriteHeader(http.StatusOK)
}

// eventsAPI acks an events_api envelope and hands its event to the
// workers, once however often Slack sends it.
func (s *Socket) eventsAPI(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	if evt.Request == nil {
		return
	}
	s.ack(ctx, sm, evt.Request, nil)
	e, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok || !s.seen.first(evt.Request.EnvelopeID, "") {
		return
	}
	s.d.event(e)
}

// viewInteraction takes an interactive envelope that is the views', and
// reports whether it was: a press is acked, then handed to the workers; a
// submission is checked first, off the events loop, and acked with its
// errors, if any.
func (s *Socket) viewInteraction(ctx context.Context, sm *socketmode.Client, r *socketmode.Request, cb slack.InteractionCallback) bool {
	if !s.d.isView(cb) {
		return false
	}
	if !s.seen.first(r.EnvelopeID, cb.TriggerID) {
		s.ack(ctx, sm, r, nil)
		return true
	}
	if cb.Type == slack.InteractionTypeBlockActions {
		s.ack(ctx, sm, r, nil)
		s.d.press(cb)
		return true
	}
	go func() {
		if resp := s.d.submit(ctx, cb); resp != nil {
			s.ack(ctx, sm, r, resp)
			return
		}
		s.ack(ctx, sm, r, nil)
	}()
	return true
}
