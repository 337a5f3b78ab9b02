package slackstub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// View is a view as the app last published, opened or updated it.
type View struct {
	ID         string
	Type       string // "home" or "modal"
	User       string
	Hash       string
	CallbackID string
	ExternalID string
	// PrivateMetadata is the view's private_metadata, as sent.
	PrivateMetadata string
	JSON            json.RawMessage // the view object as sent
	Time            time.Time
}

// Blocks decodes the view's blocks.
func (v View) Blocks() (slack.Blocks, error) {
	var o struct {
		Blocks slack.Blocks `json:"blocks"`
	}
	err := json.Unmarshal(v.JSON, &o)
	return o.Blocks, err
}

// Slack's limits on a view (https://api.slack.com/reference/surfaces/views):
// 100 blocks, a title, submit and close of at most 24 characters, 3000
// characters of private_metadata, 250 kB in all.
const (
	maxViewBlocks   = 100
	maxViewTitle    = 24
	maxViewMetadata = 3000
	maxViewBytes    = 250 << 10
	// triggerTTL is how long a trigger id may open a view.
	triggerTTL = 3 * time.Second
)

type trigger struct {
	user   string
	issued time.Time
	used   bool
}

// viewState is what the stub keeps of views; Stub.mu guards it.
type viewState struct {
	triggers map[string]*trigger
	byID     map[string]*View
	homes    map[string][]View // every publish, per user
	modals   []View            // every open and update, in order
	seq      int
}

// vs returns the view state, made on first use; s.mu held.
func (s *Stub) vs() *viewState {
	if s.views == nil {
		s.views = &viewState{triggers: map[string]*trigger{}, byID: map[string]*View{}, homes: map[string][]View{}}
	}
	return s.views
}

// Trigger issues a trigger id for user, as Slack puts in a slash command,
// a button press or a view submission: it opens one view within 3 s.
func (s *Stub) Trigger(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.triggerLocked(user)
}

func (s *Stub) triggerLocked(user string) string {
	v := s.vs()
	v.seq++
	id := fmt.Sprintf("%d.%d.stub%04d", s.now().Unix(), v.seq, v.seq)
	v.triggers[id] = &trigger{user: user, issued: s.now()}
	return id
}

// HomeViews returns every Home tab view published for user, in order.
func (s *Stub) HomeViews(user string) []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]View(nil), s.vs().homes[user]...)
}

// WaitForHome waits until at least n Home tab views were published for
// user and returns them all.
func (s *Stub) WaitForHome(user string, n int, timeout time.Duration) ([]View, error) {
	err := s.waitFor(timeout, func() bool { return len(s.vs().homes[user]) >= n })
	h := s.HomeViews(user)
	if err != nil {
		return h, fmt.Errorf("%d of %d Home tab publishes for %s: %w", len(h), n, user, err)
	}
	return h, nil
}

// Modals returns every modal opened or updated, in order.
func (s *Stub) Modals() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]View(nil), s.vs().modals...)
}

// WaitForModals waits until at least n modals were opened or updated and
// returns them all.
func (s *Stub) WaitForModals(n int, timeout time.Duration) ([]View, error) {
	err := s.waitFor(timeout, func() bool { return len(s.vs().modals) >= n })
	m := s.Modals()
	if err != nil {
		return m, fmt.Errorf("%d of %d modals: %w", len(m), n, err)
	}
	return m, nil
}

// viewCall is the body of views.publish, views.open and views.update:
// JSON, as slack-go sends it, or a form whose view is a JSON string.
type viewCall struct {
	UserID     string          `json:"user_id"`
	TriggerID  string          `json:"trigger_id"`
	ViewID     string          `json:"view_id"`
	ExternalID string          `json:"external_id"`
	Hash       *string         `json:"hash"`
	View       json.RawMessage `json:"view"`
}

func readViewCall(r *http.Request, body []byte, form url.Values) (viewCall, error) {
	var c viewCall
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		err := json.Unmarshal(body, &c)
		return c, err
	}
	c = viewCall{UserID: form.Get("user_id"), TriggerID: form.Get("trigger_id"), ViewID: form.Get("view_id"),
		ExternalID: form.Get("external_id"), View: json.RawMessage(form.Get("view"))}
	if h, ok := form["hash"]; ok && len(h) > 0 {
		c.Hash = &h[0]
	}
	return c, nil
}

