package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

// Sender drains the store's outbox into Slack: posts, edits of earlier
// posts (by Key) and replies in their threads. Each channel's messages go in
// outbox order; a 429 puts the message back with its Retry-After and holds
// the rest of that channel behind it, so nothing is lost or reordered. A
// message leaves the outbox only when Slack has it (MarkSent). Every post
// carries its outbox id in Slack message metadata, so that a run that
// inherits a post possibly made by a process that died before MarkSent
// finds it in Slack instead of posting it again (recovery.go).
type Sender struct {
	st  OutboxStore
	p   *Poster
	clk clock.Clock
	log *slog.Logger

	// Batch is how many pending messages one round reads (default 100).
	Batch int
	// Poll is how long Run waits when the outbox is empty (default 1s).
	Poll time.Duration
	// GiveUp is how many attempts a message Slack refuses outright (a
	// channel that does not exist, say) gets before it is set aside as a
	// dead letter (kept in the store, out of the way of what follows it), so
	// that it cannot hold its channel back for ever (default 5).
	GiveUp int
	// AlertChannel, when set, is told once per channel and reason when
	// Slack refuses messages for good, with what to do about it.
	AlertChannel string
	// OnRefused, when set, is called for each message set aside (metrics).
	OnRefused func(m pool.OutboxMessage, reason string)

	mu    sync.Mutex // guards term, used by the channel goroutines
	round sync.Mutex // one round at a time: Run and Flush may overlap
	wake  chan struct{}
	// held keeps a channel back until a failed message of it may go again:
	// the store hides that message until then, and what follows it in the
	// channel must not overtake it.
	held map[string]time.Time
	// term is this run's record of its own attempts (recovery.go).
	term *term
	// alerted holds the channel/reason pairs AlertChannel was told about,
	// until a message of that channel goes through again; guarded by mu.
	alerted map[string]bool
}

// OutboxStore is the part of poolbot's store the sender uses: the outbox, and
// its own keys in the KV for the message or file in flight per channel
// (recovery.go, files.go). Safe for concurrent use, as pool.Store promises.
type OutboxStore interface {
	pool.Outbox
	pool.KV
}

// NewSender returns a sender of st's outbox through p.
func NewSender(st OutboxStore, p *Poster, clk clock.Clock, log *slog.Logger) *Sender {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Sender{st: st, p: p, clk: clk, log: log, Batch: 100, Poll: time.Second, GiveUp: 5,
		wake: make(chan struct{}, 1), held: map[string]time.Time{}, alerted: map[string]bool{}}
}

// Kick makes Run look at the outbox now rather than at its next poll.
func (s *Sender) Kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends until ctx ends; it returns nil then.
func (s *Sender) Run(ctx context.Context) error {
	s.beginTerm(true)
	for {
		res, err := s.sendRound(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := s.Poll
		switch {
		case err != nil:
			s.log.Error("outbox", "err", err)
		case res.sent > 0 && res.left > 0:
			wait = 0
		case !res.retryAt.IsZero():
			if d := res.retryAt.Sub(s.clk.Now()); d < wait {
				wait = d
			}
		}
		if wait <= 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-s.clk.After(wait):
		}
	}
}

// Flush sends everything pending, waiting out rate limits, until the outbox
// is empty or ctx ends. Use it at shutdown. (Messages held back by a
// previous process's 429 stay hidden in the store until their time; they
// go with the next Run.)
func (s *Sender) Flush(ctx context.Context) error {
	s.beginTerm(false)
	for {
		res, err := s.sendRound(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("flush outbox: %w", ctx.Err())
		}
		if err != nil {
			return fmt.Errorf("flush outbox: %w", err)
		}
		if res.left == 0 && res.held == 0 {
			return nil
		}
		if res.sent > 0 {
			continue
		}
		// Nothing could go: wait for the earliest back-off to end.
		wait := time.Second
		if !res.retryAt.IsZero() {
			wait = max(res.retryAt.Sub(s.clk.Now()), 0)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush outbox: %d messages left: %w", res.left, ctx.Err())
		case <-s.clk.After(wait):
		}
	}
}

