// Package slackstub is a local Slack for tests and the demo: the Web API
// methods poolbot calls, response_url receivers and a Socket Mode WebSocket,
// all on one loopback httptest server. Point slack-go at it with
// slack.OptionAPIURL(stub.APIURL()).
package slackstub

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Message is a chat.postMessage call.
type Message struct {
	Channel  string
	TS       string
	Text     string
	Blocks   json.RawMessage // as posted; nil when none
	ThreadTS string
	// Metadata is the message metadata as posted ({"event_type":…,
	// "event_payload":{…}}); nil when none.
	Metadata json.RawMessage
	Files    []string // ids of the files shared with it (files.go)
	Time     time.Time
}

// Update is a chat.update call.
type Update struct {
	Channel string
	TS      string
	Text    string
	Blocks  json.RawMessage
	Time    time.Time
}

// Ephemeral is a chat.postEphemeral call.
type Ephemeral struct {
	Channel string
	User    string
	Text    string
	Blocks  json.RawMessage
	Time    time.Time
}

// Response is one JSON body posted to a response_url.
type Response struct {
	ResponseType    string          `json:"response_type"`
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
	Raw             json.RawMessage `json:"-"`
	Time            time.Time       `json:"-"`
}

// UserGroup is a Slack user group the stub knows.
type UserGroup struct {
	ID     string
	Handle string
	Users  []string
}

// User is a Slack user the stub knows, for users.info.
type User struct {
	ID   string
	Name string
	TZ   string // IANA zone, e.g. "America/New_York"; "" answers Slack's default
}

// Stub is a running local Slack. Its zero value is not usable; call New.
type Stub struct {
	srv *httptest.Server

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every recorded change
	now      func() time.Time
	botToken string
	appToken string
	seq      int64

	messages   []Message
	updates    []Update
	ephemerals []Ephemeral
	responses  map[string][]Response
	respIn     map[string]string // response id → the channel its in_channel replies go to
	calls      map[string]int
	groups     []UserGroup
	users      map[string]User
	uploads    map[string]*upload // by file id (files.go)
	files      []File
	fileDir    string

	limitN     int // the next limitN API calls get 429
	limitAfter time.Duration
	limitOnly  string            // method the limit applies to; "" for every method
	refuse     map[string]string // method → error code it answers with

	openErrN   int // the next openErrN apps.connections.open calls fail
	openErr    string
	sock       *socket   // the newest Socket Mode connection
	socks      []*socket // every connection, open or not
	acks       []Ack
	wsUpgrader websocket.Upgrader
	views      *viewState // views.go
}

// New starts a stub on a loopback port. Close it when done.
func New() *Stub {
	s := &Stub{
		changed:   make(chan struct{}),
		now:       time.Now,
		responses: map[string][]Response{},
		respIn:    map[string]string{},
		calls:     map[string]int{},
		users:     map[string]User{},
		refuse:    map[string]string{},
		// slack-go sends Origin: https://api.slack.com, which the default
		// same-origin check would refuse.
		wsUpgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/response/", s.serveResponse)
	mux.HandleFunc("/socket", s.serveSocket)
	mux.HandleFunc("/upload/v1/", s.serveUpload)
	s.srv = httptest.NewServer(mux)
	return s
}

// URL is the stub's base URL, http://127.0.0.1:port.
func (s *Stub) URL() string { return s.srv.URL }

// APIURL is the value for slack.OptionAPIURL.
func (s *Stub) APIURL() string { return s.srv.URL + "/api/" }

// Close disconnects every socket and stops the server.
func (s *Stub) Close() {
	s.mu.Lock()
	socks := append([]*socket(nil), s.socks...)
	s.mu.Unlock()
	for _, c := range socks {
		c.close()
	}
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// SetNow sets the clock that stamps recorded calls (a fake clock's Now in
// tests that check pacing); time.Now by default.
func (s *Stub) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// RequireTokens makes the API check tokens: bot for Web API methods, app
// for apps.connections.open. Empty strings accept any token.
func (s *Stub) RequireTokens(bot, app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botToken, s.appToken = bot, app
}

// RateLimit makes the next n API calls answer 429 with Retry-After. With
// methods given, only calls of those methods count.
func (s *Stub) RateLimit(n int, retryAfter time.Duration, method ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitN, s.limitAfter = n, retryAfter
	s.limitOnly = strings.Join(method, ",")
}

// AddUserGroup adds a user group for usergroups.list and usergroups.users.list.
func (s *Stub) AddUserGroup(id, handle string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = append(s.groups, UserGroup{ID: id, Handle: handle, Users: users})
}

// AddUser adds a user for users.info, or replaces one.
func (s *Stub) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// Calls is how many times method was called, 429s included.
func (s *Stub) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Messages returns the chat.postMessage calls that succeeded, in order.
func (s *Stub) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Updates returns the chat.update calls that succeeded, in order.
func (s *Stub) Updates() []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Update(nil), s.updates...)
}