// serveViews answers views.publish, views.open and views.update as Slack
// does, errors included; false for any other method. s.mu is held.
func (s *Stub) serveViews(w http.ResponseWriter, r *http.Request, method string, body []byte, form url.Values) bool {
	switch method {
	case "views.publish", "views.open", "views.update":
	default:
		return false
	}
	c, err := readViewCall(r, body, form)
	if err != nil {
		invalidArguments(w, "[ERROR] the request body is not JSON")
		return true
	}
	vs := s.vs()
	switch method {
	case "views.publish":
		if c.UserID == "" {
			invalidArguments(w, "[ERROR] missing required field: user_id")
			return true
		}
		v, msg := s.checkView(c.View, "home")
		if msg != "" {
			viewError(w, msg)
			return true
		}
		prev := vs.homes[c.UserID]
		if c.Hash != nil && len(prev) > 0 && *c.Hash != prev[len(prev)-1].Hash {
			slackError(w, "hash_conflict")
			return true
		}
		// A user's Home tab keeps its view id across publishes.
		v.ID = "VHOME" + c.UserID
		v.User = c.UserID
		s.keepView(v)
		vs.homes[c.UserID] = append(vs.homes[c.UserID], *vs.byID[v.ID])
		writeJSON(w, http.StatusOK, apiResponse{"ok": true, "view": viewJSON(*vs.byID[v.ID])})
	case "views.open":
		t := vs.triggers[c.TriggerID]
		switch {
		case c.TriggerID == "" || t == nil:
			slackError(w, "invalid_trigger_id")
			return true
		case t.used:
			slackError(w, "exchanged_trigger_id")
			return true
		case s.now().Sub(t.issued) > triggerTTL:
			slackError(w, "expired_trigger_id")
			return true
		}
		v, msg := s.checkView(c.View, "modal")
		if msg != "" {
			viewError(w, msg)
			return true
		}
		if v.ExternalID != "" {
			for _, o := range vs.byID {
				if o.ExternalID == v.ExternalID {
					slackError(w, "duplicate_external_id")
					return true
				}
			}
		}
		t.used = true
		vs.seq++
		v.ID = fmt.Sprintf("VMODAL%04d", vs.seq)
		v.User = t.user
		s.keepView(v)
		vs.modals = append(vs.modals, *vs.byID[v.ID])
		writeJSON(w, http.StatusOK, apiResponse{"ok": true, "view": viewJSON(*vs.byID[v.ID])})
	case "views.update":
		var cur *View
		for _, o := range vs.byID {
			if (c.ViewID != "" && o.ID == c.ViewID) || (c.ViewID == "" && c.ExternalID != "" && o.ExternalID == c.ExternalID) {
				cur = o
			}
		}
		if c.ViewID == "" && c.ExternalID == "" {
			invalidArguments(w, "[ERROR] either view_id or external_id is required")
			return true
		}
		if cur == nil {
			slackError(w, "not_found")
			return true
		}
		if c.Hash != nil && *c.Hash != "" && *c.Hash != cur.Hash {
			slackError(w, "hash_conflict")
			return true
		}
		v, msg := s.checkView(c.View, cur.Type)
		if msg != "" {
			viewError(w, msg)
			return true
		}
		v.ID, v.User = cur.ID, cur.User
		if v.ExternalID == "" {
			v.ExternalID = cur.ExternalID
		}
		s.keepView(v)
		if v.Type == "modal" {
			vs.modals = append(vs.modals, *vs.byID[v.ID])
		} else {
			vs.homes[v.User] = append(vs.homes[v.User], *vs.byID[v.ID])
		}
		writeJSON(w, http.StatusOK, apiResponse{"ok": true, "view": viewJSON(*vs.byID[v.ID])})
	}
	return true
}

