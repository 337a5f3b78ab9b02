package commands

import (
	"context"
	"fmt"
	"strings"
)

// scheduleCommands is the command table's entries of schedule.go.
func scheduleCommands() []*command {
	return []*command{{
		name:  "schedule",
		usage: "schedule <pool>",
		help:  "Shows a pool's next scheduled changes, in its schedule's time zone.",
		role:  RoleViewer,
		min:   1, max: 1, pool: onePool,
		run: runSchedule,
	}}
}

func runSchedule(ctx context.Context, c *call) error {
	name := c.pools[0]
	if c.h.o.Scheduler == nil {
		return c.respond(ctx, say(sayf("No schedules are configured, so %s changes only when someone changes it.", name)))
	}
	next, err := c.h.o.Scheduler.Next(ctx, name, 5)
	if err != nil {
		return fmt.Errorf("next scheduled changes of %s: %w", name, err)
	}
	if len(next) == 0 {
		return c.respond(ctx, say(sayf("No schedule claims %s.", name)))
	}
	loc := c.readerZone(ctx, name)
	var lines []string
	for _, ch := range next {
		lines = append(lines, "• "+changeLine(ch, loc, c.now()))
	}
	head := fmt.Sprintf("Next changes of %s (schedule %s, in %s):", name, next[0].Schedule, next[0].At.Location())
	return c.respond(ctx, say(esc(head+"\n"+strings.Join(lines, "\n"))))
}
