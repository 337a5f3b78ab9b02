package slackstub

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

// TestFileUploadV2: slack-go's files upload v2 (getUploadURLExternal, the
// upload, completeUploadExternal) against the stub: the file is kept byte
// for byte, shared in the channel with its comment, and saved to the file
// directory; a completion of an unknown or unfinished upload is refused.
func TestFileUploadV2(t *testing.T) {
	s := New()
	defer s.Close()
	dir := t.TempDir()
	s.SetFileDir(dir)
	api := client(s)
	ctx := context.Background()
	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0, 1, 2}, 300)

	f, err := api.UploadFileContext(ctx, slack.UploadFileParameters{Reader: bytes.NewReader(png), FileSize: len(png),
		Filename: "waits-linux-ci.png", Title: "Waits of linux-ci", InitialComment: "linux-ci: p95 wait 4m", Channel: "C1"})
	if err != nil {
		t.Fatal(err)
	}
	if f.ID == "" || f.Title != "Waits of linux-ci" {
		t.Errorf("file summary %+v", f)
	}
	got, ok := s.File(f.ID)
	if !ok || !bytes.Equal(got.Data, png) || got.Channel != "C1" || got.Name != "waits-linux-ci.png" || got.Comment != "linux-ci: p95 wait 4m" {
		t.Fatalf("stored file %+v (%d bytes), ok %v", got, len(got.Data), ok)
	}
	if saved, err := os.ReadFile(got.Path); err != nil || !bytes.Equal(saved, png) || !strings.HasPrefix(got.Path, dir) {
		t.Errorf("saved at %q: %v", got.Path, err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].Channel != "C1" || msgs[0].Text != "linux-ci: p95 wait 4m" || len(msgs[0].Files) != 1 || msgs[0].Files[0] != f.ID {
		t.Errorf("share message %+v", msgs)
	}
	for _, m := range []string{"files.getUploadURLExternal", "upload", "files.completeUploadExternal"} {
		if s.Calls(m) != 1 {
			t.Errorf("%s called %d times, want 1", m, s.Calls(m))
		}
	}

	// Completing twice, or a file never uploaded, is refused.
	if _, err := api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: f.ID}}, Channel: "C1"}); err == nil || err.Error() != "file_not_found" {
		t.Errorf("second completion: %v, want file_not_found", err)
	}
	u, err := api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: "x.png", FileSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: u.FileID}}, Channel: "C1"}); err == nil || err.Error() != "file_upload_size_mismatch" {
		t.Errorf("completion before the upload: %v", err)
	}
	// A length that is not a positive number.
	resp, err := http.PostForm(s.APIURL()+"files.getUploadURLExternal", url.Values{"token": {"x"}, "filename": {"a.png"}, "length": {"0"}})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body.OK || body.Error != "invalid_length" {
		t.Errorf("length 0: %+v, want invalid_length", body)
	}
	if len(s.Files()) != 1 || len(s.Messages()) != 1 {
		t.Errorf("refused calls changed the files or messages: %d files, %d messages", len(s.Files()), len(s.Messages()))
	}
}
