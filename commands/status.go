package commands

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackmsg"
)

// statusCommands is the command table's entries of status.go.
func statusCommands() []*command {
	return []*command{{
		name:  "status",
		usage: "status <pool> [chart=24h]",
		help: "Shows one pool in detail: settings, scale set and image, nodes by state, each node's image and " +
			"agent version, an image rollout's progress, jobs waiting, recent errors, any hold against its schedule, " +
			"and its last changes. chart=24h (1h to 24h) adds a picture " +
			"of its agents, busy, idle and the others, every 10 minutes over that span, shared in the channel.",
		role: RoleViewer,
		keys: []string{"chart"},
		min:  1, max: 1, pool: onePool,
		run: runStatus,
	}}
}

// statusReadAge is how late status may show a hold, mute, rollout, lock
// holder or change that another replica wrote to the store: a second, well
// under the snapshot's age that status shows for the pool itself. One made
// through this replica shows at once.
const statusReadAge = time.Second

func runStatus(ctx context.Context, c *call) error {
	name := c.pools[0]
	span, charted, err := chartSpan(c)
	if err != nil {
		return err
	}
	p, at, err := c.getPool(ctx, name)
	if err != nil {
		return err
	}
	age := c.asOf(at)
	loc := c.readerZone(ctx, name)
	now := c.now()
	// lines is the fallback: mrkdwn, poolbot's words and escaped data.
	var lines []string
	kind, azureSide := "elastic pool", "Scale set"
	if p.Kind == "managed" {
		kind, azureSide = "Managed DevOps Pool", "Managed DevOps Pool"
	}
	blocks := []slack.Block{section(sayf("*%s* · %s · %s", p.Name, kind, c.stateWord(ctx, p))+age,
		fmt.Sprintf("*Standby / max*\n%d / %d", p.Standby, p.Max),
		fmt.Sprintf("*TTL*\n%d min", p.TTLMinutes),
		fmt.Sprintf("*Recycle after each job*\n%t", p.Recycle),
		fmt.Sprintf("*Jobs waiting*\n%s", queueWord(p.Queue)))}
	lines = append(lines, sayf("%s (%s): %s; standby %d, max %d, ttl %d min, recycle %t; jobs waiting %s",
		p.Name, kind, c.stateWord(ctx, p), p.Standby, p.Max, p.TTLMinutes, p.Recycle, queueWord(p.Queue))+age)
	if p.StandbyBy != "" {
		blocks = append(blocks, section(sayf("*Standby set by* %s", p.StandbyBy)))
		lines = append(lines, sayf("standby set by %s", p.StandbyBy))
	}

	if ss := p.ScaleSet; ss != nil {
		blocks = append(blocks, section("", "*"+azureSide+"*\n"+esc(ss.Name), fmt.Sprintf("*SKU*\n%s in %s", esc(ss.SKU), esc(ss.Region)),
			"*Image*\n"+esc(ss.Image.Short()), fmt.Sprintf("*Capacity*\n%d", ss.Capacity)))
		lines = append(lines, sayf("%s %s: %s in %s, capacity %d, image %s", strings.ToLower(azureSide), ss.Name, ss.SKU, ss.Region, ss.Capacity, ss.Image.Short()))
	}

	nodes := nodeSummary(p.Nodes)
	blocks = append(blocks, section("*Nodes*: "+nodes))
	lines = append(lines, "nodes: "+nodes)
	if list := nodeList(p.Nodes, loc, now); len(list) > 0 {
		// The ids and names `/pool node` takes.
		blocks = append(blocks, section("```"+esc(strings.Join(list, "\n"))+"```"))
		lines = append(lines, esc(strings.Join(list, "\n")))
	}

	// What the store adds is read for display only: it may come from this
	// replica's reads of the last statusReadAge, never from before a write
	// made through it.
	shown := pool.MayBeCached(ctx, statusReadAge)
	var extra []string
	if line := rolloutLine(shown, c, p, loc, now); line != "" {
		extra = append(extra, line)
	}
	if h, ok := c.h.o.Changer.Holder(shown, name); ok {
		extra = append(extra, sayf(":hourglass: being changed by %s (`%s`)", nameOf(h.Actor.Name, h.Actor.ID), h.Command))
	}
	if ovs, err := c.h.o.Store.Overrides(shown); err == nil {
		for _, o := range ovs {
			if o.Pool == name {
				extra = append(extra, ":pushpin: "+overrideLine(o, loc, now))
			}
		}
	}
	if mutes, err := c.h.o.Store.Mutes(shown); err == nil {
		for _, m := range mutes {
			if m.Pool == name && m.Until.After(now) {
				what := "all alerts"
				if m.Condition != "" {
					what = m.Condition + " alerts"
				}
				extra = append(extra, sayf(":no_bell: %s muted until %s by %s", what, fmtWhen(m.Until, loc, now), byWhom(m.By)))
			}
		}
	}
	if c.h.o.Scheduler != nil {
		if next, err := c.h.o.Scheduler.Next(ctx, name, 1); err == nil && len(next) > 0 {
			extra = append(extra, ":calendar: next: "+esc(changeLine(next[0], loc, now)))
		}
	}
	if len(extra) > 0 {
		blocks = append(blocks, section(strings.Join(extra, "\n")))
		lines = append(lines, extra...)
	}

	if logs, err := c.h.o.Service.Logs(ctx, name, 0); err == nil {
		var errs []string
		for i := len(logs) - 1; i >= 0 && len(errs) < 3; i-- {
			if strings.EqualFold(logs[i].Level, "error") {
				l := logs[i]
				errs = append(errs, fmt.Sprintf("%s %s: %s", fmtWhen(l.Time, loc, now), l.Operation, oneLine(l.Message, 200)))
			}
		}
		if len(errs) > 0 {
			blocks = append(blocks, section("*Recent errors*\n"+esc(strings.Join(errs, "\n"))))
			lines = append(lines, "recent errors: "+esc(strings.Join(errs, "; ")))
		}
	}

	if entries, err := c.h.o.Store.Audit(shown, pool.AuditQuery{Pool: name, Limit: 5}); err == nil && len(entries) > 0 {
		var ls []string
		for _, e := range entries {
			ls = append(ls, auditLine(e, loc, now, false))
		}
		blocks = append(blocks, section("*Last changes*\n"+esc(strings.Join(ls, "\n"))))
		lines = append(lines, "last changes: "+esc(strings.Join(ls, "; ")))
	}
	if charted {
		note := c.shareAgentsChart(ctx, name, span, now)
		blocks = append(blocks, section(note))
		lines = append(lines, note)
	}
	return c.respond(ctx, Reply{Text: fallback(strings.Join(lines, "\n")), Blocks: blocks})
}

