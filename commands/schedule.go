package commands

import (
	"context"
	"fmt"
	"strings"
)

func init() {
	register(&command{
		name:  "schedule",
		usage: "schedule <pool>",
		help:  "Shows a pool's next scheduled changes, in its schedule's time zone.",
		role:  RoleViewer,
		min:   1, max: 1, pool: onePool,
		run: runSchedule,
	})
}

func runSchedule(ctx context.Context, c *call) error {
	name := c.pools[0]
	if c.h.o.Scheduler == nil {
		text := "No schedules are configured, so " + name + " changes only when someone changes it."
		return c.respond(ctx, Reply{Text: text, Blocks: textBlocks(esc(text))})
	}
	next, err := c.h.o.Scheduler.Next(ctx, name, 5)
	if err != nil {
		return fmt.Errorf("next scheduled changes of %s: %w", name, err)
	}
	if len(next) == 0 {
		text := "No schedule claims " + name + "."
		return c.respond(ctx, Reply{Text: text, Blocks: textBlocks(esc(text))})
	}
	var lines []string
	for _, ch := range next {
		lines = append(lines, "• "+changeLine(ch, c.now()))
	}
	head := fmt.Sprintf("Next changes of %s (schedule %s, %s):", name, next[0].Schedule, next[0].At.Location())
	text := head + "\n" + strings.Join(lines, "\n")
	return c.respond(ctx, Reply{Text: text, Blocks: textBlocks(esc(text))})
}