type roundResult struct {
	sent    int       // messages that left the outbox
	left    int       // messages still pending after the round
	retryAt time.Time // earliest NotBefore of what was held back
	held    int       // channels held back by a failed message
}

// sendRound reads one batch and sends it, each channel in its own goroutine
// so that one channel's pacing does not hold the others.
func (s *Sender) sendRound(ctx context.Context) (roundResult, error) {
	s.round.Lock()
	defer s.round.Unlock()
	msgs, err := s.st.Pending(ctx, s.Batch)
	if err != nil {
		return roundResult{}, fmt.Errorf("read outbox: %w", err)
	}
	var (
		order   []string
		held    int
		heldTil time.Time
	)
	byChannel := map[string][]pool.OutboxMessage{}
	now := s.clk.Now()
	for _, m := range msgs {
		if until, ok := s.held[m.Channel]; ok {
			if until.After(now) {
				held++
				if heldTil.IsZero() || until.Before(heldTil) {
					heldTil = until
				}
				continue
			}
			delete(s.held, m.Channel)
		}
		if _, ok := byChannel[m.Channel]; !ok {
			order = append(order, m.Channel)
		}
		byChannel[m.Channel] = append(byChannel[m.Channel], m)
	}
	var (
		mu  sync.Mutex
		res = roundResult{left: held, retryAt: heldTil}
		wg  sync.WaitGroup
	)
	for _, ch := range order {
		wg.Go(func() {
			sent, retryAt := s.sendChannel(ctx, byChannel[ch])
			mu.Lock()
			defer mu.Unlock()
			res.sent += sent
			res.left += len(byChannel[ch]) - sent
			if !retryAt.IsZero() {
				s.held[ch] = retryAt
				if res.retryAt.IsZero() || retryAt.Before(res.retryAt) {
					res.retryAt = retryAt
				}
			}
		})
	}
	wg.Wait()
	// The store hides held messages from Pending: count the channels still
	// held so that Flush waits for them.
	for _, until := range s.held {
		if until.After(s.clk.Now()) {
			res.held++
			if res.retryAt.IsZero() || until.Before(res.retryAt) {
				res.retryAt = until
			}
		}
	}
	if len(msgs) == s.Batch && res.left == 0 {
		res.left = 1 // a full batch: there may be more
	}
	return res, nil
}

// sendChannel sends one channel's messages in order and stops at the first
// that cannot go now, returning how many went and when to try again.
func (s *Sender) sendChannel(ctx context.Context, msgs []pool.OutboxMessage) (int, time.Time) {
	sent := 0
	for i, m := range msgs {
		if ctx.Err() != nil {
			return sent, time.Time{}
		}
		if m.NotBefore.After(s.clk.Now()) {
			return sent, m.NotBefore
		}
		if m.Op == "update" && laterUpdate(msgs[i+1:], m.Key) {
			// A later edit of the same message supersedes this one.
			if err := s.st.MarkSent(ctx, m.ID, pool.Sent{Key: m.Key, Channel: m.Channel}); err != nil {
				s.log.Error("outbox: mark superseded update", "id", m.ID, "err", err)
				return sent, time.Time{}
			}
			sent++
			continue
		}
		ok, retryAt := s.send(ctx, m)
		if !ok {
			return sent, retryAt
		}
		sent++
	}
	return sent, time.Time{}
}

func laterUpdate(msgs []pool.OutboxMessage, key string) bool {
	for _, m := range msgs {
		if m.Op == "update" && m.Key == key {
			return true
		}
	}
	return false
}

