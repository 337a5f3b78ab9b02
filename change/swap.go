package change

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/poolbot/poolbot/pool"
)

// Swap is how SwapImage tells of its progress.
type Swap struct {
	Channel     string // the channel whose message shows the swap
	Who         string // how the message names who asked ("<@U1>")
	ReimageIdle bool   // reimage the idle agents onto the new image
}

// SwapResult is what a swap did.
type SwapResult struct {
	Before, After pool.Image
	Reimaged      []int  // idle agents reimaged
	ReimageErr    error  // why reimaging failed, if it did
	MessageKey    string // the outbox key of the swap's message
}

// The steps of a swap, recorded in its intent.
const (
	stepSet     = "set"     // the image is being changed
	stepReimage = "reimage" // the image is changed; idle agents are being reimaged
)

// SwapImage changes the pool's image as a long operation kept in the store:
// the intent (step "set") and the channel's message ("Changing the image…")
// are written before Azure is called; the image change, its audit entry and
// the previous image (for rollback) are recorded together; reimaging idle
// agents is a second step; the end updates the same message. A process
// killed at any point leaves an intent that Reconcile finishes: done if
// Azure has the new image, else not applied, the message saying which.
func (c *Changer) SwapImage(ctx context.Context, a Actor, command, name string, img pool.Image, sw Swap) (SwapResult, error) {
	var r SwapResult
	unlock, err := c.Lock(ctx, name, a, command)
	if err != nil {
		return r, err
	}
	defer unlock()
	p, err := c.svc.Get(ctx, name)
	if err != nil {
		return r, err
	}
	if p.ScaleSet == nil {
		return r, &pool.Error{Kind: pool.KindNotFound, Pool: name, Msg: name + " has no scale set I can read"}
	}
	cur := p.ScaleSet.Image
	r.Before, r.After = cur, cur
	if c.intents == nil {
		return r, errors.New("image swap: the store keeps no intents")
	}
	r.MessageKey = "image/" + token()
	msg := func(op, text string) pool.OutboxMessage {
		return pool.OutboxMessage{Channel: sw.Channel, Key: r.MessageKey, Op: op, Text: text, Created: c.clock.Now()}
	}
	var first []pool.OutboxMessage
	if sw.Channel != "" {
		first = append(first, msg("post", fmt.Sprintf(":hourglass: %s is changing the image of *%s*: `%s` → `%s`…", sw.Who, name, cur.Short(), img.Short())))
	}
	id, err := c.begin(ctx, a, command, pool.Intent{Kind: "image", Pool: name, Before: cur.String(), Target: img.String(),
		Step: stepSet, MessageKey: r.MessageKey}, first...)
	if err != nil {
		return r, err
	}
	tell := func(text string) []pool.OutboxMessage {
		if sw.Channel == "" {
			return nil
		}
		return []pool.OutboxMessage{msg("update", text)}
	}

	before, after, err := c.setImage(ctx, name, cur, img)
	r.Before, r.After = before, after
	if err != nil {
		c.close(ctx, id, name, pool.Outcome{State: pool.IntentFailed, Result: "error: " + err.Error(), Reported: true,
			Audit:    c.entry(a, command, name, cur.String(), cur.String(), "error: "+err.Error()),
			Messages: tell(fmt.Sprintf("✖ %s could not change the image of *%s*: %v. It is still `%s`.", sw.Who, name, err, cur.Short()))})
		return r, err
	}
	done := fmt.Sprintf("✅ %s changed the image of *%s*: `%s` → `%s`", sw.Who, name, before.Short(), after.Short())
	changed := pool.Outcome{Audit: c.entry(a, command, name, before.String(), after.String(), "ok"),
		Puts: map[string]string{PreviousImageKey(name): before.String()}}
	if !sw.ReimageIdle {
		changed.State, changed.Result, changed.Reported, changed.Messages = pool.IntentApplied, "ok", true, tell(done)
		c.close(ctx, id, name, changed)
		return r, nil
	}

	// Nodes may have changed while the image did.
	nodes, err := c.svc.Nodes(ctx, name)
	var idle []int
	for _, n := range nodes {
		if n.State == pool.NodeIdle {
			idle = append(idle, n.ID)
		}
	}
	if err != nil || len(idle) == 0 {
		if err != nil {
			r.ReimageErr = fmt.Errorf("listing idle agents failed: %w", err)
			done += "; listing idle agents failed, so none was reimaged"
		} else {
			done += "; no agent was idle to reimage"
		}
		changed.State, changed.Result, changed.Reported, changed.Messages = pool.IntentApplied, "ok", true, tell(done)
		c.close(ctx, id, name, changed)
		return r, nil
	}
	changed.Messages = tell(fmt.Sprintf(":hourglass: %s changed the image of *%s*: `%s` → `%s`; reimaging %d idle agents…",
		sw.Who, name, before.Short(), after.Short(), len(idle)))
	if err := c.record(ctx, func(ctx context.Context) error { return c.intents.StepIntent(ctx, id, stepReimage, changed) }); err != nil {
		// The image is changed; the record of it is not. Reimaging now
		// would leave a restart unable to tell what happened.
		c.log.Error("image changed but its record failed; it is reconciled later", "pool", name, "intent", id, "err", err)
		c.dirty.Store(true)
		return r, nil
	}
	strs := make([]string, len(idle))
	for i, n := range idle {
		strs[i] = fmt.Sprint(n)
	}
	what := "reimage nodes " + strings.Join(strs, ",")
	err = c.nodes(ctx, a, command, name, "reimage", idle, id)
	end := pool.Outcome{State: pool.IntentApplied, Result: "ok", Reported: true}
	if err != nil {
		r.ReimageErr = err
		end.Audit = c.entry(a, command, name, "", what, "error: "+err.Error())
		end.Messages = tell(done + fmt.Sprintf("; reimaging idle agents failed: %v", err))
	} else {
		r.Reimaged = idle
		end.Audit = c.entry(a, command, name, "", what, "ok")
		end.Messages = tell(done + fmt.Sprintf("; reimaging %d idle agents", len(idle)))
	}
	c.close(ctx, id, name, end)
	return r, nil
}