// keepView stores v under its id with a new hash; s.mu held.
func (s *Stub) keepView(v View) {
	vs := s.vs()
	vs.seq++
	v.Hash = fmt.Sprintf("%d.stubhash%d", s.now().Unix(), vs.seq)
	v.Time = s.now()
	vs.byID[v.ID] = &v
}

// viewJSON is the view object Slack answers with: the view as sent, with
// its id, hash and the state of its inputs.
func viewJSON(v View) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(v.JSON, &m)
	m["id"], m["hash"], m["team_id"], m["app_id"], m["bot_id"] = v.ID, v.Hash, "T0STUB", "A0POOLBOT", "B0POOLBOT"
	if _, ok := m["state"]; !ok {
		m["state"] = map[string]any{"values": map[string]any{}}
	}
	return m
}

func viewError(w http.ResponseWriter, msg string) {
	if msg == "view_too_large" {
		slackError(w, msg)
		return
	}
	invalidArguments(w, msg)
}

// invalidArguments is Slack's answer to a malformed view: the error and a
// message saying where.
func invalidArguments(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusOK, apiResponse{"ok": false, "error": "invalid_arguments",
		"response_metadata": apiResponse{"messages": []string{msg}}})
}

// checkView decodes raw and checks it against Slack's rules for a view of
// type want; the message says what is wrong ("" when nothing is).
func (s *Stub) checkView(raw json.RawMessage, want string) (View, string) {
	if len(raw) == 0 {
		return View{}, "[ERROR] missing required field: view"
	}
	if len(raw) > maxViewBytes {
		return View{}, "view_too_large"
	}
	var o struct {
		Type            string                 `json:"type"`
		Title           *slack.TextBlockObject `json:"title"`
		Submit          *slack.TextBlockObject `json:"submit"`
		Close           *slack.TextBlockObject `json:"close"`
		Blocks          []json.RawMessage      `json:"blocks"`
		CallbackID      string                 `json:"callback_id"`
		ExternalID      string                 `json:"external_id"`
		PrivateMetadata string                 `json:"private_metadata"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return View{}, "[ERROR] view is not a JSON object"
	}
	if o.Type != want {
		return View{}, fmt.Sprintf("[ERROR] must be %q, not %q [json-pointer:/view/type]", want, o.Type)
	}
	if len(o.Blocks) > maxViewBlocks {
		return View{}, fmt.Sprintf("[ERROR] no more than %d items allowed [json-pointer:/view/blocks]", maxViewBlocks)
	}
	if len(o.PrivateMetadata) > maxViewMetadata {
		return View{}, "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"
	}
	inputs := false
	ids := map[string]bool{}
	for i, b := range o.Blocks {
		var hdr struct {
			Type    string `json:"type"`
			BlockID string `json:"block_id"`
		}
		if err := json.Unmarshal(b, &hdr); err != nil || hdr.Type == "" {
			return View{}, fmt.Sprintf("[ERROR] missing required field: type [json-pointer:/view/blocks/%d]", i)
		}
		if hdr.BlockID != "" {
			if ids[hdr.BlockID] {
				return View{}, fmt.Sprintf("[ERROR] duplicate block_id %q [json-pointer:/view/blocks/%d/block_id]", hdr.BlockID, i)
			}
			ids[hdr.BlockID] = true
		}
		inputs = inputs || hdr.Type == "input"
	}
	if want == "modal" {
		if o.Title == nil || o.Title.Text == "" {
			return View{}, "[ERROR] missing required field: title [json-pointer:/view/title]"
		}
		for name, t := range map[string]*slack.TextBlockObject{"title": o.Title, "submit": o.Submit, "close": o.Close} {
			if t != nil && len([]rune(t.Text)) > maxViewTitle {
				return View{}, fmt.Sprintf("[ERROR] must be less than 25 characters [json-pointer:/view/%s/text]", name)
			}
		}
		if inputs && o.Submit == nil {
			return View{}, "[ERROR] a view with input blocks needs a submit button [json-pointer:/view/submit]"
		}
	}
	return View{Type: o.Type, CallbackID: o.CallbackID, ExternalID: o.ExternalID, PrivateMetadata: o.PrivateMetadata,
		JSON: append(json.RawMessage(nil), raw...)}, ""
}
