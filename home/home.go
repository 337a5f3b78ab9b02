// Package home is poolbot's Home tab and forms: the view a user sees when
// they open the app in Slack (every pool they may see, with buttons for
// what their role allows) and the modals that stand in for long command
// lines. Every button and form becomes the /pool command it stands for and
// runs through the commands handler, so authorization, audit and replies are
// the typed command's.
package home

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/pool"
)

// Roles says what a requester may do; *commands.Handler is the real one.
type Roles interface {
	RoleFor(req commands.Request, pool string) commands.Role
}

// Costs is what the Home tab shows of cost; *cost.Tracker is the real one.
type Costs interface {
	Today(ctx context.Context, pool string) (amount float64, currency string, ok bool)
	// DailyCosts returns the last n days' costs, the oldest first.
	DailyCosts(ctx context.Context, pool string, n int) []float64
}

// Slack is the part of slack-go's client the Home tab uses.
type Slack interface {
	PublishViewContext(ctx context.Context, req slack.PublishViewContextRequest) (*slack.ViewResponse, error)
	OpenViewContext(ctx context.Context, triggerID string, view slack.ModalViewRequest) (*slack.ViewResponse, error)
	PostMessageContext(ctx context.Context, channel string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channel, ts string, options ...slack.MsgOption) (string, string, string, error)
}

// Store is what the Home tab reads of poolbot's state: whether a pool has
// settings saved (Restore is offered then), the alerts and the mutes.
// Implementations are safe for concurrent use.
type Store interface {
	SavedSettings(ctx context.Context, name string) (pool.Saved, error) // pool.ErrNotFound when none
	Alerts(ctx context.Context) ([]pool.Alert, error)
	Mutes(ctx context.Context) ([]pool.Mute, error)
}

// Options is what a Home works with. Slack, Roles, Service and Store are
// required.
type Options struct {
	Slack     Slack
	Roles     Roles
	Service   pool.Service
	Store     Store              // saved settings, firing alerts and mutes
	Scheduler commands.Scheduler // may be nil: no schedules
	Cost      Costs              // may be nil
	// PoolURL is a pool's page in Azure DevOps; nil: no link.
	PoolURL   func(pool.Pool) string
	Templates []commands.Template
	// Channel hears of the changes made from the tab and the forms, as a
	// channel hears of those typed in it; empty: only the user is told.
	Channel string
	Clock   clock.Clock
	Logger  *slog.Logger
	// PerMinute and Burst bound views.publish calls (Slack's Tier 4: 100
	// a minute); defaults 100 and 20.
	PerMinute int
	Burst     int
}

// Home serves the Home tab and the forms. It is safe for concurrent use.
type Home struct {
	o   Options
	pub *publisher
}

// New returns a Home.
func New(o Options) *Home {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PerMinute <= 0 {
		o.PerMinute = 100
	}
	if o.Burst <= 0 {
		o.Burst = 20
	}
	h := &Home{o: o}
	h.pub = newPublisher(o.Clock, o.PerMinute, o.Burst, h.publish, o.Logger)
	return h
}

// Opened publishes the Home tab of the user who opened it.
func (h *Home) Opened(_ context.Context, who commands.Request) { h.Refresh(who) }

// Refresh publishes who's Home tab soon: at once unless a publish for them
// is under way (then once more after it, however many refreshes came
// meanwhile) or Slack's rate limit says wait.
func (h *Home) Refresh(who commands.Request) {
	if who.UserID == "" || h.o.Slack == nil {
		return
	}
	h.pub.request(who)
}

// Idle waits until no publish is under way or queued, or ctx ends; tests
// and shutdown use it.
func (h *Home) Idle(ctx context.Context) error { return h.pub.idle(ctx) }

// publish builds who's Home tab and publishes it.
func (h *Home) publish(ctx context.Context, who commands.Request) error {
	view := h.View(ctx, who)
	_, err := h.o.Slack.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: who.UserID, View: view})
	if err != nil {
		return fmt.Errorf("publish the Home tab of %s: %w", who.UserID, err)
	}
	return nil
}

// publisher publishes Home tabs: one at a time per user, coalescing the
// refreshes that come while one is under way into one more, within a
// token bucket of PerMinute a minute.
type publisher struct {
	clk     clock.Clock
	publish func(ctx context.Context, who commands.Request) error
	log     *slog.Logger
	every   time.Duration // one token per every
	burst   float64

	mu      sync.Mutex
	tokens  float64
	filled  time.Time
	users   map[string]*pending
	running int
	quiet   chan struct{} // closed when running drops to 0
}

