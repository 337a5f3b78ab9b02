package change

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// detached is a context for the record of a change: it outlives the
// caller's, since a change sent to Azure must be recorded whether or not
// its caller still waits, but it is bounded.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}

// begin writes the intent of a change before Azure hears of it. It returns
// 0 when the store keeps no intents; a store that fails refuses the change.
func (c *Changer) begin(ctx context.Context, a Actor, command string, in pool.Intent, msgs ...pool.OutboxMessage) (int64, error) {
	if c.intents == nil {
		return 0, nil
	}
	in.Actor, in.ActorName, in.Channel, in.Source, in.RequestID = a.ID, a.Name, a.Channel, a.Source, a.RequestID
	in.Command, in.Replica, in.Created = command, c.replica, c.clock.Now()
	id, err := c.intents.BeginIntent(ctx, in, msgs...)
	if err == nil {
		c.mu.Lock()
		now := c.clock.Now()
		for k, at := range c.mine {
			if now.Sub(at) > 2*c.ttl {
				delete(c.mine, k)
			}
		}
		for k, at := range c.untold {
			if now.Sub(at) > 2*c.ttl {
				delete(c.untold, k)
			}
		}
		c.mine[id] = now
		c.mu.Unlock()
	}
	if err != nil {
		c.log.Error("change not started: its intent could not be recorded", "pool", in.Pool, "command", command, "err", err)
		return 0, &pool.Error{Kind: pool.KindUnavailable, Op: "change", Pool: in.Pool, Err: err,
			Msg: "poolbot's store did not answer, so the change could not be recorded; nothing was changed"}
	}
	return id, nil
}

// finish records a change's outcome with its audit entry, msgs and puts,
// on a context that outlives the caller's. A failure is logged, not
// returned: the change itself is done (or refused) whatever the record
// says, and the intent left open is reconciled by the leader within 30 s (Dirty), or at the next start.
func (c *Changer) finish(ctx context.Context, id int64, a Actor, command, name, before, after string, opErr error,
	msgs []pool.OutboxMessage, puts map[string]string, reported bool) {
	o := pool.Outcome{State: pool.IntentApplied, Result: "ok", Messages: msgs, Puts: puts, Reported: reported}
	if opErr != nil {
		o.State, o.Result, o.Messages, o.Puts = pool.IntentFailed, "error: "+opErr.Error(), nil, nil
		// A failed call may still have landed: reads from before it must
		// not stand in for a read under the lock.
		if v, ok := puts[ChangedKey(name)]; ok {
			o.Puts = map[string]string{ChangedKey(name): v}
		}
	}
	o.Audit = &pool.AuditEntry{Time: c.clock.Now(), Actor: a.ID, ActorName: a.Name, Channel: a.Channel, Source: a.Source,
		Command: command, Pool: name, Before: before, After: after, Result: o.Result, RequestID: a.RequestID}
	if err := c.record(ctx, func(ctx context.Context) error { return c.intents.FinishIntent(ctx, id, o) }); err != nil {
		c.log.Error("change made but its record failed; it is reconciled later", "pool", name,
			"command", command, "intent", id, "result", o.Result, "err", err)
		c.dirty.Store(true)
		return
	}
	if !reported && a.RequestID != "" {
		c.mu.Lock()
		c.untold[a.RequestID] = c.clock.Now()
		c.mu.Unlock()
	}
	if n := NotesFrom(ctx); n != nil {
		n.change(name, before, after, o.Result) // on the command's one line
		return
	}
	c.log.Info("change", "pool", name, "actor", a.ID, "source", a.Source, "command", command,
		"before", before, "after", after, "result", o.Result, "request_id", a.RequestID)
}