func queueWord(q int) string {
	if q < 0 {
		return "unknown"
	}
	return fmt.Sprint(q)
}

// nodeSummary counts nodes by class, naming the states behind the failed
// and offline ones.
func nodeSummary(nodes []pool.Node) string {
	if len(nodes) == 0 {
		return "none"
	}
	n := pool.Count(nodes)
	s := fmt.Sprintf("%d idle, %d busy, %d starting, %d offline, %d failed, %d going", n.Idle, n.Busy, n.Starting, n.Offline, n.Failed, n.Going)
	byState := map[pool.NodeState]int{}
	for _, nd := range nodes {
		if c := nd.State.Class(); c == pool.ClassFailed || c == pool.ClassGoing {
			byState[nd.State]++
		}
	}
	var detail []string
	for st, k := range byState {
		detail = append(detail, fmt.Sprintf("%s %d", st, k))
	}
	slices.Sort(detail)
	if len(detail) > 0 {
		s += " (" + strings.Join(detail, ", ") + ")"
	}
	return s
}

// maxNodeLines bounds the node list of status; the summary counts them all.
const maxNodeLines = 25

// nodeList is a line per node: id, agent name, state, image, agent
// version, since when (in loc); the failed ones first, then by id.
func nodeList(nodes []pool.Node, loc *time.Location, now time.Time) []string {
	ns := slices.Clone(nodes)
	slices.SortFunc(ns, func(a, b pool.Node) int {
		af, bf := a.State.Failed(), b.State.Failed()
		switch {
		case af && !bf:
			return -1
		case bf && !af:
			return 1
		}
		return a.ID - b.ID
	})
	var out []string
	for i, n := range ns {
		if i == maxNodeLines {
			out = append(out, fmt.Sprintf("… and %d more", len(ns)-i))
			break
		}
		since := ""
		if !n.StateChangedOn.IsZero() {
			since = " since " + fmtWhen(n.StateChangedOn, loc, now)
		}
		name, img, agent := n.Name, n.Image.Short(), n.AgentVersion
		if name == "" {
			name = "-"
		}
		if img == "" {
			img = "-"
		}
		if agent == "" {
			agent = "-"
		}
		out = append(out, fmt.Sprintf("#%-4d %-20s %-16s %-24s agent %-9s%s", n.ID, name, n.State, img, agent, since))
	}
	return out
}

// overrideLine says how a pool is held against its schedule, as mrkdwn.
func overrideLine(o pool.Override, loc *time.Location, now time.Time) string {
	if o.Kind == "skip" {
		return sayf("the scheduled change at %s is skipped (by %s)", fmtWhen(o.SkipAt, loc, now), byWhom(o.By))
	}
	until := "the next scheduled change"
	if !o.Until.IsZero() {
		until = fmtWhen(o.Until, loc, now)
	}
	return sayf("held at %s until %s (by %s)", o.Settings, until, byWhom(o.By))
}

// slackUserID is the shape of a Slack user id.
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// byWhom names who set a hold or a mute: a Slack user id as a mention,
// which Slack shows as their name, else as recorded ("scheduler").
func byWhom(by string) slackmsg.Mrkdwn {
	if slackUserID.MatchString(by) {
		return slackmsg.Mrkdwn("<@" + by + ">")
	}
	return slackmsg.Mrkdwn(esc(by))
}

func nameOf(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// recentRollout is how long a finished rollout stays in status.
const recentRollout = 24 * time.Hour

// rolloutLine is the pool's image rollout, running or finished within a
// day, as mrkdwn: its progress, since when, and how many agents run the
// new image now; "" when there is none.
func rolloutLine(ctx context.Context, c *call, p pool.Pool, loc *time.Location, now time.Time) string {
	r, err := c.h.o.Changer.Rollout(ctx, p.Name)
	if err != nil || !r.Active() && now.Sub(r.Ended) > recentRollout {
		return ""
	}
	on, total := 0, 0
	for _, n := range p.Nodes {
		if n.State.Class() == pool.ClassGoing {
			continue
		}
		total++
		if n.Image == r.Image {
			on++
		}
	}
	line := r.Progress()
	if r.Active() {
		line += fmt.Sprintf("; phase %s since %s, started %s; %d of %d agents on it now",
			r.Phase, fmtWhen(r.PhaseSince(), loc, now), fmtWhen(r.Started, loc, now), on, total)
	}
	return line
}