// send delivers one message and records it; false means it stays pending
// until retryAt.
func (s *Sender) send(ctx context.Context, m pool.OutboxMessage) (bool, time.Time) {
	log := s.log.With("outbox_id", m.ID, "op", m.Op, "key", m.Key, "channel", m.Channel)
	if m.Op == "file" {
		return s.sendFile(ctx, log, m) // files.go
	}
	blocks, err := parseBlocks(m.Blocks)
	if err != nil {
		// Text alone still tells the channel what happened.
		log.Error("outbox: bad blocks, sending text only", "err", err)
		blocks = nil
	}
	var done pool.Sent
	switch m.Op {
	case "post":
		if prev, perr := s.st.SentMessage(ctx, m.Key); perr == nil && prev.TS != "" {
			// Slack has a message under this key already: a later edit was
			// posted in its place while this post was refused. Posting it
			// now would show older news twice.
			log.Info("outbox: superseded by a message already posted under its key; not posting it")
			done = prev
			break
		}
		done, err = s.post(ctx, log, m, m.Channel, blocks, "")
	case "update", "reply":
		var parent pool.Sent
		parent, err = s.st.SentMessage(ctx, m.Key)
		switch {
		case errors.Is(err, pool.ErrNotFound) || (err == nil && parent.TS == ""):
			// Its post never made it (dropped, or posted before this store
			// existed): post this one instead, so that nothing is lost.
			log.Warn("outbox: no message to edit or thread under; posting it")
			// MarkSent records it as the key's message for later edits.
			done, err = s.post(ctx, log, m, m.Channel, blocks, "")
		case err != nil:
			err = fmt.Errorf("look up sent message %s: %w", m.Key, err)
		case m.Op == "update":
			err = s.p.Update(ctx, parent.Channel, parent.TS, m.Text, blocks)
			done = parent
		default:
			_, err = s.post(ctx, log, m, parent.Channel, blocks, parent.TS)
			done = parent // the thread's parent stays what Key names
		}
	default:
		log.Error("outbox: unknown op; dropping")
		err = nil
		done = pool.Sent{Key: m.Key, Channel: m.Channel}
	}
	if err != nil {
		return false, s.retry(ctx, log, m, err)
	}
	// Slack has the message now: record it even if ctx was cancelled
	// meanwhile (a lost leader lock, a shutdown), or a restart would send it
	// again.
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.st.MarkSent(markCtx, m.ID, done); err != nil {
		// Slack has it but the store does not know. This run remembers the
		// ts and only marks it next round; a restart finds the post by its
		// metadata (recovery.go). Stop this channel for the round.
		log.Error("outbox: mark sent", "err", err)
		return false, time.Time{}
	}
	s.currentTerm().forget(m.ID)
	s.mu.Lock()
	for k := range s.alerted {
		if strings.HasPrefix(k, m.Channel+"/") {
			delete(s.alerted, k) // the channel works again: a new outage is told anew
		}
	}
	s.mu.Unlock()
	return true, time.Time{}
}

// refuse sets m aside as a dead letter: kept in the store with Slack's
// reason, listed by `/pool outbox`, sent again by `/pool outbox retry` once
// the cause is fixed. What follows it in its channel goes on.
func (s *Sender) refuse(ctx context.Context, log *slog.Logger, m pool.OutboxMessage, reason string, cause error) {
	if err := s.st.Refuse(ctx, m.ID, reason, s.clk.Now()); err != nil {
		// It stays pending and is tried again later: nothing is lost.
		log.Error("outbox: record refused message", "err", err)
		return
	}
	log.Error("outbox: Slack refuses the message for good; kept as refused, /pool outbox retry sends it again",
		"attempts", m.Attempts+1, "reason", reason, "hint", refusalHint(reason), "err", cause)
	if s.OnRefused != nil {
		s.OnRefused(m, reason)
	}
	if s.AlertChannel == "" || s.AlertChannel == m.Channel || strings.HasPrefix(m.Key, deadLetterKeyPrefix) {
		return // never an alert about the alert channel itself
	}
	k := m.Channel + "/" + reason
	s.mu.Lock()
	told := s.alerted[k]
	s.alerted[k] = true
	s.mu.Unlock()
	if told {
		return
	}
	text := fmt.Sprintf(":warning: Slack refuses poolbot's messages to <#%s>: %s. %s "+
		"They are kept: `/pool outbox` lists them and `/pool outbox retry` sends them again once this is fixed.",
		m.Channel, reason, capitalizeFirst(refusalHint(reason)))
	now := s.clk.Now()
	key := fmt.Sprintf("%s%s/%s/%d", deadLetterKeyPrefix, m.Channel, reason, now.UnixNano())
	if _, err := s.st.Enqueue(ctx, pool.OutboxMessage{Channel: s.AlertChannel, Key: key, Op: "post", Text: text, Created: now}); err != nil {
		log.Error("outbox: queue the refusal alert", "err", err)
	}
}