// record runs write on a detached context, twice if the first fails.
func (c *Changer) record(ctx context.Context, write func(context.Context) error) error {
	var err error
	for try := range 2 {
		if try > 0 {
			time.Sleep(100 * time.Millisecond) // a store busy for a moment; not the clock, which a test may hold still
		}
		lctx, cancel := detached(ctx)
		err = write(lctx)
		cancel()
		if err == nil || errors.Is(err, pool.ErrNotFound) {
			return err
		}
	}
	return err
}

// imageMatches reports whether cur is what asking for want gives: want
// itself, or its newest version when want names none.
func imageMatches(cur, want pool.Image) bool {
	if cur == want {
		return true
	}
	if want.ID != "" {
		w := strings.ToLower(want.ID)
		return !strings.Contains(w, "/versions/") && strings.HasPrefix(strings.ToLower(cur.ID), w+"/versions/")
	}
	return want.Version == "latest" && cur.ID == "" && strings.EqualFold(cur.Publisher, want.Publisher) &&
		strings.EqualFold(cur.Offer, want.Offer) && strings.EqualFold(cur.SKU, want.SKU)
}

// Reported records that the request's changes were told to the person who
// asked, so that a restart does not tell them again.
// Requests that changed nothing cost nothing.
func (c *Changer) Reported(ctx context.Context, requestID string) error {
	if c.intents == nil || requestID == "" {
		return nil
	}
	c.mu.Lock()
	_, ok := c.untold[requestID]
	delete(c.untold, requestID)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return c.intents.MarkReported(ctx, requestID)
}

// Dirty reports, once, whether a change's record failed since the last
// call: Reconcile then has something to settle (the leader calls it).
func (c *Changer) Dirty() bool { return c.dirty.Swap(false) }

// Untold reports whether the request made changes that its reply has not
// told yet: a reply that tells them carries ReplyMarker, so that a restart
// can find it in the channel's history.
func (c *Changer) Untold(requestID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.untold[requestID]
	return ok && requestID != ""
}

// ReplyMarker is the block id a reply that tells of the request's changes
// carries.
func ReplyMarker(requestID string) string { return "poolbot-reply/" + requestID }

// WithReplyCheck gives Reconcile a way to tell whether a change's reply
// reached Slack although its record did not (the process died between):
// replied looks for a message carrying ReplyMarker(in.RequestID) in
// in.Channel. Without it such a change is told again.
func WithReplyCheck(replied func(ctx context.Context, in pool.Intent) (bool, error)) Option {
	return func(c *Changer) { c.replied = replied }
}

// ReclaimLeases ends the leases this replica's previous process held: it
// died holding them, and its restart must not wait for them to lapse. It
// needs a replica id that is stable across restarts (WithReplica).
func (c *Changer) ReclaimLeases(ctx context.Context) ([]string, error) {
	if c.intents == nil || c.replica == "" {
		return nil, nil
	}
	keys, err := c.intents.ReleaseLeases(ctx, c.replica+"/")
	if err != nil {
		return nil, fmt.Errorf("reclaim leases of %s: %w", c.replica, err)
	}
	if len(keys) > 0 {
		c.log.Warn("took back the leases of this replica's previous process", "leases", keys)
	}
	return keys, nil
}

// RecoverActor is who recovered changes are audited as.
var RecoverActor = Actor{ID: "poolbot", Name: "poolbot", Source: "recovery"}

// Recovered tells what Reconcile did.
type Recovered struct {
	Applied, NotApplied, Told int
	Waiting                   int // intents still held by a live holder, or whose reply may still come
	Failed                    int // intents that could not be settled now (Azure or the store did not answer)
}

