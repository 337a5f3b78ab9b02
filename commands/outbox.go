package commands

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// outboxCommands is the command table's entries of outbox.go.
func outboxCommands() []*command {
	return []*command{{
		name:  "outbox",
		usage: "outbox [retry [id…]]",
		help: "Lists the messages Slack refused for good (a channel poolbot was removed from, a revoked token): " +
			"they are kept, not lost. `retry` (admin) sends them all again, or those whose ids are given, once the cause is fixed.",
		role: RoleOperator,
		min:  0, max: 21, pool: noPool,
		run: runOutbox,
	}}
}

// outboxListLen bounds the listing; the rest is counted.
const outboxListLen = 20

func runOutbox(ctx context.Context, c *call) error {
	if len(c.args.Pos) == 0 {
		return listRefused(ctx, c)
	}
	if strings.ToLower(c.args.Pos[0]) != "retry" {
		return usagef("outbox takes `retry` or nothing, not %q", c.args.Pos[0])
	}
	var ids []int64
	for _, a := range c.args.Pos[1:] {
		id, err := strconv.ParseInt(strings.TrimPrefix(a, "#"), 10, 64)
		if err != nil || id <= 0 {
			return usagef("%q is not a message id; `/pool outbox` lists them", a)
		}
		ids = append(ids, id)
	}
	if err := c.h.authorize(ctx, c, RoleAdmin); err != nil {
		return err
	}
	n, err := c.h.o.Store.Requeue(ctx, ids)
	result := fmt.Sprintf("ok: %d requeued", n)
	if err != nil {
		result = "error: " + err.Error()
	}
	if aerr := c.h.o.Changer.Audit(ctx, c.actor, c.text, "", result); aerr != nil {
		return aerr
	}
	if err != nil {
		return fmt.Errorf("requeue refused messages: %w", err)
	}
	var text string
	switch {
	case n == 0 && len(ids) > 0:
		text = "None of those messages is refused now; `/pool outbox` lists those that are."
	case n == 0:
		text = "No refused messages: nothing to send again."
	default:
		text = fmt.Sprintf("%s sent %d refused %s again. If Slack still refuses %s, %s listed here again after a few tries.",
			c.who(), n, pluralOf(n, "message", "messages"), pluralOf(n, "it", "them"), pluralOf(n, "it is", "they are"))
	}
	return c.respond(ctx, Reply{Text: fallback(text), Blocks: textBlocks(text)})
}

func listRefused(ctx context.Context, c *call) error {
	msgs, err := c.h.o.Store.Refused(ctx, 500)
	if err != nil {
		return fmt.Errorf("read refused messages: %w", err)
	}
	if len(msgs) == 0 {
		text := "No refused messages: everything poolbot queued reached Slack or is on its way."
		return c.respond(ctx, Reply{Text: text, Blocks: textBlocks(text)})
	}
	now, loc := c.now(), c.readerZone(ctx, "")
	var lines []string
	for i, m := range msgs {
		if i == outboxListLen {
			lines = append(lines, fmt.Sprintf("…and %d more", len(msgs)-i))
			break
		}
		lines = append(lines, fmt.Sprintf("#%d to %s, refused %s (%s) after %d tries: %s", m.ID, m.Channel,
			fmtWhen(m.RefusedAt, loc, now), m.Refusal, m.Attempts, oneLine(m.Text, 100)))
	}
	text := fmt.Sprintf("*%d %s refused by Slack*. Fix the cause (invite poolbot, renew the token), then `/pool outbox retry`.\n%s",
		len(msgs), pluralOf(len(msgs), "message", "messages"), esc(strings.Join(lines, "\n")))
	return c.respond(ctx, Reply{Text: fallback(text), Blocks: textBlocks(text)})
}

func pluralOf(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
