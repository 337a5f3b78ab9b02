package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
)

// Handler runs one command; commands.Handler is the real one.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, resp commands.Responder) error
}

const (
	workingText = "working on it…"
	busyText    = "poolbot is busy, try again in a minute"
	failedText  = "Sorry, something went wrong on poolbot's side (request %s). Nothing was changed by this message; try again or ask an admin to look at the logs."
	// groupsTTL is how long a user's groups are believed.
	groupsTTL = 5 * time.Minute
	// ackWait bounds how long a queued command waits for its own
	// acknowledgement to go out first.
	ackWait = 3 * time.Second
)

// dispatch is what HTTP and Socket Mode share: request ids, the group
// lookup, the worker pool and the running of a command.
type dispatch struct {
	handler Handler
	pool    *Workers
	groups  *groupCache
	client  *http.Client
	hosts   ResponseHosts // where response_urls may point
	replays Replays       // requests seen, by every replica; nil: not checked
	clk     clock.Clock
	log     *slog.Logger
	ids     idGen
	views   *viewsState // nil without a Home tab and forms (events.go)

	// refusals counts commands turned away since the last warning, so that
	// an overload logs once a second rather than once a request.
	refusals     atomic.Int64
	refusedSince atomic.Int64 // UnixNano of the last warning
}

// refusedSeq records a command turned away because the queue was full. Its
// id is formatted only for the once-a-second warning.
func (d *dispatch) refusedSeq(seq uint64, user string) {
	if n, ok := d.refusalDue(); ok {
		d.log.Warn("queue full; told users to try again", "refused", n, "last_request_id", d.ids.format(seq),
			"last_user", user)
	}
}

// refusalDue counts a refusal and, at most once a second, reports how many
// there were since the last warning.
func (d *dispatch) refusalDue() (int64, bool) {
	d.refusals.Add(1)
	now := time.Now().UnixNano()
	last := d.refusedSince.Load()
	if now-last < int64(time.Second) || !d.refusedSince.CompareAndSwap(last, now) {
		return 0, false
	}
	return d.refusals.Swap(0), true
}

func newDispatch(h Handler, pool *Workers, api *slack.Client, client *http.Client, clk clock.Clock, log *slog.Logger) *dispatch {
	return &dispatch{handler: h, pool: pool, client: client, clk: clk, log: log,
		groups: &groupCache{api: api, clk: clk, log: log, ttl: groupsTTL}, ids: newIDGen()}
}

// accept hands a request numbered seq (its id formatted by the worker) to
// the workers, unless the queue is full: then nothing is built, the refusal
// is counted and, for a button press, whose acknowledgement carries no
// text, the user is told through response_url. It returns the channel to
// close once the acknowledgement is handed to the transport (the job waits
// for it), or nil when the request was refused. Both transports take
// requests through here, so that the acknowledgement path is the same thin
// one.
func (d *dispatch) accept(req commands.Request, seq uint64, responseURL string) chan struct{} {
	return d.acceptOnce(req, seq, responseURL, signed{})
}

// uncheckedText tells the user a request was not run because the store
// could not say whether it was a repeat.
const uncheckedText = "poolbot could not check that this request is not a repeat (request %s), so it did nothing; try again in a minute."

// signed names a signed HTTP request: its timestamp and signature. The zero
// value names none (Socket Mode de-duplicates its envelopes itself).
type signed struct{ ts, sig string }

// acceptOnce is accept for a signed request, which the worker runs only if
// the store has not seen it before: the acknowledgement does not wait for
// the store.
func (d *dispatch) acceptOnce(req commands.Request, seq uint64, responseURL string, s signed) chan struct{} {
	if !d.pool.Full() {
		acked := make(chan struct{})
		if d.queue(req, seq, responseURL, acked, s) {
			return acked
		}
	}
	d.refusedSeq(seq, req.UserID)
	if req.Action != nil {
		req.RequestID = d.ids.format(seq)
		d.busy(req, responseURL)
	}
	return nil
}

// queue queues a command numbered seq (when not 0) whose id the worker
// formats, off the acknowledgement path. The job waits for acked to close
// (the acknowledgement handed to the transport, which sends it at once) so
// that "working on it" does not arrive after the answer. It reports false
// when the queue is full.
func (d *dispatch) queue(req commands.Request, seq uint64, responseURL string, acked <-chan struct{}, s signed) bool {
	return d.pool.Submit(func(ctx context.Context) {
		if seq != 0 {
			req.RequestID = d.ids.format(seq)
		}
		select {
		case <-acked:
		case <-time.After(ackWait):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			// Shutdown gave up on the commands before this one started:
			// its requester was told "working on it" and must hear more.
			d.notRun(ctx, req, responseURL)
			return
		}
		resp := NewResponseURL(responseURL, d.client, d.hosts)
		if s.ts != "" && d.replays != nil && !d.first(ctx, req, s, resp) {
			return
		}
		d.run(ctx, req, resp)
	})
}

// notRunText answers a command that shutdown stopped before it started.
const notRunText = "poolbot is shutting down (a restart or a deploy) and did not run this command (request %s); nothing was changed. Try again in a minute."

// notRun tells the requester their command was not run, through a context
// that outlives the command's.
func (d *dispatch) notRun(ctx context.Context, req commands.Request, responseURL string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := NewResponseURL(responseURL, d.client, d.hosts).Respond(rctx, commands.Reply{Text: fmt.Sprintf(notRunText, req.RequestID)}); err != nil {
		d.log.Warn("tell a requester their command was not run", "request_id", req.RequestID, "err", err)
	}
}

