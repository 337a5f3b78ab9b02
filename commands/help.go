package commands

import (
	"context"
	"fmt"
	"strings"
)

// helpCommands is the command table's entries of help.go.
func helpCommands() []*command {
	return []*command{{
		name:  "help",
		usage: "help [command]",
		help:  "Lists the commands you may run, or explains one.",
		role:  RoleViewer,
		min:   0, max: 1,
		run: runHelp,
	}}
}

func runHelp(ctx context.Context, c *call) error {
	role := c.h.roleFor(c.req, "")
	if len(c.args.Pos) == 1 {
		name := strings.ToLower(c.args.Pos[0])
		cmd, ok := c.h.table[name]
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
		text := cmd.usageLine() + sayf("\n%s\n_Needs role %s._", cmd.help, cmd.role)
		return c.respond(ctx, say(text))
	}
	var lines []string
	for _, n := range c.h.visibleCommands(c.req) {
		cmd := c.h.table[n]
		lines = append(lines, cmd.usageLine()+sayf(" — %s", firstSentence(cmd.help)))
	}
	text := sayf("*What you can do* (role %s):\n", role) + strings.Join(lines, "\n")
	r := say(text)
	foot := sayf("`/pool help %s` explains one. Patterns such as linux-* work where a pool is named.", "<command>")
	r.Blocks = append(r.Blocks, contextBlock(foot))
	r.Text += "\n" + fallback(foot)
	return c.respond(ctx, r)
}

// firstSentence is the help's first sentence: up to a full stop followed
// by a space, but not that of an abbreviation such as "e.g.".
func firstSentence(s string) string {
	from := 0
	for {
		i := strings.Index(s[from:], ". ")
		if i < 0 {
			return s
		}
		end := from + i + 1
		word := s[strings.LastIndexByte(s[:end], ' ')+1 : end]
		if !strings.Contains(word[:len(word)-1], ".") { // "e.g." has a stop inside
			return s[:end]
		}
		from = end
	}
}
