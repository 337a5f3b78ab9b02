package slackstub

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Sign is Slack's request signature of body sent at at: the values of
// X-Slack-Request-Timestamp and X-Slack-Signature.
func Sign(secret string, at time.Time, body []byte) (ts, sig string) {
	ts = strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return ts, "v0=" + hex.EncodeToString(mac.Sum(nil))
}

var signClient = &http.Client{Timeout: 10 * time.Second}

// PostSigned POSTs body to an app's request URL as Slack does, signed with
// secret at the wall clock's now (the app checks it against its own), and
// returns the answer's status and body.
func PostSigned(u, secret, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	ts, sig := Sign(secret, time.Now(), body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := signClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// HomeOpened is the Events API body of user opening the app's Home tab
// (event_callback with an app_home_opened event), with the Home view last
// published for them, and its event id.
func (s *Stub) HomeOpened(user string) (eventID string, body []byte) {
	s.mu.Lock()
	vs := s.vs()
	vs.seq++
	eventID = fmt.Sprintf("Ev%08d", vs.seq)
	now := s.now()
	ev := map[string]any{"type": "app_home_opened", "user": user, "channel": "D" + user, "tab": "home",
		"event_ts": fmt.Sprintf("%d.%06d", now.Unix(), vs.seq%1000000)}
	if h := vs.homes[user]; len(h) > 0 {
		ev["view"] = viewJSON(*vs.byID[h[len(h)-1].ID])
	}
	s.mu.Unlock()
	body, _ = json.Marshal(map[string]any{"token": "stub-verification-token", "team_id": "T0STUB",
		"api_app_id": "A0POOLBOT", "event": ev, "type": "event_callback", "event_id": eventID,
		"event_time": now.Unix(), "authorizations": []map[string]any{{"team_id": "T0STUB", "user_id": "U0POOLBOT",
			"is_bot": true}}})
	return eventID, body
}

// SendHomeOpened POSTs app_home_opened to an app's events URL, signed, as
// Slack does over HTTP; it returns the event id and the app's answer.
func (s *Stub) SendHomeOpened(eventsURL, secret, user string) (eventID string, status int, err error) {
	eventID, body := s.HomeOpened(user)
	status, _, err = PostSigned(eventsURL, secret, "application/json", body)
	return eventID, status, err
}

// SendURLVerification sends the challenge Slack sends when an events URL
// is saved, and returns the app's answer.
func SendURLVerification(eventsURL, secret, challenge string) (int, []byte, error) {
	body, _ := json.Marshal(map[string]string{"token": "stub-verification-token", "challenge": challenge,
		"type": "url_verification"})
	return PostSigned(eventsURL, secret, "application/json", body)
}

// PushHomeOpened delivers app_home_opened in Socket Mode: an events_api
// envelope whose payload is the Events API body.
func (s *Stub) PushHomeOpened(envelopeID, user string) error {
	_, body := s.HomeOpened(user)
	return s.Push(Envelope{EnvelopeID: envelopeID, Type: "events_api", Payload: json.RawMessage(body)})
}

// HomePress is the block_actions payload of user pressing the button with
// actionID (and value, unless empty) on the Home tab last published for
// them, with a fresh trigger id. It fails when that view has no such
// button: Slack sends only what a user can press.
func (s *Stub) HomePress(user slack.User, actionID, value string) (slack.InteractionCallback, error) {
	s.mu.Lock()
	h := s.vs().homes[user.ID]
	s.mu.Unlock()
	if len(h) == 0 {
		return slack.InteractionCallback{}, fmt.Errorf("slackstub: no Home tab published for %s", user.ID)
	}
	return s.press(user, h[len(h)-1].ID, actionID, value)
}

// ViewPress is the block_actions payload of pressing a button in the view
// with id viewID (a modal).
func (s *Stub) ViewPress(user slack.User, viewID, actionID, value string) (slack.InteractionCallback, error) {
	return s.press(user, viewID, actionID, value)
}

func (s *Stub) press(user slack.User, viewID, actionID, value string) (slack.InteractionCallback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vs().byID[viewID]
	if v == nil {
		return slack.InteractionCallback{}, fmt.Errorf("slackstub: no view %s", viewID)
	}
	blocks, err := v.Blocks()
	if err != nil {
		return slack.InteractionCallback{}, fmt.Errorf("slackstub: view %s: %w", viewID, err)
	}
	for _, b := range blocks.BlockSet {
		ab, ok := b.(*slack.ActionBlock)
		if !ok || ab.Elements == nil {
			continue
		}
		for _, e := range ab.Elements.ElementSet {
			btn, ok := e.(*slack.ButtonBlockElement)
			if !ok || btn.ActionID != actionID || (value != "" && btn.Value != value) {
				continue
			}
			sv, err := slackView(*v)
			if err != nil {
				return slack.InteractionCallback{}, err
			}
			return slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, User: user,
				Team: slack.Team{ID: "T0STUB"}, APIAppID: "A0POOLBOT", TriggerID: s.triggerLocked(user.ID),
				Container: slack.Container{Type: "view", ViewID: v.ID}, View: sv,
				ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: btn.ActionID,
					BlockID: ab.BlockID, Value: btn.Value, Type: "button",
					ActionTs: fmt.Sprintf("%d.000000", s.now().Unix())}}}}, nil
		}
	}
	return slack.InteractionCallback{}, fmt.Errorf("slackstub: view %s has no button %s %q", viewID, actionID, value)
}