// pending is one user's refresh state.
type pending struct {
	who   commands.Request // the latest requester (their groups)
	dirty bool             // another refresh came while one ran
}

func newPublisher(clk clock.Clock, perMinute, burst int, publish func(context.Context, commands.Request) error, log *slog.Logger) *publisher {
	return &publisher{clk: clk, publish: publish, log: log, every: time.Minute / time.Duration(perMinute),
		burst: float64(burst), tokens: float64(burst), filled: clk.Now(), users: map[string]*pending{}}
}

func (p *publisher) request(who commands.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.users[who.UserID]; u != nil {
		u.who, u.dirty = who, true
		return
	}
	p.users[who.UserID] = &pending{who: who}
	if p.running == 0 {
		p.quiet = make(chan struct{})
	}
	p.running++
	go p.loop(who.UserID)
}

// loop publishes a user's tab until no refresh is left for them.
func (p *publisher) loop(user string) {
	defer func() {
		p.mu.Lock()
		p.running--
		if p.running == 0 {
			close(p.quiet)
		}
		p.mu.Unlock()
	}()
	for attempt := 0; ; {
		p.mu.Lock()
		u := p.users[user]
		who := u.who
		u.dirty = false
		wait := p.take()
		p.mu.Unlock()
		if wait > 0 {
			<-p.clk.After(wait)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := p.publish(ctx, who)
		cancel()
		var rl *slack.RateLimitedError
		if errors.As(err, &rl) && attempt < 3 {
			// Slack says when: wait that long, then publish what is
			// current then.
			attempt++
			p.log.Warn("views.publish rate limited", "user", user, "retry_after", rl.RetryAfter)
			<-p.clk.After(rl.RetryAfter)
			continue
		}
		if err != nil {
			p.log.Warn("Home tab", "user", user, "err", err)
		}
		attempt = 0
		p.mu.Lock()
		if !u.dirty {
			delete(p.users, user)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// take takes a token and returns how long to wait for it; p.mu held.
func (p *publisher) take() time.Duration {
	now := p.clk.Now()
	if el := now.Sub(p.filled); el > 0 {
		p.tokens = min(p.burst, p.tokens+float64(el)/float64(p.every))
	}
	p.filled = now
	p.tokens--
	if p.tokens >= 0 {
		return 0
	}
	return time.Duration(-p.tokens * float64(p.every))
}

func (p *publisher) idle(ctx context.Context) error {
	p.mu.Lock()
	if p.running == 0 {
		p.mu.Unlock()
		return nil
	}
	q := p.quiet
	p.mu.Unlock()
	select {
	case <-q:
		return p.idle(ctx)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Responder answers a command that came from the Home tab or a form in the
// user's direct messages with poolbot (the app's Messages tab): those have
// no response_url. A reply that replaces the original edits the last
// message it posted; one for the channel (a change) goes to Options.Channel.
func (h *Home) Responder(user string) commands.Responder { return &dm{h: h, user: user} }

type dm struct {
	h    *Home
	user string

	mu      sync.Mutex
	channel string
	ts      string
}

func (d *dm) Respond(ctx context.Context, r commands.Reply) error {
	opts := []slack.MsgOption{slack.MsgOptionText(r.Text, false)}
	if len(r.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(r.Blocks...))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.InChannel && !r.ReplaceOriginal && d.h.o.Channel != "" {
		if _, _, err := d.h.o.Slack.PostMessageContext(ctx, d.h.o.Channel, opts...); err != nil {
			return fmt.Errorf("announce in %s: %w", d.h.o.Channel, err)
		}
		return nil
	}
	if r.ReplaceOriginal && d.ts != "" {
		if _, _, _, err := d.h.o.Slack.UpdateMessageContext(ctx, d.channel, d.ts, opts...); err != nil {
			return fmt.Errorf("answer %s: %w", d.user, err)
		}
		return nil
	}
	ch, ts, err := d.h.o.Slack.PostMessageContext(ctx, d.user, opts...)
	if err != nil {
		return fmt.Errorf("answer %s: %w", d.user, err)
	}
	d.channel, d.ts = ch, ts
	return nil
}
