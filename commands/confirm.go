package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackmsg"
)

// confirmTTL is how long a confirmation can be pressed.
const confirmTTL = 15 * time.Minute

// pending is a request waiting for its confirm button, kept in the store
// under "confirm/<id>" so that any replica can take the press. It holds what
// was shown: the command and its arguments, the pools they matched, and who
// asked with what grants them roles (user, groups, channel), so that a press
// runs exactly that, under the asker's grant as well as the presser's.
type pending struct {
	ID            string    `json:"id"`
	Requester     string    `json:"requester"`
	RequesterName string    `json:"requester_name,omitempty"`
	Groups        []string  `json:"groups,omitempty"`
	Channel       string    `json:"channel,omitempty"`
	Source        string    `json:"source,omitempty"`
	Command       string    `json:"command"` // the command line, as shown
	Name          string    `json:"name,omitempty"`
	Args          Args      `json:"args"`
	Pools         []string  `json:"pools,omitempty"`
	Created       time.Time `json:"created"`
	Expires       time.Time `json:"expires"`
}

func confirmKey(id string) string { return "confirm/" + id }

// claimKey marks a confirmation as used, so that it runs once.
func claimKey(id string) string { return "confirm.used/" + id }

// asker is the request as its asker made it, for their roles.
func (p *pending) asker() Request {
	return Request{UserID: p.Requester, UserName: p.RequesterName, Groups: p.Groups, ChannelID: p.Channel, Source: p.Source}
}

func (p *pending) name() string { return nameOf(p.RequesterName, p.Requester) }

// auditText is the command as the audit trail records a confirmed run: it
// names who confirmed when that was not the asker, who is the actor.
func (p *pending) auditText(presser Request) string {
	if presser.UserID == p.Requester {
		return p.Command
	}
	return fmt.Sprintf("%s (confirmed by %s)", p.Command, nameOf(presser.UserName, presser.UserID))
}

// askConfirm saves the call as pending and answers with confirm and cancel
// buttons. A dangerous change gets a red button and a confirm dialog.
// question is mrkdwn.
func (c *call) askConfirm(ctx context.Context, question, confirmLabel string, danger bool) error {
	asker := c.req
	if c.pending != nil { // asked again: it stays the first asker's
		asker = c.pending.asker()
	}
	if c.rematch != "" {
		question = c.rematch + "\n" + question
	}
	cmdName := ""
	if c.cmd != nil {
		cmdName = c.cmd.name
	}
	command := strings.TrimSpace(cmdName + " " + c.args.String())
	p := pending{ID: uuid.NewString(), Requester: asker.UserID, RequesterName: asker.UserName, Groups: asker.Groups,
		Channel: asker.ChannelID, Source: asker.Source, Command: command, Name: cmdName, Args: c.args,
		Pools: c.pools, Created: c.now(), Expires: c.now().Add(confirmTTL)}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode confirmation: %w", err)
	}
	if err := c.h.o.Store.Put(ctx, confirmKey(p.ID), string(b)); err != nil {
		return fmt.Errorf("save confirmation: %w", err)
	}
	// Not audited: the audit trail records what was done (the confirmed
	// change, or its cancellation), not what was offered.
	c.result = "pending"
	ok := slack.NewButtonBlockElement("confirm", p.ID, plain(confirmLabel))
	if danger {
		ok = ok.WithStyle(slack.StyleDanger).WithConfirm(
			slack.NewConfirmationBlockObject(plain("Are you sure?"), mrkdwn(question), plain(confirmLabel), plain("Not now")).
				WithStyle(slack.StyleDanger))
	} else {
		ok = ok.WithStyle(slack.StylePrimary)
	}
	cancel := slack.NewButtonBlockElement("cancel", p.ID, plain("Cancel"))
	text := fallback(question) + "\n(confirm within 15 minutes)"
	return c.respond(ctx, Reply{Text: text, Blocks: []slack.Block{
		section(question),
		slack.NewActionBlock("confirm-"+p.ID, ok, cancel),
		contextBlock(sayf("Only %s or an admin can confirm; this expires in 15 minutes.", nameOf(asker.UserName, asker.UserID))),
	}})
}

// auditPool is the pool an audit record of the call names: its only pool,
// or its pattern when it matched several.
func (c *call) auditPool() string {
	switch {
	case len(c.pools) == 1:
		return c.pools[0]
	case len(c.pools) > 1 && c.cmd != nil && c.cmd.poolAt < len(c.args.Pos):
		return c.args.Pos[c.cmd.poolAt]
	}
	return ""
}

// action handles a button press.
func (h *Handler) action(ctx context.Context, c *call) error {
	a := c.req.Action
	switch a.ActionID {
	case "run":
		return h.runButton(ctx, c, a.Value)
	case "confirm", "cancel":
	default:
		c.result = "invalid"
		return c.respond(ctx, say(sayf("I don't know the button `%s`.", a.ActionID)))
	}
	c.replace = true
	p, err := h.loadPending(ctx, c, a.Value)
	if err != nil {
		return err
	}
	c.pending = &p
	if a.ActionID == "cancel" {
		return h.cancel(ctx, c, p)
	}
	c.confirmed = true
	if p.Name == "" { // saved before confirmations kept their arguments
		return h.dispatch(ctx, c, p.Command)
	}
	return h.run(ctx, c, p.Name, p.Args)
}

