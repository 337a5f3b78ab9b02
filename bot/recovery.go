package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
)

// How the sender avoids posting a message twice across a crash.
//
// Slack's chat.postMessage has no idempotency key, and a process can die
// between Slack having a post and the store's MarkSent. So before each post
// the sender records the outbox id under inflightKey(channel) in the store
// (one post is in flight per channel at a time), and the post carries that
// id in its metadata. A later run that finds a pending message named by the
// marker it inherited (or one whose own earlier attempt ended without an
// answer, a timeout say) looks for it in the channel's history, or its
// thread, and records the ts found instead of posting again. Every other
// message was never handed to Slack, or Slack refused it, so it needs no
// lookup: a clean restart costs no Slack call.

// inflightKey is the store key of channel's last attempted post.
func inflightKey(channel string) string { return "outbox/inflight/" + channel }

// term is what one run of the sender knows of its own attempts. It starts
// afresh with each Run: another replica may have led in between.
type term struct {
	mu        sync.Mutex
	attempted map[int64]attempt
	inherited map[string]int64 // channel → the marker this run found, read once
	warned    bool             // a refused lookup was logged at Warn
}

type attempt struct {
	unsure bool   // handed to Slack without an answer: it may have it
	ts     string // Slack has it (set when MarkSent has yet to succeed)
}

func newTerm() *term {
	return &term{attempted: map[int64]attempt{}, inherited: map[string]int64{}}
}

func (t *term) get(id int64) (attempt, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.attempted[id]
	return a, ok
}

func (t *term) set(id int64, a attempt) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempted[id] = a
}

func (t *term) forget(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.attempted, id)
}

// beginTerm starts a run; Flush starts one only when none has started.
func (s *Sender) beginTerm(fresh bool) *term {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fresh || s.term == nil {
		s.term = newTerm()
	}
	return s.term
}

func (s *Sender) currentTerm() *term { return s.beginTerm(false) }

// inherited is the in-flight marker channel had when this run first looked.
func (s *Sender) inherited(ctx context.Context, t *term, channel string) (int64, error) {
	t.mu.Lock()
	id, ok := t.inherited[channel]
	t.mu.Unlock()
	if ok {
		return id, nil
	}
	v, err := s.st.Get(ctx, inflightKey(channel))
	switch {
	case errors.Is(err, pool.ErrNotFound):
		id = 0
	case err != nil:
		return 0, fmt.Errorf("read in-flight post of %s: %w", channel, err)
	default:
		if id, err = strconv.ParseInt(v, 10, 64); err != nil {
			s.log.Warn("outbox: unreadable in-flight marker; ignoring it", "channel", channel, "value", v)
			id = 0
		}
	}
	t.mu.Lock()
	t.inherited[channel] = id
	t.mu.Unlock()
	return id, nil
}

// postOutbox posts m (to channel, in the thread of threadTS when set) with
// its outbox metadata, unless Slack already has it from an earlier attempt,
// and returns the message's ts.
func (s *Sender) postOutbox(ctx context.Context, log *slog.Logger, m pool.OutboxMessage, channel, text string,
	blocks []slack.Block, threadTS string) (string, error) {
	t := s.currentTerm()
	a, tried := t.get(m.ID)
	if a.ts != "" {
		return a.ts, nil // posted by this run; only MarkSent failed
	}
	lookup := a.unsure
	if !tried {
		prev, err := s.inherited(ctx, t, m.Channel)
		if err != nil {
			return "", err
		}
		lookup = prev == m.ID
	}
	if lookup {
		ts, found, err := s.p.FindPosted(ctx, channel, threadTS, m.Created.Add(-lookupSkew), m.ID, m.Key)
		var rl *slack.RateLimitedError
		switch {
		case found:
			log.Info("outbox: Slack already has this message; not posting it again", "ts", ts)
			t.set(m.ID, attempt{ts: ts})
			return ts, nil
		case err == nil:
			log.Info("outbox: an earlier attempt did not reach Slack; posting")
		case ctx.Err() != nil, errors.As(err, &rl):
			return "", err // retried as any post
		default:
			s.lookupRefused(log, t, err)
		}
	}
	meta := outboxMetadata(m.ID, m.Key)
	// Recorded once the slot has come, just before Slack is called: a run
	// stopped while waiting leaves nothing to look up.
	before := func() error {
		if err := s.st.Put(ctx, inflightKey(m.Channel), strconv.FormatInt(m.ID, 10)); err != nil {
			return fmt.Errorf("record in-flight post: %w", err)
		}
		t.set(m.ID, attempt{unsure: true})
		return nil
	}
	ts, err := s.p.post(ctx, channel, text, blocks, threadTS, meta, before)
	switch {
	case err == nil:
		t.set(m.ID, attempt{ts: ts})
	case slackAnswered(err):
		t.set(m.ID, attempt{}) // Slack said no: it does not have it
	}
	return ts, err
}

// slackAnswered reports whether err is Slack's refusal of a call (a 429 or
// ok:false), after which Slack certainly did not act on it.
func slackAnswered(err error) bool {
	var rl *slack.RateLimitedError
	return errors.As(err, &rl) || slackCode(err) != ""
}

// lookupRefused logs, once a run, that a lookup failed and the message is
// posted anyway: twice is better than lost.
func (s *Sender) lookupRefused(log *slog.Logger, t *term, err error) {
	t.mu.Lock()
	first := !t.warned
	t.warned = true
	t.mu.Unlock()
	level := slog.LevelDebug
	if first {
		level = slog.LevelWarn
	}
	hint := ""
	switch slackCode(err) {
	case "missing_scope":
		hint = "add the channels:history and groups:history scopes to the Slack app"
	case "not_in_channel":
		hint = "invite poolbot to the channel"
	}
	log.Log(context.Background(), level,
		"outbox: cannot tell whether an earlier run posted this message; posting it, so it may appear twice",
		"err", err, "hint", hint)
}