// first reports whether the signed request req is new, recording it in
// the store until its signature window ends (after which it would be
// refused as stale anyway). A request seen before (a replay, or Slack
// sending it again) runs nothing and is answered nothing: the first one
// was. When the store cannot say, the user is told and nothing runs: twice
// is worse than asking to try again.
func (d *dispatch) first(ctx context.Context, req commands.Request, s signed, resp *ResponseURL) bool {
	sec, _ := strconv.ParseInt(s.ts, 10, 64) // verified: a number
	ok, err := d.replays.Remember(ctx, "slack/"+s.ts+"/"+s.sig, d.clk.Now(), time.Unix(sec, 0).Add(signatureWindow))
	switch {
	case err != nil:
		d.log.Error("replay check failed; request not run", "request_id", req.RequestID, "user", req.UserID, "err", err)
		if rerr := resp.Respond(ctx, commands.Reply{Text: fmt.Sprintf(uncheckedText, req.RequestID)}); rerr != nil {
			d.log.Error("respond", "request_id", req.RequestID, "err", rerr)
		}
		return false
	case !ok:
		d.log.Warn("request seen before, not run again", "request_id", req.RequestID, "user", req.UserID,
			"text", req.Text, "action", actionID(req))
		return false
	}
	return true
}

func (d *dispatch) run(ctx context.Context, req commands.Request, resp *ResponseURL) {
	req.Groups = d.groups.of(ctx, req.UserID)
	start := time.Now()
	err := d.handler.Handle(ctx, req, resp)
	// Built only when something is logged: a logger With attributes
	// formats them at once, for every command, at any level.
	log := func() *slog.Logger {
		return d.log.With("request_id", req.RequestID, "user", req.UserID, "channel", req.ChannelID)
	}
	if err == nil {
		// The Handler logs the command's one line (app's does).
		if d.log.Enabled(ctx, slog.LevelDebug) {
			log().Debug("command done", "text", req.Text, "action", actionID(req), "took", time.Since(start))
		}
		return
	}
	log().Debug("command failed", "text", req.Text, "action", actionID(req), "err", err)
	if resp.Responses() == 0 {
		if rerr := resp.Respond(ctx, commands.Reply{Text: fmt.Sprintf(failedText, req.RequestID)}); rerr != nil {
			log().Error("respond", "err", rerr)
		}
	}
}

// busy tells the user through response_url that the queue is full; used
// where the acknowledgement itself cannot carry text (button presses).
func (d *dispatch) busy(req commands.Request, responseURL string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := NewResponseURL(responseURL, d.client, d.hosts).Respond(ctx, commands.Reply{Text: busyText}); err != nil {
			d.log.Warn("tell user poolbot is busy", "request_id", req.RequestID, "err", err)
		}
	}()
}

func actionID(r commands.Request) string {
	if r.Action == nil {
		return ""
	}
	return r.Action.ActionID
}

// ackBody is the immediate answer to a slash command.
type ackBody struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func ack(accepted bool) ackBody {
	if accepted {
		return ackBody{ResponseType: slack.ResponseTypeEphemeral, Text: workingText}
	}
	return ackBody{ResponseType: slack.ResponseTypeEphemeral, Text: busyText}
}

func commandRequest(c slack.SlashCommand, id string) commands.Request {
	return commands.Request{UserID: c.UserID, UserName: c.UserName, ChannelID: c.ChannelID, Text: c.Text,
		Source: "slack", RequestID: id, TriggerID: c.TriggerID}
}

// interactionRequest makes a request of a button press; false when the
// callback is not one (view submissions and the like are not poolbot's).
func interactionRequest(cb slack.InteractionCallback, id string) (commands.Request, bool) {
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
		return commands.Request{}, false
	}
	a := cb.ActionCallback.BlockActions[0]
	return commands.Request{UserID: cb.User.ID, UserName: cb.User.Name, ChannelID: cb.Channel.ID,
		Source: "slack", RequestID: id, Action: &commands.Action{ActionID: a.ActionID, Value: a.Value}}, true
}

// idGen makes short request ids: a random prefix per process and a counter.
type idGen struct {
	prefix string
	n      *atomic.Uint64
}

func newIDGen() idGen {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return idGen{prefix: hex.EncodeToString(b), n: new(atomic.Uint64)}
}

// take numbers a request; format makes its id when one is needed.
func (g idGen) take() uint64 { return g.n.Add(1) }

func (g idGen) format(seq uint64) string { return g.prefix + "-" + strconv.FormatUint(seq, 10) }

// groupCache knows which user groups each user is in, from one
// usergroups.list call every few minutes.
type groupCache struct {
	api *slack.Client
	clk clock.Clock
	log *slog.Logger
	ttl time.Duration

	mu      sync.Mutex
	byUser  map[string][]string
	fetched time.Time
	retryAt time.Time
}

// of returns user's group ids; none when Slack cannot say (deny by default
// does the rest).
func (g *groupCache) of(ctx context.Context, user string) []string {
	if g.api == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clk.Now()
	if (g.byUser == nil || now.Sub(g.fetched) >= g.ttl) && !now.Before(g.retryAt) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		groups, err := g.api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
		if err != nil {
			// Keep what we knew; ask again in a while rather than on every command.
			g.log.Warn("look up user groups", "err", err)
			g.retryAt = now.Add(30 * time.Second)
		} else {
			m := map[string][]string{}
			for _, ug := range groups {
				for _, u := range ug.Users {
					m[u] = append(m[u], ug.ID)
				}
			}
			g.byUser, g.fetched = m, now
		}
	}
	return append([]string(nil), g.byUser[user]...)
}
