package commands

import (
	"context"
	"fmt"
	"strings"
)

func init() {
	register(&command{
		name:  "skip",
		usage: "skip <pool> next",
		help:  "Skips a pool's next scheduled change, e.g. to keep it up tonight.",
		role:  RoleOperator,
		min:   2, max: 2, pool: onePool,
		run: runSkip,
	})
}

func runSkip(ctx context.Context, c *call) error {
	if strings.ToLower(c.args.Pos[1]) != "next" {
		return usagef("skip only skips the next change: write `next`, not %q", c.args.Pos[1])
	}
	name := c.pools[0]
	if c.h.o.Scheduler == nil {
		return usagef("no schedules are configured, so %s has no scheduled change to skip", name)
	}
	ch, err := c.h.o.Scheduler.Skip(ctx, name, c.by())
	result := "ok"
	if err != nil {
		result = "error: " + err.Error()
	}
	if aerr := c.h.o.Changer.Audit(ctx, c.actor, c.text, name, result); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	text := fmt.Sprintf("%s skipped the next scheduled change of *%s*: %s", c.who(), esc(name), esc(changeLine(ch, c.now())))
	return c.respond(ctx, Reply{Text: slackToPlain(text), Blocks: textBlocks(text), InChannel: true})
}