// deadLetterKeyPrefix marks the alerts about refused messages.
const deadLetterKeyPrefix = "outbox/refused/"

// refusalHint says what fixes a permanent refusal.
func refusalHint(code string) string {
	switch code {
	case "not_in_channel":
		return "invite poolbot to the channel."
	case "channel_not_found":
		return "the channel does not exist, or poolbot cannot see it (a private channel it was not invited to)."
	case "is_archived":
		return "the channel is archived; unarchive it or route the messages elsewhere in the config."
	case "invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired":
		return "the bot token is not valid any more; install the app again and update the secret."
	case "missing_scope":
		return "the Slack app lacks a scope; add chat:write and reinstall it."
	case "msg_too_long", "invalid_blocks", "invalid_metadata_format":
		return "the message itself was refused; look at the log for its id."
	}
	return "see the log for the message's id."
}

func capitalizeFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// post posts m to channel (in the thread of threadTS when set) once,
// whatever earlier runs did.
func (s *Sender) post(ctx context.Context, log *slog.Logger, m pool.OutboxMessage, channel string, blocks []slack.Block, threadTS string) (pool.Sent, error) {
	ts, err := s.postOutbox(ctx, log, m, channel, m.Text, blocks, threadTS)
	if err != nil && len(blocks) > 0 && slackCode(err) == "invalid_blocks" {
		ts, err = s.postOutbox(ctx, log, m, channel, m.Text, nil, threadTS)
	}
	if err != nil {
		return pool.Sent{}, err
	}
	return pool.Sent{Key: m.Key, Channel: channel, TS: ts}, nil
}

// retry puts m back in the outbox and returns when it may go again.
func (s *Sender) retry(ctx context.Context, log *slog.Logger, m pool.OutboxMessage, err error) time.Time {
	if ctx.Err() != nil {
		return time.Time{} // shutting down; it stays pending as it is
	}
	var rl *slack.RateLimitedError
	var wait time.Duration
	switch {
	case errors.As(err, &rl):
		wait = max(rl.RetryAfter, postSpacing)
		log.Warn("outbox: rate limited", "retry_after", wait)
	case slackCode(err) != "" && !transientCode(slackCode(err)):
		if m.Attempts+1 >= s.GiveUp {
			s.refuse(ctx, log, m, slackCode(err), err)
			return time.Time{}
		}
		wait = backoff(m.Attempts)
		log.Error("outbox: Slack refuses the message", "attempt", m.Attempts+1, "err", err)
	default:
		wait = backoff(m.Attempts)
		log.Warn("outbox: send failed", "attempt", m.Attempts+1, "retry_in", wait, "err", err)
	}
	at := s.clk.Now().Add(wait)
	if err := s.st.Retry(ctx, m.ID, at); err != nil {
		log.Error("outbox: record retry", "err", err)
	}
	return at
}

// backoff is 2^attempts seconds, at most 10 minutes.
func backoff(attempts int) time.Duration {
	if attempts > 9 {
		return 10 * time.Minute
	}
	return min(time.Second<<attempts, 10*time.Minute)
}

func slackCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// transientCode reports Slack error codes worth retrying as they are.
func transientCode(code string) bool {
	switch code {
	case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited":
		return true
	}
	return false
}

// parseBlocks reads Block Kit JSON as stored in the outbox: an array of
// blocks, or an object with a "blocks" array.
func parseBlocks(raw string) ([]slack.Block, error) {
	if raw == "" {
		return nil, nil
	}
	data := []byte(raw)
	var wrapped struct {
		Blocks json.RawMessage `json:"blocks"`
	}
	if len(data) > 0 && data[0] == '{' {
		if err := json.Unmarshal(data, &wrapped); err != nil {
			return nil, fmt.Errorf("parse blocks: %w", err)
		}
		data = wrapped.Blocks
	}
	var b slack.Blocks
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("parse blocks: %w", err)
	}
	return b.BlockSet, nil
}
