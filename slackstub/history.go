package slackstub

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Refuse makes the given methods answer {"ok":false,"error":code} until
// refused again with code "" (which lifts it). "missing_scope" carries
// Slack's needed and provided fields, as a token without a scope gets.
func (s *Stub) Refuse(code string, methods ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range methods {
		if code == "" {
			delete(s.refuse, m)
		} else {
			s.refuse[m] = code
		}
	}
}

// RefuseIn is Refuse for calls naming one channel only (a channel poolbot
// was removed from, say); code "" lifts it.
func (s *Stub) RefuseIn(code, channel string, methods ...string) {
	for i, m := range methods {
		methods[i] = m + "@" + channel
	}
	s.Refuse(code, methods...)
}

// neededScope is the scope Slack names in a missing_scope answer.
var neededScope = map[string]string{
	"conversations.history": "channels:history,groups:history,mpim:history,im:history",
	"conversations.replies": "channels:history,groups:history,mpim:history,im:history",
	"chat.postMessage":      "chat:write",
	"chat.update":           "chat:write",
}

func refuseWith(w http.ResponseWriter, method, code string) {
	resp := apiResponse{"ok": false, "error": code}
	if code == "missing_scope" {
		resp["needed"] = neededScope[method]
		resp["provided"] = "commands,chat:write,chat:write.public,usergroups:read,users:read"
	}
	writeJSON(w, http.StatusOK, resp)
}

// validMetadata checks what Slack checks of chat.postMessage's metadata: an
// object with a non-empty event_type and an event_payload object.
func validMetadata(raw json.RawMessage) bool {
	var m struct {
		EventType    string          `json:"event_type"`
		EventPayload json.RawMessage `json:"event_payload"`
	}
	if json.Unmarshal(raw, &m) != nil || m.EventType == "" {
		return false
	}
	var payload map[string]any
	return json.Unmarshal(m.EventPayload, &payload) == nil && payload != nil
}

// tsMicros reads a Slack timestamp ("1711789200.000123", "1711789200")
// as microseconds; a float would lose the last digits.
func tsMicros(ts string) (int64, bool) {
	secPart, fracPart, _ := strings.Cut(ts, ".")
	sec, err := strconv.ParseInt(secPart, 10, 64)
	if err != nil || sec < 0 {
		return 0, false
	}
	var frac int64
	if fracPart != "" {
		if len(fracPart) > 6 {
			fracPart = fracPart[:6]
		}
		f, err := strconv.ParseInt(fracPart+strings.Repeat("0", 6-len(fracPart)), 10, 64)
		if err != nil || f < 0 {
			return 0, false
		}
		frac = f
	}
	return sec*1_000_000 + frac, true
}

// window is the oldest/latest/inclusive/limit/cursor of a history read.
type window struct {
	oldest, latest int64 // microseconds; latest 0 means now (no bound)
	inclusive      bool
	limit          int
	after          int64 // from the cursor: only messages past this ts in reading order
	hasCursor      bool
}

// readWindow parses the paging arguments as Slack does; a bad one gives
// Slack's error code.
func readWindow(form url.Values) (window, string) {
	w := window{limit: 100, inclusive: form.Get("inclusive") == "1" || form.Get("inclusive") == "true"}
	if v := form.Get("oldest"); v != "" {
		t, ok := tsMicros(v)
		if !ok {
			return w, "invalid_ts_oldest"
		}
		w.oldest = t
	}
	if v := form.Get("latest"); v != "" {
		t, ok := tsMicros(v)
		if !ok {
			return w, "invalid_ts_latest"
		}
		w.latest = t
	}
	if v := form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return w, "invalid_limit"
		}
		// Slack's maximum is 999; below 1 it uses its default.
		switch {
		case n > 999:
			w.limit = 999
		case n >= 1:
			w.limit = n
		}
	}
	if v := form.Get("cursor"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		ts, ok := strings.CutPrefix(string(raw), "next:")
		if err != nil || !ok {
			return w, "invalid_cursor"
		}
		t, ok := tsMicros(ts)
		if !ok {
			return w, "invalid_cursor"
		}
		w.after, w.hasCursor = t, true
	}
	return w, ""
}

func (w window) holds(ts int64) bool {
	if w.oldest != 0 && (ts < w.oldest || (ts == w.oldest && !w.inclusive)) {
		return false
	}
	if w.latest != 0 && (ts > w.latest || (ts == w.latest && !w.inclusive)) {
		return false
	}
	return true
}

func cursorAfter(ts string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("next:" + ts))
}

type stamped struct {
	m  Message
	ts int64
}

