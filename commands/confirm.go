package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
)

// confirmTTL is how long a confirmation can be pressed.
const confirmTTL = 15 * time.Minute

// pending is a request waiting for its confirm button, kept in the store
// under "confirm/<id>" so that any replica can take the press.
type pending struct {
	ID            string    `json:"id"`
	Requester     string    `json:"requester"`
	RequesterName string    `json:"requester_name,omitempty"`
	Channel       string    `json:"channel,omitempty"`
	Command       string    `json:"command"`
	Created       time.Time `json:"created"`
	Expires       time.Time `json:"expires"`
}

func confirmKey(id string) string { return "confirm/" + id }

// claimKey marks a confirmation as used, so that it runs once.
func claimKey(id string) string { return "confirm.used/" + id }

// askConfirm saves the call as pending and answers with confirm and cancel
// buttons. A dangerous change gets a red button and a confirm dialog.
func (c *call) askConfirm(ctx context.Context, question, confirmLabel string, danger bool) error {
	p := pending{ID: uuid.NewString(), Requester: c.req.UserID, RequesterName: c.req.UserName,
		Channel: c.req.ChannelID, Command: c.text, Created: c.now(), Expires: c.now().Add(confirmTTL)}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode confirmation: %w", err)
	}
	if err := c.h.o.Store.Put(ctx, confirmKey(p.ID), string(b)); err != nil {
		return fmt.Errorf("save confirmation: %w", err)
	}
	if err := c.h.o.Changer.Audit(ctx, c.actor, c.text, c.auditPool(), "pending"); err != nil {
		return err
	}
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
	text := slackToPlain(question) + "\n(confirm within 15 minutes)"
	return c.respond(ctx, Reply{Text: text, Blocks: []slack.Block{
		section(question),
		slack.NewActionBlock("confirm-"+p.ID, ok, cancel),
		contextBlock("Only you or an admin can confirm; this expires in 15 minutes."),
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
		// Buttons on alerts carry a command line: run it as if typed.
		return h.dispatch(ctx, c, a.Value)
	case "confirm", "cancel":
	default:
		c.result = "invalid"
		return c.respond(ctx, Reply{Text: fmt.Sprintf("I don't know the button %q.", a.ActionID)})
	}
	c.replace = true
	p, err := h.loadPending(ctx, a.Value)
	if err != nil {
		return err
	}
	c.pending = &p
	if a.ActionID == "confirm" {
		c.confirmed = true
		return h.dispatch(ctx, c, p.Command)
	}
	return h.cancel(ctx, c, p)
}

func (h *Handler) loadPending(ctx context.Context, id string) (pending, error) {
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
	if !h.o.Clock.Now().Before(p.Expires) {
		return pending{}, &pool.Error{Kind: pool.KindInvalid,
			Msg: fmt.Sprintf("this confirmation expired at %s; run `/pool %s` again", p.Expires.UTC().Format("15:04 MST"), p.Command)}
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
			who := p.RequesterName
			if who == "" {
				who = p.Requester
			}
			if err := h.o.Changer.Audit(ctx, c.actor, "confirm "+p.Command, t, "denied"); err != nil {
				h.o.Logger.Error("audit denial", "err", err)
			}
			return &deniedError{msg: fmt.Sprintf("only %s or an admin can confirm this", who)}
		}
	}
	return nil
}

// claim makes the press the only one that runs its confirmation.
func (h *Handler) claim(ctx context.Context, c *call) error {
	if err := h.mayDecide(ctx, c, *c.pending); err != nil {
		return err
	}
	ok, err := h.o.Store.Claim(ctx, claimKey(c.pending.ID), c.req.UserID)
	if err != nil {
		return fmt.Errorf("claim confirmation: %w", err)
	}
	if !ok {
		return &pool.Error{Kind: pool.KindConflict, Msg: "this was already confirmed or cancelled"}
	}
	return nil
}

func (h *Handler) cancel(ctx context.Context, c *call, p pending) error {
	// Resolve the command's pools so that an admin of them may cancel.
	c.text = p.Command
	if args, err := Parse(p.Command); err == nil && len(args.Pos) > 0 {
		if cmd, ok := table[args.Pos[0]]; ok {
			c.cmd = cmd
			c.args = Args{Pos: args.Pos[1:], Opts: args.Opts}
			if err := h.resolvePools(ctx, c); err != nil {
				c.pools = nil
			}
		}
	}
	if err := h.claim(ctx, c); err != nil {
		return err
	}
	if err := h.o.Changer.Audit(ctx, c.actor, p.Command, c.auditPool(), "cancelled"); err != nil {
		return err
	}
	c.result = "cancelled"
	text := fmt.Sprintf("Cancelled `/pool %s`; nothing was changed.", p.Command)
	return c.respond(ctx, Reply{Text: text, Blocks: textBlocks(text)})
}
