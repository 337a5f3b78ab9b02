package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
)

// listCommands is the command table's entries of list.go.
func listCommands() []*command {
	return []*command{{
		name:  "list",
		usage: "list [pattern]",
		help: "Shows every pool you may see, or those matching a pattern such as linux-*: state; idle, busy, " +
			"offline and failed agents; standby; max; image, flagged when its agents run more than one; today's " +
			"estimated cost; next scheduled change.",
		role: RoleViewer,
		min:  0, max: 1, pool: optGlob,
		run: runList,
	}}
}

func runList(ctx context.Context, c *call) error {
	pools, at, err := c.listPools(ctx, pool.ListOptions{Nodes: true, Images: true})
	if err != nil {
		return fmt.Errorf("list pools: %w", err)
	}
	var shown []pool.Pool
	for _, p := range pools {
		if len(c.args.Pos) == 1 && !globMatch(c.args.Pos[0], p.Name) {
			continue
		}
		if c.h.roleFor(c.req, p.Name) < RoleViewer {
			continue
		}
		shown = append(shown, p)
	}
	if len(shown) == 0 {
		text := "No pools to show."
		if len(c.args.Pos) == 1 {
			text = sayf("No pool you may see matches `%s`.", c.args.Pos[0])
		}
		return c.respond(ctx, say(text))
	}
	age := c.asOf(at)
	blocks := []slack.Block{section(fmt.Sprintf("*%s*", plural(len(shown), "pool")) + age)}
	var lines []string
	if age != "" {
		lines = append(lines, plural(len(shown), "pool")+age)
	}
	for i, p := range shown {
		fields, line := c.poolSummary(ctx, p)
		lines = append(lines, line)
		if i < maxBlocks-2 {
			head := sayf("*%s* · %s", p.Name, c.stateWord(ctx, p))
			if imgs := nodeImages(p.Nodes); len(imgs) > 1 {
				head += fmt.Sprintf(" · :warning: %d images", len(imgs))
			}
			blocks = append(blocks, section(head, fields...))
		}
	}
	if more := len(shown) - (maxBlocks - 2); more > 0 {
		blocks = append(blocks, contextBlock(fmt.Sprintf("and %d more: narrow it with `/pool list <pattern>`", more)))
	}
	return c.respond(ctx, Reply{Text: esc(strings.Join(lines, "\n")), Blocks: blocks})
}

// poolSummary is a pool's list entry: Block Kit fields and a plain line.
func (c *call) poolSummary(ctx context.Context, p pool.Pool) ([]string, string) {
	n := p.Counts
	agents := fmt.Sprintf("%d idle · %d busy · %d offline · %d failed", n.Idle, n.Busy, n.Offline, n.Failed)
	if n.Starting > 0 {
		agents += fmt.Sprintf(" · %d starting", n.Starting)
	}
	fields := []string{
		"*Agents*\n" + agents,
		fmt.Sprintf("*Standby / max*\n%d / %d", p.Standby, p.Max),
	}
	line := fmt.Sprintf("%s: %s; agents %s; standby %d, max %d", p.Name, c.stateWord(ctx, p), agents, p.Standby, p.Max)
	if p.ScaleSet != nil && !p.ScaleSet.Image.IsZero() {
		fields = append(fields, "*Image*\n"+esc(p.ScaleSet.Image.Short()))
		line += "; image " + p.ScaleSet.Image.Short()
	}
	if imgs := nodeImages(p.Nodes); len(imgs) > 1 {
		// Drift: the agents do not all run one image (a rollout under
		// way, or agents never reimaged after a change).
		var parts []string
		for _, im := range imgs {
			parts = append(parts, fmt.Sprintf("%s ×%d", im.image.Short(), im.agents))
		}
		drift := fmt.Sprintf("%d images on its agents: %s", len(imgs), strings.Join(parts, ", "))
		fields = append(fields, "*:warning: Drift*\n"+esc(drift))
		line += "; " + drift
	}
	if c.h.o.Cost != nil {
		if amount, cur, ok := c.h.o.Cost.Today(ctx, p.Name); ok {
			cost := fmt.Sprintf("≈ %.2f %s", amount, cur)
			fields = append(fields, "*Today*\n"+cost)
			line += "; today " + cost
		}
	}
	if c.h.o.Scheduler != nil {
		if next, err := c.h.o.Scheduler.Next(ctx, p.Name, 1); err == nil && len(next) > 0 {
			// The schedule's zone is that of its next change: no second
			// look-up per pool.
			loc := c.ownZone(ctx)
			if loc == nil {
				loc = next[0].At.Location()
			}
			s := changeLine(next[0], loc, c.now())
			fields = append(fields, "*Next*\n"+esc(s))
			line += "; next " + s
		}
	}
	return fields, line
}

// stateWord is a pool's state, with the reason a person looks for.
func (c *call) stateWord(ctx context.Context, p pool.Pool) string {
	switch {
	case p.State == "":
		return "unknown"
	case p.State == pool.StateOffline && !p.OfflineSince.IsZero():
		return "offline since " + fmtWhen(p.OfflineSince, c.readerZone(ctx, p.Name), c.now())
	}
	return string(p.State)
}

// imageCount is how many agents run an image.
type imageCount struct {
	image  pool.Image
	agents int
}

// nodeImages counts the images the nodes run, those going away left out,
// the most used first.
func nodeImages(nodes []pool.Node) []imageCount {
	var out []imageCount
	for _, n := range nodes {
		if n.Image.IsZero() || n.State.Class() == pool.ClassGoing {
			continue
		}
		i := slices.IndexFunc(out, func(c imageCount) bool { return c.image == n.Image })
		if i < 0 {
			out = append(out, imageCount{image: n.Image})
			i = len(out) - 1
		}
		out[i].agents++
	}
	slices.SortStableFunc(out, func(a, b imageCount) int { return b.agents - a.agents })
	return out
}