func (c *Changer) entry(a Actor, command, name, before, after, result string) *pool.AuditEntry {
	return &pool.AuditEntry{Time: c.clock.Now(), Actor: a.ID, ActorName: a.Name, Channel: a.Channel, Source: a.Source,
		Command: command, Pool: name, Before: before, After: after, Result: result, RequestID: a.RequestID}
}

// close finishes an intent with o, logging a failed record (the leader
// reconciles it).
func (c *Changer) close(ctx context.Context, id int64, name string, o pool.Outcome) {
	if err := c.record(ctx, func(ctx context.Context) error { return c.intents.FinishIntent(ctx, id, o) }); err != nil {
		c.log.Error("change made but its record failed; it is reconciled later", "pool", name, "intent", id, "err", err)
		c.dirty.Store(true)
		return
	}
	if o.Audit != nil {
		c.log.Info("change", "pool", name, "actor", o.Audit.Actor, "command", o.Audit.Command, "before", o.Audit.Before,
			"after", o.Audit.After, "result", o.Audit.Result, "request_id", o.Audit.RequestID)
	}
}

// settleSwap finishes a swap a dead process left: done if Azure has the
// new image (recording the previous one for rollback), else not applied;
// either way the swap's message says so.
func (c *Changer) settleSwap(ctx context.Context, in pool.Intent, entry func(result, after string) *pool.AuditEntry) (bool, error) {
	p, err := c.svc.Get(ctx, in.Pool)
	if pool.KindOf(err) == pool.KindNotFound {
		err, p = nil, pool.Pool{}
	}
	if err != nil {
		return false, err
	}
	var cur pool.Image
	if p.ScaleSet != nil {
		cur = p.ScaleSet.Image
	}
	before, _ := pool.ParseImage(in.Before)
	target, _ := pool.ParseImage(in.Target)
	tell := func(text string) []pool.OutboxMessage {
		if in.MessageKey == "" {
			return c.line(in, text)
		}
		if in.Channel == "" && c.channel == "" {
			return nil
		}
		ch := in.Channel
		if ch == "" || in.Source == "console" {
			ch = c.channel
		}
		return []pool.OutboxMessage{{Channel: ch, Key: in.MessageKey, Op: "update", Text: text, Created: c.clock.Now()}}
	}
	o := pool.Outcome{Reported: true}
	switch {
	case in.Step == stepReimage:
		// The image change was recorded with the step; reimaging was cut.
		o.State, o.Result = pool.IntentApplied, "ok"
		o.Audit = entry("unknown: reimaging interrupted by a restart; idle agents pick the image up when recycled", "reimage idle nodes")
		o.Messages = tell(fmt.Sprintf("✅ %s changed the image of *%s*: `%s` → `%s`; reimaging idle agents was interrupted by a restart (they pick the image up when recycled)",
			who(in), in.Pool, before.Short(), cur.Short()))
	case cur != before && imageMatches(cur, target):
		o.State, o.Result = pool.IntentApplied, "ok"
		o.Audit = entry("ok (recorded after a restart)", cur.String())
		o.Puts = map[string]string{PreviousImageKey(in.Pool): in.Before}
		text := fmt.Sprintf("✅ %s changed the image of *%s*: `%s` → `%s` (finished after poolbot restarted", who(in), in.Pool, before.Short(), cur.Short())
		if strings.Contains(in.Command, "reimage=idle") {
			text += "; idle agents were not reimaged and pick the image up when recycled"
		}
		o.Messages = tell(text + ")")
	default:
		o.State, o.Result = pool.IntentNotApplied, "not applied: interrupted before Azure had it"
		o.Audit = entry(o.Result, cur.String())
		o.Messages = tell(fmt.Sprintf("✖ The image of *%s* was not changed: poolbot stopped before Azure had `%s`; it is still `%s`. Run `/pool %s` again if it is still wanted.",
			in.Pool, target.Short(), cur.Short(), in.Command))
	}
	return o.State == pool.IntentApplied, c.intents.FinishIntent(ctx, in.ID, o)
}