// page cuts msgs (in reading order) to w's cursor and limit and writes the
// answer with has_more and response_metadata.next_cursor.
func (w window) page(rw http.ResponseWriter, msgs []stamped, newestFirst bool, render func(Message) apiResponse, extra apiResponse) {
	out := []apiResponse{}
	more := false
	var last string
	for _, m := range msgs {
		if w.hasCursor && ((newestFirst && m.ts >= w.after) || (!newestFirst && m.ts <= w.after)) {
			continue
		}
		if len(out) == w.limit {
			more = true
			break
		}
		out = append(out, render(m.m))
		last = m.m.TS
	}
	next := ""
	if more {
		next = cursorAfter(last)
	}
	resp := apiResponse{"ok": true, "messages": out, "has_more": more,
		"response_metadata": apiResponse{"next_cursor": next}}
	for k, v := range extra {
		resp[k] = v
	}
	writeJSON(rw, http.StatusOK, resp)
}

// render is a message as conversations.history and .replies show it, with
// its latest edit applied; metadata only when asked for. s.mu held.
func (s *Stub) render(m Message, metadata bool) apiResponse {
	text, blocks := m.Text, m.Blocks
	for _, u := range s.updates {
		if u.Channel == m.Channel && u.TS == m.TS {
			text, blocks = u.Text, u.Blocks
		}
	}
	r := apiResponse{"type": "message", "user": "U0POOLBOT", "bot_id": "B0POOLBOT", "text": text, "ts": m.TS}
	if blocks != nil {
		r["blocks"] = blocks
	}
	if m.ThreadTS != "" {
		r["thread_ts"] = m.ThreadTS
	}
	if n := s.replyCount(m); n > 0 {
		r["thread_ts"] = m.TS
		r["reply_count"] = n
	}
	if len(m.Files) > 0 {
		var fs []apiResponse
		for _, id := range m.Files {
			f := apiResponse{"id": id}
			for _, sf := range s.files {
				if sf.ID == id {
					f["name"], f["title"] = sf.Name, sf.Title
				}
			}
			fs = append(fs, f)
		}
		r["files"] = fs
	}
	if metadata && m.Metadata != nil {
		r["metadata"] = m.Metadata
	}
	return r
}

func (s *Stub) replyCount(parent Message) int {
	if parent.ThreadTS != "" && parent.ThreadTS != parent.TS {
		return 0
	}
	n := 0
	for _, m := range s.messages {
		if m.Channel == parent.Channel && m.ThreadTS == parent.TS && m.TS != parent.TS {
			n++
		}
	}
	return n
}

func wantsMetadata(form url.Values) bool {
	v := form.Get("include_all_metadata")
	return v == "1" || v == "true"
}

// serveHistory is conversations.history: the channel's top-level messages
// in [oldest, latest], newest first, limit at a time. s.mu held.
func (s *Stub) serveHistory(w http.ResponseWriter, form url.Values) {
	ch := form.Get("channel")
	if ch == "" {
		slackError(w, "channel_not_found")
		return
	}
	win, code := readWindow(form)
	if code != "" {
		slackError(w, code)
		return
	}
	var msgs []stamped
	for _, m := range s.messages {
		if m.Channel != ch || (m.ThreadTS != "" && m.ThreadTS != m.TS) {
			continue
		}
		if ts, ok := tsMicros(m.TS); ok && win.holds(ts) {
			msgs = append(msgs, stamped{m, ts})
		}
	}
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].ts > msgs[j].ts })
	meta := wantsMetadata(form)
	win.page(w, msgs, true, func(m Message) apiResponse { return s.render(m, meta) }, apiResponse{"pin_count": 0})
}

// serveReplies is conversations.replies: the thread of ts, its parent first,
// oldest first, within [oldest, latest]. s.mu held.
func (s *Stub) serveReplies(w http.ResponseWriter, form url.Values) {
	ch, ts := form.Get("channel"), form.Get("ts")
	if ch == "" {
		slackError(w, "channel_not_found")
		return
	}
	if ts == "" {
		slackError(w, "invalid_arguments")
		return
	}
	win, code := readWindow(form)
	if code != "" {
		slackError(w, code)
		return
	}
	// ts may name the parent or any reply: the thread is the parent's.
	root := ""
	for _, m := range s.messages {
		if m.Channel == ch && m.TS == ts {
			root = m.TS
			if m.ThreadTS != "" {
				root = m.ThreadTS
			}
		}
	}
	if root == "" {
		slackError(w, "thread_not_found")
		return
	}
	var msgs []stamped
	for _, m := range s.messages {
		if m.Channel != ch || (m.TS != root && m.ThreadTS != root) {
			continue
		}
		if t, ok := tsMicros(m.TS); ok && (m.TS == root || win.holds(t)) {
			msgs = append(msgs, stamped{m, t})
		}
	}
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].ts < msgs[j].ts })
	meta := wantsMetadata(form)
	win.page(w, msgs, false, func(m Message) apiResponse { return s.render(m, meta) }, nil)
}
