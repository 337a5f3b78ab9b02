package commands

import (
	"context"
	"fmt"
	"strings"
)

func init() {
	register(&command{
		name:  "help",
		usage: "help [command]",
		help:  "Lists the commands you may run, or explains one.",
		role:  RoleViewer,
		min:   0, max: 1,
		run: runHelp,
	})
}

func runHelp(ctx context.Context, c *call) error {
	role := c.h.roleFor(c.req, "")
	if len(c.args.Pos) == 1 {
		name := strings.ToLower(c.args.Pos[0])
		cmd, ok := table[name]
		if !ok || cmd.role > role {
			if ok {
				return &deniedError{msg: fmt.Sprintf("you need role %s for %s", cmd.role, cmd.name)}
			}
			msg := fmt.Sprintf("there is no command %q", name)
			if s, ok := suggest(name, c.h.visibleCommands(c.req)); ok {
				msg += fmt.Sprintf("; did you mean %s", s)
			}
			return usagef("%s", msg)
		}
		text := fmt.Sprintf("`/pool %s`\n%s\n_Needs role %s._", cmd.usage, cmd.help, cmd.role)
		return c.respond(ctx, Reply{Text: slackToPlain(text), Blocks: textBlocks(text)})
	}
	var lines []string
	for _, n := range c.h.visibleCommands(c.req) {
		cmd := table[n]
		lines = append(lines, fmt.Sprintf("`/pool %s` — %s", cmd.usage, firstSentence(cmd.help)))
	}
	text := fmt.Sprintf("*What you can do* (role %s):\n%s", role, strings.Join(lines, "\n"))
	blocks := textBlocks(text)
	blocks = append(blocks, contextBlock("`/pool help <command>` explains one. Patterns such as linux-* work where a pool is named."))
	return c.respond(ctx, Reply{Text: slackToPlain(text), Blocks: blocks})
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}