// Ephemerals returns the chat.postEphemeral calls that succeeded, in order.
func (s *Stub) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ephemeral(nil), s.ephemerals...)
}

// ResponseURL returns a response_url on the stub; what is posted to it is
// kept under id.
func (s *Stub) ResponseURL(id string) string {
	return s.srv.URL + "/response/" + url.PathEscape(id)
}

// ResponseURLIn is ResponseURL for a command typed in channel: as in Slack,
// its in_channel replies become messages of the channel, which
// Messages and conversations.history show (from poolbot's bot user).
func (s *Stub) ResponseURLIn(id, channel string) string {
	s.mu.Lock()
	s.respIn[id] = channel
	s.mu.Unlock()
	return s.ResponseURL(id)
}

// Responses returns what was posted to ResponseURL(id), in order.
func (s *Stub) Responses(id string) []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Response(nil), s.responses[id]...)
}

// ErrTimeout is returned by the WaitFor helpers.
var ErrTimeout = errors.New("slackstub: timed out")

// waitFor waits until cond (called with s.mu held) holds, or timeout.
func (s *Stub) waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return ErrTimeout
		}
	}
}

// WaitForMessages waits until at least n messages were posted and returns
// them all.
func (s *Stub) WaitForMessages(n int, timeout time.Duration) ([]Message, error) {
	err := s.waitFor(timeout, func() bool { return len(s.messages) >= n })
	m := s.Messages()
	if err != nil {
		return m, fmt.Errorf("%d of %d messages: %w", len(m), n, err)
	}
	return m, nil
}

// WaitForUpdates waits until at least n updates were made and returns them.
func (s *Stub) WaitForUpdates(n int, timeout time.Duration) ([]Update, error) {
	err := s.waitFor(timeout, func() bool { return len(s.updates) >= n })
	u := s.Updates()
	if err != nil {
		return u, fmt.Errorf("%d of %d updates: %w", len(u), n, err)
	}
	return u, nil
}

// WaitForResponses waits until at least n bodies were posted to
// ResponseURL(id) and returns them.
func (s *Stub) WaitForResponses(id string, n int, timeout time.Duration) ([]Response, error) {
	err := s.waitFor(timeout, func() bool { return len(s.responses[id]) >= n })
	r := s.Responses(id)
	if err != nil {
		return r, fmt.Errorf("%d of %d responses to %s: %w", len(r), n, id, err)
	}
	return r, nil
}

// notify wakes the waiters; s.mu must be held.
func (s *Stub) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Stub) nextTS() string {
	s.seq++
	t := s.now()
	// Slack's ts is seconds.microseconds; the sequence keeps it unique.
	return fmt.Sprintf("%d.%06d", t.Unix(), s.seq%1000000)
}

type apiResponse map[string]any

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func slackError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusOK, apiResponse{"ok": false, "error": code})
}

func token(r *http.Request) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	return r.PostForm.Get("token")
}