// Reconcile settles the changes a dead process left: each open intent is
// compared with Azure under the pool's lock. Applied: its audit entry, the
// previous image of a swap, and one Slack message (the scheduler's notice,
// the swap's message updated, or a line to the person who asked). Not
// applied: recorded as such and said. A finished change never told to the
// person who asked (the process died before its reply) is told now.
// Intents whose pool is locked by a live holder are left for a later call.
// Run it on the leader at start-up, before the scheduler.
func (c *Changer) Reconcile(ctx context.Context) (Recovered, error) {
	var r Recovered
	if c.intents == nil {
		return r, nil
	}
	list, err := c.intents.Unsettled(ctx)
	if err != nil {
		return r, err
	}
	var errs []error
	for _, in := range list {
		if in.State != pool.IntentOpen {
			switch {
			case !c.orphaned(in):
				r.Waiting++
			case c.tell(ctx, in) != nil:
				r.Failed++
			default:
				r.Told++
			}
			continue
		}
		unlock, err := c.Lock(ctx, in.Pool, RecoverActor, "recover: "+in.Command)
		if pool.KindOf(err) == pool.KindBusy {
			r.Waiting++
			continue
		}
		if err != nil {
			errs = append(errs, err)
			r.Failed++
			continue
		}
		applied, err := c.settle(ctx, in)
		unlock()
		switch {
		case errors.Is(err, pool.ErrNotFound): // settled by another replica meanwhile
		case err != nil:
			r.Failed++
			errs = append(errs, fmt.Errorf("recover %s on %s: %w", in.Command, in.Pool, err))
		case applied:
			r.Applied++
		default:
			r.NotApplied++
		}
	}
	switch {
	case r.Applied+r.NotApplied+r.Told > 0:
		c.log.Warn("recovered changes left by a stopped process", "applied", r.Applied, "not_applied", r.NotApplied,
			"told", r.Told, "waiting", r.Waiting, "failed", r.Failed)
	case r != (Recovered{}):
		c.log.Debug("changes not settled yet", "waiting", r.Waiting, "failed", r.Failed)
	}
	return r, errors.Join(errs...)
}

// began reports whether this process began the intent.
func (c *Changer) began(id int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.mine[id]
	return ok
}

// orphaned reports whether a finished, untold change's process is gone:
// this replica's if this process did not begin it (a restart keeps the
// replica id), another's after two lease lengths.
func (c *Changer) orphaned(in pool.Intent) bool {
	if c.began(in.ID) {
		return false
	}
	if in.Replica == c.replica {
		return true
	}
	return c.clock.Now().Sub(in.Updated) > 2*c.ttl
}

func (c *Changer) tell(ctx context.Context, in pool.Intent) error {
	var msgs []pool.OutboxMessage
	told := false
	if in.State == pool.IntentApplied && c.replied != nil {
		// The reply may have reached Slack just before the process died,
		// before its record did.
		ok, err := c.replied(ctx, in)
		if err != nil {
			c.log.Warn("cannot tell whether a change's reply reached Slack; telling it again", "pool", in.Pool,
				"command", in.Command, "err", err)
		}
		told = ok
	}
	if in.State == pool.IntentApplied && !told {
		msgs = c.line(in, fmt.Sprintf("✅ %s's `%s` was applied to %s (%s); poolbot stopped before it could say so.",
			who(in), in.Command, in.Pool, in.Target))
	}
	if err := c.intents.ReportIntent(ctx, in.ID, msgs...); err != nil && !errors.Is(err, pool.ErrNotFound) {
		c.log.Warn("change not told; retried later", "pool", in.Pool, "command", in.Command, "err", err)
		return fmt.Errorf("tell %s on %s: %w", in.Command, in.Pool, err)
	}
	return nil
}

// line is a message for the channel of the person who asked for in.
func (c *Changer) line(in pool.Intent, text string) []pool.OutboxMessage {
	ch := in.Channel
	if ch == "" || in.Source == "console" {
		ch = c.channel
	}
	if ch == "" {
		return nil
	}
	return []pool.OutboxMessage{{Channel: ch, Key: fmt.Sprintf("change/%d", in.ID), Op: "post", Text: text, Created: c.clock.Now()}}
}