func (h *Handler) loadPending(ctx context.Context, c *call, id string) (pending, error) {
	gone := &pool.Error{Kind: pool.KindNotFound, Msg: "this confirmation is unknown or was already used; run the command again"}
	if id == "" {
		return pending{}, gone
	}
	v, err := h.o.Store.Get(ctx, confirmKey(id))
	if errors.Is(err, pool.ErrNotFound) {
		return pending{}, gone
	}
	if err != nil {
		return pending{}, fmt.Errorf("read confirmation: %w", err)
	}
	var p pending
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return pending{}, fmt.Errorf("read confirmation %s: %w", id, err)
	}
	if now := h.o.Clock.Now(); !now.Before(p.Expires) {
		return pending{}, &pool.Error{Kind: pool.KindInvalid,
			Msg: fmt.Sprintf("this confirmation expired at %s; run `/pool %s` again", fmtWhen(p.Expires, c.readerZone(ctx, ""), now), p.Command)}
	}
	return p, nil
}

// mayDecide checks that the presser asked for the change, or is an admin of
// every pool it touches.
func (h *Handler) mayDecide(ctx context.Context, c *call, p pending) error {
	if c.req.UserID == p.Requester {
		return nil
	}
	targets := c.pools
	if len(targets) == 0 {
		targets = []string{""}
	}
	for _, t := range targets {
		if h.roleFor(c.req, t) < RoleAdmin {
			if err := h.o.Changer.Audit(ctx, c.actor, "confirm "+p.Command, t, "denied"); err != nil {
				h.o.Logger.Error("audit denial", "err", err)
			}
			return &deniedError{msg: fmt.Sprintf("only %s or an admin can confirm this", p.name())}
		}
	}
	return nil
}

// claim makes the press the only one that runs its confirmation. A confirm
// then runs as the asker's change, its audit naming who confirmed.
func (h *Handler) claim(ctx context.Context, c *call) error {
	p := c.pending
	if err := h.mayDecide(ctx, c, *p); err != nil {
		return err
	}
	ok, err := h.o.Store.Claim(ctx, claimKey(p.ID), c.req.UserID)
	if err != nil {
		return fmt.Errorf("claim confirmation: %w", err)
	}
	if !ok {
		return &pool.Error{Kind: pool.KindConflict, Msg: "this was already confirmed or cancelled"}
	}
	if c.confirmed {
		c.text = p.auditText(c.req)
		c.actor = change.Actor{ID: p.Requester, Name: p.RequesterName, Channel: p.Channel, Source: c.req.Source,
			RequestID: c.req.RequestID}
	}
	return nil
}

// sameMatch checks that the command matches the pools it matched when it
// was asked: a pool created, renamed or deleted since is not changed
// unseen. When they differ nothing runs; the command asks again, showing
// what it matches now.
func (h *Handler) sameMatch(_ context.Context, c *call) error {
	then := slices.Sorted(slices.Values(c.pending.Pools))
	now := slices.Sorted(slices.Values(c.pools))
	if !c.confirmed || slices.Equal(then, now) {
		return nil
	}
	c.confirmed = false
	c.rematch = sayf(":warning: Nothing was changed: `%s` now matches %s, not %s as when it was asked.",
		c.pending.Command, listOrNone(now), listOrNone(then))
	return nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "no pool"
	}
	return strings.Join(names, ", ")
}

func (h *Handler) cancel(ctx context.Context, c *call, p pending) error {
	// The command's pools, so that an admin of them may cancel.
	c.text = p.Command
	c.pools = p.Pools
	if cmd, ok := h.table[p.Name]; ok {
		c.cmd, c.args = cmd, p.Args
	}
	if err := h.claim(ctx, c); err != nil {
		return err
	}
	if err := h.o.Changer.Audit(ctx, c.actor, p.Command, c.auditPool(), "cancelled"); err != nil {
		return err
	}
	c.result = "cancelled"
	return c.respond(ctx, say(sayf("Cancelled `/pool %s`; nothing was changed.", p.Command)))
}

// runButton runs a button of an alert: a command and its arguments
// (slackmsg.Command), or a command line from an older message, as if typed.
func (h *Handler) runButton(ctx context.Context, c *call, value string) error {
	cmd, err := slackmsg.ParseValue(value)
	if errors.Is(err, slackmsg.ErrNotCommand) {
		return h.dispatch(ctx, c, value)
	}
	var args Args
	if err == nil {
		args, err = buttonArgs(cmd)
	}
	if err != nil {
		c.result = "invalid"
		return c.respond(ctx, say(sayf("I cannot read this button: %s", err)))
	}
	return h.run(ctx, c, cmd.Name, args)
}

// buttonArgs checks a button's arguments as Parse checks typed ones.
func buttonArgs(cmd slackmsg.Command) (Args, error) {
	a := Args{Pos: cmd.Args}
	size := len(cmd.Name)
	for _, p := range cmd.Args {
		if p == "" || strings.ContainsFunc(p, unicode.IsControl) {
			return Args{}, fmt.Errorf("argument %q", p)
		}
		size += len(p)
	}
	for _, k := range slices.Sorted(maps.Keys(cmd.Opts)) {
		v := cmd.Opts[k]
		if !validKey(k) || v == "" || strings.ContainsFunc(v, unicode.IsControl) {
			return Args{}, fmt.Errorf("option %q=%q", k, v)
		}
		a.Opts = append(a.Opts, Opt{Key: k, Value: v})
		size += len(k) + len(v)
	}
	if size > maxInput {
		return Args{}, fmt.Errorf("the command is too long")
	}
	return a, nil
}