// slackView is v as Slack sends it in a payload; s.mu held.
func slackView(v View) (slack.View, error) {
	var sv slack.View
	b, _ := json.Marshal(viewJSON(v))
	if err := json.Unmarshal(b, &sv); err != nil {
		return sv, fmt.Errorf("slackstub: view %s: %w", v.ID, err)
	}
	return sv, nil
}

// Submission is the view_submission payload of user submitting the modal
// viewID with values by block id: the text of a plain-text or number
// input, the value of the option chosen in a select or radio buttons, or
// "HH:MM" for a time picker. As Slack's client does, it refuses a required
// input left empty, an option the view does not offer and a number the
// input does not take, so that the app only sees what a user could send.
func (s *Stub) Submission(user slack.User, viewID string, values map[string]string) (slack.InteractionCallback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vs().byID[viewID]
	if v == nil || v.Type != "modal" {
		return slack.InteractionCallback{}, fmt.Errorf("slackstub: no modal %s", viewID)
	}
	blocks, err := v.Blocks()
	if err != nil {
		return slack.InteractionCallback{}, fmt.Errorf("slackstub: view %s: %w", viewID, err)
	}
	state := map[string]map[string]slack.BlockAction{}
	used := map[string]bool{}
	for _, b := range blocks.BlockSet {
		in, ok := b.(*slack.InputBlock)
		if !ok {
			continue
		}
		val, given := values[in.BlockID]
		used[in.BlockID] = given
		if (!given || val == "") && !in.Optional {
			return slack.InteractionCallback{}, fmt.Errorf("slackstub: %s is required", in.BlockID)
		}
		a, err := inputValue(in, val, given)
		if err != nil {
			return slack.InteractionCallback{}, err
		}
		state[in.BlockID] = map[string]slack.BlockAction{a.ActionID: a}
	}
	for k := range values {
		if !used[k] {
			return slack.InteractionCallback{}, fmt.Errorf("slackstub: modal %s has no input %s", viewID, k)
		}
	}
	sv, err := slackView(*v)
	if err != nil {
		return slack.InteractionCallback{}, err
	}
	sv.State = &slack.ViewState{Values: state}
	return slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission, User: user,
		Team: slack.Team{ID: "T0STUB"}, APIAppID: "A0POOLBOT", TriggerID: s.triggerLocked(user.ID), View: sv,
		ViewSubmissionCallback: slack.ViewSubmissionCallback{Hash: v.Hash}}, nil
}

// inputValue is what Slack puts in a view's state for one input.
func inputValue(in *slack.InputBlock, val string, given bool) (slack.BlockAction, error) {
	switch e := in.Element.(type) {
	case *slack.PlainTextInputBlockElement:
		return slack.BlockAction{ActionID: e.ActionID, Type: "plain_text_input", Value: val}, nil
	case *slack.NumberInputBlockElement:
		if given && val != "" {
			if _, err := strconv.ParseFloat(val, 64); err != nil || (!e.IsDecimalAllowed && strings.ContainsAny(val, ".eE")) {
				return slack.BlockAction{}, fmt.Errorf("slackstub: %s takes a whole number, not %q", in.BlockID, val)
			}
		}
		return slack.BlockAction{ActionID: e.ActionID, Type: "number_input", Value: val}, nil
	case *slack.SelectBlockElement:
		a := slack.BlockAction{ActionID: e.ActionID, Type: slack.ActionType(e.Type)}
		if !given || val == "" {
			return a, nil
		}
		for _, o := range e.Options {
			if o.Value == val {
				a.SelectedOption = *o
				return a, nil
			}
		}
		return a, fmt.Errorf("slackstub: %s offers no option %q", in.BlockID, val)
	case *slack.RadioButtonsBlockElement:
		a := slack.BlockAction{ActionID: e.ActionID, Type: "radio_buttons"}
		if !given || val == "" {
			return a, nil
		}
		for _, o := range e.Options {
			if o.Value == val {
				a.SelectedOption = *o
				return a, nil
			}
		}
		return a, fmt.Errorf("slackstub: %s offers no option %q", in.BlockID, val)
	case *slack.TimePickerBlockElement:
		if given && val != "" {
			if _, err := time.Parse("15:04", val); err != nil {
				return slack.BlockAction{}, fmt.Errorf("slackstub: %s takes HH:MM, not %q", in.BlockID, val)
			}
		}
		return slack.BlockAction{ActionID: e.ActionID, Type: "timepicker", SelectedTime: val}, nil
	}
	return slack.BlockAction{}, fmt.Errorf("slackstub: input %s has an element the stub does not know", in.BlockID)
}

// PostInteraction POSTs an interaction payload (a button press, a view
// submission) to an app's interactivity URL, signed, as Slack does; it
// returns the answer's status and body (a view submission's errors).
func PostInteraction(interactivityURL, secret string, cb slack.InteractionCallback) (int, []byte, error) {
	payload, err := json.Marshal(&cb)
	if err != nil {
		return 0, nil, err
	}
	body := url.Values{"payload": {string(payload)}}.Encode()
	return PostSigned(interactivityURL, secret, "application/x-www-form-urlencoded", []byte(body))
}

// ErrNoView is returned when a view the test expects is missing.
var ErrNoView = errors.New("slackstub: no such view")

// ViewByID returns the view with id as it stands.
func (s *Stub) ViewByID(id string) (View, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vs().byID[id]
	if v == nil {
		return View{}, ErrNoView
	}
	return *v, nil
}