func who(in pool.Intent) string {
	switch {
	case in.Source == "slack" && in.Actor != "":
		return "<@" + in.Actor + ">"
	case in.ActorName != "":
		return "@" + in.ActorName
	}
	return in.Actor
}

// settle compares an open intent with Azure and records what it finds.
func (c *Changer) settle(ctx context.Context, in pool.Intent) (applied bool, err error) {
	a := Actor{ID: in.Actor, Name: in.ActorName, Channel: in.Channel, Source: in.Source, RequestID: in.RequestID}
	entry := func(result, after string) *pool.AuditEntry {
		return &pool.AuditEntry{Time: c.clock.Now(), Actor: a.ID, ActorName: a.Name, Channel: a.Channel, Source: a.Source,
			Command: in.Command, Pool: in.Pool, Before: in.Before, After: after, Result: result, RequestID: a.RequestID}
	}
	o := pool.Outcome{Reported: true}
	const note = " (recorded after a restart)"
	switch in.Kind {
	case "settings":
		cur, err := c.Current(ctx, in.Pool)
		if pool.KindOf(err) == pool.KindNotFound {
			o.State, o.Result = pool.IntentNotApplied, "not applied: the pool no longer exists"
			o.Audit = entry(o.Result, "")
			break
		}
		if err != nil {
			return false, err
		}
		now := settingsOf(cur)
		if now == in.Target {
			applied = true
			o.State, o.Result, o.Audit = pool.IntentApplied, "ok", entry("ok"+note, in.Target)
			if in.Notice != nil {
				o.Messages = []pool.OutboxMessage{*in.Notice}
			} else {
				o.Messages = c.line(in, fmt.Sprintf("✅ %s's `%s` was applied to %s (%s); poolbot stopped before it could say so.",
					who(in), in.Command, in.Pool, in.Target))
			}
			break
		}
		o.State, o.Result = pool.IntentNotApplied, "not applied: interrupted before Azure DevOps had it"
		if now != in.Before {
			o.Result += "; it now has " + now
		}
		o.Audit = entry(o.Result, now)
		if in.Notice == nil {
			o.Messages = c.line(in, fmt.Sprintf("✖ %s's `%s` was not applied to %s: poolbot stopped before Azure DevOps had it. Run it again if it is still wanted.",
				who(in), in.Command, in.Pool))
		}
	case "image":
		return c.settleSwap(ctx, in, entry)
	case "create":
		if _, err := c.Current(ctx, in.Pool); err == nil {
			applied = true
			o.State, o.Result, o.Audit = pool.IntentApplied, "ok", entry("ok"+note, in.Target)
			o.Messages = c.line(in, fmt.Sprintf("✅ %s's `%s` created %s; poolbot stopped before it could say so.", who(in), in.Command, in.Pool))
		} else if pool.KindOf(err) == pool.KindNotFound {
			o.State, o.Result = pool.IntentNotApplied, "not applied: interrupted"
			o.Audit = entry(o.Result, "")
			o.Messages = c.line(in, fmt.Sprintf("✖ %s's `%s` did not create %s: poolbot stopped first. Run it again if it is still wanted.", who(in), in.Command, in.Pool))
		} else {
			return false, err
		}
	default: // nodes: Azure keeps no trace to compare with
		o.State, o.Result = pool.IntentFailed, "unknown: interrupted; it may have reached some nodes"
		o.Audit = entry(o.Result, in.Target)
		o.Messages = c.line(in, fmt.Sprintf("⚠️ %s's `%s` on %s was interrupted by a restart and may have reached only some nodes; check the pool.",
			who(in), in.Command, in.Pool))
	}
	if c.began(in.ID) {
		// This process made the change and answered the person itself;
		// only its record failed. Record it; say nothing more.
		o.Messages = nil
		if in.Notice != nil && applied {
			o.Messages = []pool.OutboxMessage{*in.Notice}
		}
	}
	return applied, c.intents.FinishIntent(ctx, in.ID, o)
}
