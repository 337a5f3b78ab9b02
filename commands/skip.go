package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/poolbot/poolbot/pool"
)

// skipCommands is the command table's entries of skip.go.
func skipCommands() []*command {
	return []*command{{
		name:  "skip",
		usage: "skip <pool> next",
		help: "Skips a pool's next scheduled change, so that it keeps its settings until the change after " +
			"(to keep it up tonight, say); `unskip` undoes it.",
		role: RoleOperator,
		min:  2, max: 2, pool: onePool,
		run: runSkip,
	}, {
		name:  "unskip",
		usage: "unskip <pool>",
		help:  "Undoes a skip: the pool's next scheduled change happens after all.",
		role:  RoleOperator,
		min:   1, max: 1, pool: onePool,
		run: runUnskip,
	}}
}

func runSkip(ctx context.Context, c *call) error {
	if strings.ToLower(c.args.Pos[1]) != "next" {
		return usagef("skip only skips the next change: write `next`, not %q", c.args.Pos[1])
	}
	name := c.pools[0]
	if c.h.o.Scheduler == nil {
		return usagef("no schedules are configured, so %s has no scheduled change to skip", name)
	}
	loc := c.readerZone(ctx, name)
	// One entry is skipped at a time: a second skip would land on the same
	// entry, and silently doing nothing reads as if it skipped the next one.
	if next, err := c.h.o.Scheduler.Next(ctx, name, 1); err == nil && len(next) == 1 && next[0].Skipped {
		c.result = "invalid"
		return c.respond(ctx, say(sayf("The next scheduled change of *%s* is already skipped: %s. `/pool unskip %s` undoes it.",
			name, changeLine(next[0], loc, c.now()), name)))
	}
	ch, err := c.h.o.Scheduler.Skip(ctx, name, c.by())
	if aerr := c.h.o.Changer.Audit(ctx, c.actor, c.text, name, resultOf(err)); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	return c.respond(ctx, announce(sayf("%s skipped the next scheduled change of *%s*: %s", c.who(), name, changeLine(ch, loc, c.now()))))
}

func runUnskip(ctx context.Context, c *call) error {
	name := c.pools[0]
	if c.h.o.Scheduler == nil {
		return usagef("no schedules are configured, so %s has no scheduled change to unskip", name)
	}
	err := c.h.o.Scheduler.Unskip(ctx, name)
	if errors.Is(err, pool.ErrNotFound) {
		return &pool.Error{Kind: pool.KindNotFound, Pool: name, Msg: fmt.Sprintf("%s has no skipped scheduled change", name)}
	}
	if aerr := c.h.o.Changer.Audit(ctx, c.actor, c.text, name, resultOf(err)); aerr != nil {
		return aerr
	}
	if err != nil {
		return fmt.Errorf("unskip %s: %w", name, err)
	}
	text := sayf("%s unskipped the next scheduled change of *%s*", c.who(), name)
	if next, err := c.h.o.Scheduler.Next(ctx, name, 1); err == nil && len(next) == 1 {
		text += sayf(": %s", changeLine(next[0], c.readerZone(ctx, name), c.now()))
	}
	return c.respond(ctx, announce(text))
}
