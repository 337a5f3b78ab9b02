package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
)

// maxResponses is how many times Slack accepts a response_url.
const maxResponses = 5

// ErrTooManyResponses is returned after a response_url was used 5 times.
var ErrTooManyResponses = errors.New("slack allows 5 responses per command")

// ResponseURL answers a command through its response_url. It is safe for
// concurrent use.
type ResponseURL struct {
	url    string
	client *http.Client

	mu sync.Mutex
	n  int
}

// NewResponseURL returns a Responder posting to u with client (nil: a
// client with a 10 s timeout).
func NewResponseURL(u string, client *http.Client) *ResponseURL {
	if client == nil {
		client = defaultHTTPClient
	}
	return &ResponseURL{url: u, client: client}
}

var defaultHTTPClient = &http.Client{Timeout: 10 * time.Second}

var _ commands.Responder = (*ResponseURL)(nil)

// responseBody is what Slack reads from a response_url post.
type responseBody struct {
	ResponseType    string        `json:"response_type"`
	Text            string        `json:"text"`
	Blocks          []slack.Block `json:"blocks,omitempty"`
	ReplaceOriginal bool          `json:"replace_original"`
}

func replyBody(r commands.Reply) responseBody {
	b := responseBody{ResponseType: slack.ResponseTypeEphemeral, Text: r.Text, Blocks: r.Blocks,
		ReplaceOriginal: r.ReplaceOriginal}
	if r.InChannel {
		b.ResponseType = slack.ResponseTypeInChannel
	}
	return b
}

// Respond posts r. The URL itself never appears in errors: anyone holding
// it can post to the channel for 30 minutes.
func (ru *ResponseURL) Respond(ctx context.Context, r commands.Reply) error {
	ru.mu.Lock()
	if ru.n >= maxResponses {
		ru.mu.Unlock()
		return ErrTooManyResponses
	}
	ru.n++
	ru.mu.Unlock()
	if ru.url == "" {
		return errors.New("respond: the request carried no response_url")
	}
	body, err := json.Marshal(replyBody(r))
	if err != nil {
		return fmt.Errorf("respond: encode reply: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ru.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("respond: bad response_url")
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := ru.client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // drop the *url.Error and its URL
		}
		return fmt.Errorf("respond: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("respond: slack answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Responses is how many times Respond posted.
func (ru *ResponseURL) Responses() int {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	return ru.n
}
