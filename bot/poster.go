// Package bot is poolbot's Slack transport: slash commands and button
// presses in (HTTP endpoints or Socket Mode), replies through response_url,
// and messages out through a paced poster and the store's outbox.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
)

// postSpacing is Slack's chat.postMessage allowance: about one message per
// second per channel.
const postSpacing = time.Second

// Poster posts and edits messages with slack-go, one post per second per
// channel, and keeps off a channel (or chat.update) for as long as a 429's
// Retry-After asks.
type Poster struct {
	api *slack.Client
	clk clock.Clock
	log *slog.Logger

	mu    sync.Mutex
	next  map[string]time.Time   // gate key → earliest instant of the next call
	lanes map[string]*sync.Mutex // one post at a time per channel
}

// NewPoster returns a poster using api (whose API URL may point at a stub).
func NewPoster(api *slack.Client, clk clock.Clock, log *slog.Logger) *Poster {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Poster{api: api, clk: clk, log: log, next: map[string]time.Time{}, lanes: map[string]*sync.Mutex{}}
}

// reserve books the next slot of gate and returns when it is; spacing is
// added after it for the call after.
func (p *Poster) reserve(gate string, spacing time.Duration) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := p.clk.Now()
	if n := p.next[gate]; n.After(at) {
		at = n
	}
	p.next[gate] = at.Add(spacing)
	return at
}

// backOff keeps callers off gate until now+d.
func (p *Poster) backOff(gate string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	until := p.clk.Now().Add(d)
	if until.After(p.next[gate]) {
		p.next[gate] = until
	}
}

func (p *Poster) waitUntil(ctx context.Context, at time.Time) error {
	d := at.Sub(p.clk.Now())
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-p.clk.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rateLimited records a 429 against gate and reports whether err was one.
func (p *Poster) rateLimited(gate string, err error) bool {
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		return false
	}
	d := rl.RetryAfter
	if d <= 0 {
		d = postSpacing
	}
	p.backOff(gate, d)
	p.log.Warn("slack rate limit", "gate", gate, "retry_after", d)
	return true
}

func msgOptions(text string, blocks []slack.Block) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if len(blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(blocks...))
	}
	return opts
}

// Post posts a message, in the thread of threadTS when it is set, and
// returns its ts. A 429 is returned (errors.As finds *slack.RateLimitedError)
// and keeps later posts to the channel back for its Retry-After.
func (p *Poster) Post(ctx context.Context, channel, text string, blocks []slack.Block, threadTS string) (string, error) {
	return p.post(ctx, channel, text, blocks, threadTS, nil, nil)
}

// post is Post with meta, when set, as the message's metadata, and before,
// when set, run once the channel's slot has come and just before Slack is
// called: an error from it stops the post (Slack is not called).
func (p *Poster) post(ctx context.Context, channel, text string, blocks []slack.Block, threadTS string,
	meta *slack.SlackMetadata, before func() error) (string, error) {
	gate := "post:" + channel
	// Posts to a channel go one after another, each a second after Slack
	// answered the one before, however many callers there are.
	p.mu.Lock()
	lane := p.lanes[channel]
	if lane == nil {
		lane = new(sync.Mutex)
		p.lanes[channel] = lane
	}
	p.mu.Unlock()
	lane.Lock()
	defer lane.Unlock()
	if err := p.waitUntil(ctx, p.reserve(gate, postSpacing)); err != nil {
		return "", fmt.Errorf("post to %s: %w", channel, err)
	}
	if before != nil {
		if err := before(); err != nil {
			return "", fmt.Errorf("post to %s: %w", channel, err)
		}
	}
	opts := msgOptions(text, blocks)
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	if meta != nil {
		opts = append(opts, slack.MsgOptionMetadata(*meta))
	}
	_, ts, err := p.api.PostMessageContext(ctx, channel, opts...)
	// Count the second from when Slack had it, not from the slot: a slow
	// call must not squeeze the next one closer.
	p.backOff(gate, postSpacing)
	if err != nil {
		p.rateLimited(gate, err)
		return "", fmt.Errorf("post to %s: %w", channel, err)
	}
	return ts, nil
}

// Update edits the message ts in channel. chat.update is limited per
// workspace, not per channel, so only a 429 holds it back.
func (p *Poster) Update(ctx context.Context, channel, ts, text string, blocks []slack.Block) error {
	const gate = "chat.update"
	if err := p.waitUntil(ctx, p.reserve(gate, 0)); err != nil {
		return fmt.Errorf("update %s in %s: %w", ts, channel, err)
	}
	opts := msgOptions(text, blocks)
	if len(blocks) == 0 {
		// An update without blocks must clear the old ones, or Slack keeps
		// showing them over the new text.
		opts = append(opts, slack.MsgOptionBlocks())
	}
	if _, _, _, err := p.api.UpdateMessageContext(ctx, channel, ts, opts...); err != nil {
		p.rateLimited(gate, err)
		return fmt.Errorf("update %s in %s: %w", ts, channel, err)
	}
	return nil
}