func (s *Stub) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form := url.Values{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, _ = url.ParseQuery(string(body))
	}
	for k, v := range r.URL.Query() {
		form[k] = v
	}
	r.PostForm = form

	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method]++
	defer s.notify()

	if s.limitN > 0 && (s.limitOnly == "" || strings.Contains(","+s.limitOnly+",", ","+method+",")) {
		s.limitN--
		w.Header().Set("Retry-After", strconv.Itoa(int(s.limitAfter.Round(time.Second)/time.Second)))
		writeJSON(w, http.StatusTooManyRequests, apiResponse{"ok": false, "error": "ratelimited"})
		return
	}
	code := s.refuse[method]
	if c := s.refuse[method+"@"+form.Get("channel")]; c != "" {
		code = c
	}
	if code != "" {
		refuseWith(w, method, code)
		return
	}
	want := s.botToken
	if method == "apps.connections.open" {
		want = s.appToken
	}
	if want != "" && token(r) != want {
		slackError(w, "invalid_auth")
		return
	}

	switch method {
	case "auth.test":
		writeJSON(w, http.StatusOK, apiResponse{"ok": true, "url": "https://stub.slack.com/", "team": "stub",
			"user": "poolbot", "team_id": "T0STUB", "user_id": "U0POOLBOT", "bot_id": "B0POOLBOT"})
	case "chat.postMessage":
		ch := form.Get("channel")
		if ch == "" {
			slackError(w, "channel_not_found")
			return
		}
		m := Message{Channel: ch, TS: s.nextTS(), Text: form.Get("text"), ThreadTS: form.Get("thread_ts"),
			Blocks: rawOrNil(form.Get("blocks")), Metadata: rawOrNil(form.Get("metadata")), Time: s.now()}
		if m.Metadata != nil && !validMetadata(m.Metadata) {
			slackError(w, "invalid_metadata_format")
			return
		}
		s.messages = append(s.messages, m)
		writeJSON(w, http.StatusOK, apiResponse{"ok": true, "channel": ch, "ts": m.TS,
			"message": apiResponse{"text": m.Text, "ts": m.TS, "thread_ts": m.ThreadTS}})
	case "chat.update":
		ch, ts := form.Get("channel"), form.Get("ts")
		if !s.posted(ch, ts) {
			slackError(w, "message_not_found")
			return
		}
		u := Update{Channel: ch, TS: ts, Text: form.Get("text"), Blocks: rawOrNil(form.Get("blocks")), Time: s.now()}
		s.updates = append(s.updates, u)
		writeJSON(w, http.StatusOK, apiResponse{"ok": true, "channel": ch, "ts": ts, "text": u.Text})
	case "chat.postEphemeral":
		e := Ephemeral{Channel: form.Get("channel"), User: form.Get("user"), Text: form.Get("text"),
			Blocks: rawOrNil(form.Get("blocks")), Time: s.now()}
		if e.User == "" {
			slackError(w, "user_not_in_channel")
			return
		}
		s.ephemerals = append(s.ephemerals, e)
		writeJSON(w, http.StatusOK, apiResponse{"ok": true, "message_ts": s.nextTS()})
	case "conversations.history":
		s.serveHistory(w, form)
	case "conversations.replies":
		s.serveReplies(w, form)
	case "usergroups.list":
		var out []apiResponse
		for _, g := range s.groups {
			ug := apiResponse{"id": g.ID, "team_id": "T0STUB", "is_usergroup": true, "name": g.Handle,
				"handle": g.Handle, "user_count": len(g.Users)}
			if form.Get("include_users") == "true" {
				ug["users"] = g.Users
			}
			out = append(out, ug)
		}
		writeJSON(w, http.StatusOK, apiResponse{"ok": true, "usergroups": out})
	case "usergroups.users.list":
		for _, g := range s.groups {
			if g.ID == form.Get("usergroup") {
				writeJSON(w, http.StatusOK, apiResponse{"ok": true, "users": g.Users})
				return
			}
		}
		slackError(w, "no_such_subteam")
	case "users.info":
		u, ok := s.users[form.Get("user")]
		if !ok {
			slackError(w, "user_not_found")
			return
		}
		writeJSON(w, http.StatusOK, apiResponse{"ok": true, "user": userInfo(u, s.now())})
	case "files.getUploadURLExternal":
		s.getUploadURLExternal(w, form)
	case "files.completeUploadExternal":
		s.completeUploadExternal(w, form)
	case "apps.connections.open":
		if s.openErrN > 0 {
			s.openErrN--
			slackError(w, s.openErr)
			return
		}
		u := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/socket?ticket=" + strconv.FormatInt(s.seq+1, 10)
		s.seq++
		writeJSON(w, http.StatusOK, apiResponse{"ok": true, "url": u})
	default:
		if !s.serveViews(w, r, method, body, form) {
			slackError(w, "unknown_method")
		}
	}
}

// userInfo is a users.info user as Slack answers it: the zone's name, label
// and offset now. A user without a zone gets Slack's default, Los Angeles.
func userInfo(u User, now time.Time) apiResponse {
	tz := u.TZ
	if tz == "" {
		tz = "America/Los_Angeles"
	}
	label, offset := tz, 0
	if loc, err := time.LoadLocation(tz); err == nil {
		label, offset = now.In(loc).Zone()
	}
	return apiResponse{"id": u.ID, "team_id": "T0STUB", "name": u.Name, "real_name": u.Name,
		"tz": tz, "tz_label": label, "tz_offset": offset,
		"profile": apiResponse{"display_name": u.Name, "real_name": u.Name}}
}

// posted reports whether a message with ts was posted in channel; s.mu held.
func (s *Stub) posted(channel, ts string) bool {
	for _, m := range s.messages {
		if m.Channel == channel && m.TS == ts {
			return true
		}
	}
	return false
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func (s *Stub) serveResponse(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	id, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/response/"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var resp Response
	if err := json.Unmarshal(body, &resp); err != nil {
		// Slack answers a malformed response_url body with a 400 and a word.
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	resp.Raw = body
	s.mu.Lock()
	resp.Time = s.now()
	s.responses[id] = append(s.responses[id], resp)
	if ch := s.respIn[id]; ch != "" && resp.ResponseType == "in_channel" {
		s.messages = append(s.messages, Message{Channel: ch, TS: s.nextTS(), Text: resp.Text, Blocks: resp.Blocks, Time: resp.Time})
	}
	s.notify()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, apiResponse{"ok": true})
}
