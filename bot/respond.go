package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
)

// maxResponses is how many times Slack accepts a response_url.
const maxResponses = 5

// ErrTooManyResponses is returned after a response_url was used 5 times.
var ErrTooManyResponses = errors.New("slack allows 5 responses per command")

// SlackResponseHost is where Slack's response_urls point, always over https.
const SlackResponseHost = "hooks.slack.com"

// ErrResponseHost is returned for a response_url that poolbot will not
// post to: not https://hooks.slack.com nor a host the configuration names.
var ErrResponseHost = errors.New("response_url is not Slack's (https://" + SlackResponseHost +
	"); a local Slack must be named in [slack] response_url_hosts")

// ResponseHosts says which response_urls poolbot posts to. The zero value
// allows only https://hooks.slack.com. A signed payload is trusted with
// its text, not with where poolbot sends its answers: a URL elsewhere
// would have poolbot post (and, with redirects, fetch) wherever it said.
type ResponseHosts struct {
	extra map[string]bool // host or host:port, any scheme of http and https
}

// NewResponseHosts allows, beside Slack's, the hosts given (host or
// host:port; a bare host allows any port), over http or https: the local
// Slack of the demo and of tests.
func NewResponseHosts(extra ...string) ResponseHosts {
	h := ResponseHosts{extra: map[string]bool{}}
	for _, e := range extra {
		h.extra[strings.ToLower(e)] = true
	}
	return h
}

// Check returns nil when u may be posted to, else ErrResponseHost. The
// error never carries the URL: anyone holding it can post to the channel.
func (h ResponseHosts) Check(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.User != nil || p.Host == "" {
		return ErrResponseHost
	}
	host := strings.ToLower(p.Host)
	switch {
	case p.Scheme == "https" && (host == SlackResponseHost || host == SlackResponseHost+":443"):
		return nil
	case p.Scheme != "https" && p.Scheme != "http":
		return ErrResponseHost
	case h.extra[host] || h.extra[strings.ToLower(p.Hostname())]:
		return nil
	}
	return ErrResponseHost
}

// ResponseURL answers a command through its response_url. It is safe for
// concurrent use.
type ResponseURL struct {
	url    string
	client *http.Client
	hosts  ResponseHosts

	mu sync.Mutex
	n  int
}

// NewResponseURL returns a Responder posting to u with client (nil: a
// client with a 10 s timeout), if hosts allows u. Redirects are never
// followed, whatever client's policy.
func NewResponseURL(u string, client *http.Client, hosts ResponseHosts) *ResponseURL {
	if client == nil {
		client = defaultHTTPClient
	}
	c := *client
	c.CheckRedirect = refuseRedirect
	return &ResponseURL{url: u, client: &c, hosts: hosts}
}

// refuseRedirect makes a redirect the answer: Slack does not redirect a
// response_url post, so a 3xx is an error, never a second request.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

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
	if err := ru.hosts.Check(ru.url); err != nil {
		return fmt.Errorf("respond: %w", err)
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
