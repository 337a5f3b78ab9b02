package slackstub

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// File is a file uploaded with Slack's external upload flow (files upload
// v2): files.getUploadURLExternal gives an upload URL and a file id, the
// bytes are POSTed to the URL, and files.completeUploadExternal shares the
// file in a channel (or keeps it private when none is given).
type File struct {
	ID       string
	Name     string // filename as declared
	Title    string
	AltText  string
	Data     []byte
	Channel  string // shared in; empty: private
	ThreadTS string
	Comment  string // initial_comment
	Path     string // where the stub saved it (SetFileDir); empty when not saved
	Time     time.Time
}

// upload is a file between getUploadURLExternal and completeUploadExternal.
type upload struct {
	name, alt string
	length    int
	data      []byte
	received  bool
	completed bool
}

// SetFileDir makes the stub write each shared file into dir (created on
// the first), named after its file name (a file of the same name is
// replaced), and set File.Path.
func (s *Stub) SetFileDir(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fileDir = dir
}

// Files returns the files completed so far, in order.
func (s *Stub) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]File(nil), s.files...)
}

// getUploadURLExternal: filename and length (bytes, above 0) are required.
// s.mu held.
func (s *Stub) getUploadURLExternal(w http.ResponseWriter, form url.Values) {
	name := form.Get("filename")
	n, err := strconv.Atoi(form.Get("length"))
	switch {
	case name == "" || form.Get("length") == "":
		slackError(w, "invalid_arguments")
		return
	case err != nil || n <= 0:
		slackError(w, "invalid_length")
		return
	}
	if s.uploads == nil {
		s.uploads = map[string]*upload{}
	}
	s.seq++
	id := fmt.Sprintf("F%09d", s.seq)
	s.uploads[id] = &upload{name: name, alt: form.Get("alt_txt"), length: n}
	writeJSON(w, http.StatusOK, apiResponse{"ok": true, "upload_url": s.srv.URL + "/upload/v1/" + id, "file_id": id})
}

// serveUpload takes a file's bytes at its upload URL, raw or as the "file"
// part of a multipart form, and answers as Slack does: 200 "OK - <bytes>".
func (s *Stub) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/v1/")
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	data, err := readUpload(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notify()
	s.calls["upload"]++
	u := s.uploads[id]
	if u == nil || u.completed {
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	if len(data) != u.length {
		// Slack keeps what it got; completing such a file fails.
		u.data, u.received = data, false
		http.Error(w, fmt.Sprintf("length %d differs from the %d declared", len(data), u.length), http.StatusBadRequest)
		return
	}
	u.data, u.received = data, true
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "OK - %d", len(data))
}

func readUpload(r *http.Request) ([]byte, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return io.ReadAll(r.Body)
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, fmt.Errorf("no file part in the form")
		}
		if err != nil {
			return nil, err
		}
		if p.FormName() == "file" {
			return io.ReadAll(p)
		}
	}
}

// completeUploadExternal shares the uploaded files: a message in the
// channel with the initial comment (or blocks) and the files. s.mu held.
func (s *Stub) completeUploadExternal(w http.ResponseWriter, form url.Values) {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(form.Get("files")), &files); err != nil || len(files) == 0 {
		slackError(w, "invalid_arguments")
		return
	}
	ch := form.Get("channel_id")
	if ch == "" {
		ch = form.Get("channels") // a comma-separated list; one is enough here
		ch, _, _ = strings.Cut(ch, ",")
	}
	for _, f := range files {
		u := s.uploads[f.ID]
		if u == nil || u.completed {
			slackError(w, "file_not_found")
			return
		}
		if !u.received {
			slackError(w, "file_upload_size_mismatch")
			return
		}
	}
	var out []apiResponse
	now := s.now()
	var ids []string
	for _, f := range files {
		u := s.uploads[f.ID]
		u.completed = true
		title := f.Title
		if title == "" {
			title = u.name
		}
		file := File{ID: f.ID, Name: u.name, Title: title, AltText: u.alt, Data: u.data, Channel: ch,
			ThreadTS: form.Get("thread_ts"), Comment: form.Get("initial_comment"), Time: now}
		if s.fileDir != "" && ch != "" {
			p := filepath.Join(s.fileDir, filepath.Base(u.name))
			if err := os.MkdirAll(s.fileDir, 0o755); err != nil {
				p = ""
			} else if err := os.WriteFile(p, u.data, 0o644); err == nil {
				file.Path = p
			}
		}
		s.files = append(s.files, file)
		ids = append(ids, f.ID)
		out = append(out, apiResponse{"id": f.ID, "title": title})
	}
	if ch != "" {
		m := Message{Channel: ch, TS: s.nextTS(), Text: form.Get("initial_comment"), ThreadTS: form.Get("thread_ts"),
			Blocks: rawOrNil(form.Get("blocks")), Files: ids, Time: now}
		s.messages = append(s.messages, m)
	}
	writeJSON(w, http.StatusOK, apiResponse{"ok": true, "files": out})
}

// File returns the completed file with the id; false when there is none.
func (s *Stub) File(id string) (File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		if f.ID == id {
			return f, true
		}
	}
	return File{}, false
}
