package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// historyCommands is the command table's entries of history.go.
func historyCommands() []*command {
	return []*command{{
		name:  "history",
		usage: "history [pool]",
		help:  "Shows the audit trail: who changed what, when, from where, and how it went; for one pool or a pattern, or for every pool you may see.",
		role:  RoleViewer,
		min:   0, max: 1, pool: optGlob,
		run: runHistory,
	}}
}

const historyLen = 20

func runHistory(ctx context.Context, c *call) error {
	q := pool.AuditQuery{Limit: historyLen}
	filter := ""
	switch {
	case len(c.args.Pos) == 1 && !isGlob(c.args.Pos[0]):
		q.Pool = c.pools[0]
	case len(c.args.Pos) == 1:
		filter = c.args.Pos[0]
		q.Limit = 500 // filtered here: the store matches names only
	default:
		q.Limit = 500
	}
	entries, err := c.h.o.Store.Audit(ctx, q)
	if err != nil {
		return fmt.Errorf("read the audit trail: %w", err)
	}
	now := c.now()
	zones := map[string]*time.Location{}
	var lines []string
	for _, e := range entries {
		if len(lines) == historyLen {
			break
		}
		if filter != "" && !globMatch(filter, e.Pool) {
			continue
		}
		if q.Pool == "" && c.h.roleFor(c.req, e.Pool) < RoleViewer {
			continue
		}
		loc, ok := zones[e.Pool]
		if !ok {
			loc = c.readerZone(ctx, e.Pool)
			zones[e.Pool] = loc
		}
		lines = append(lines, auditLine(e, loc, now, q.Pool == ""))
	}
	if len(lines) == 0 {
		return c.respond(ctx, say("Nothing in the audit trail yet."))
	}
	title := "Last changes"
	if len(c.args.Pos) == 1 {
		title += " of " + c.args.Pos[0]
	}
	return c.respond(ctx, say(sayf("*%s* (newest first)\n%s", title, strings.Join(lines, "\n"))))
}

// auditLine renders one audit entry: when, who, what, before → after, result.
func auditLine(e pool.AuditEntry, loc *time.Location, now time.Time, withPool bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", fmtWhen(e.Time, loc, now), nameOf(e.ActorName, e.Actor))
	if e.Source != "" && e.Source != "slack" {
		fmt.Fprintf(&b, " (%s)", e.Source)
	}
	fmt.Fprintf(&b, ": %s", oneLine(e.Command, 120))
	if withPool && e.Pool != "" && !strings.Contains(e.Command, e.Pool) {
		fmt.Fprintf(&b, " [%s]", e.Pool)
	}
	if e.Before != "" || e.After != "" {
		fmt.Fprintf(&b, " — %s", diff(e.Before, e.After))
	}
	fmt.Fprintf(&b, " — %s", oneLine(e.Result, 160))
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// diff renders before → after; when both are key=value lists with the same
// keys, only the values that changed: "standby 2 → 0".
func diff(before, after string) string {
	bf, af := strings.Fields(before), strings.Fields(after)
	full := fmt.Sprintf("%s → %s", orDash(before), orDash(after))
	if len(bf) == 0 || len(bf) != len(af) {
		return full
	}
	var parts []string
	for i := range bf {
		bk, bv, ok1 := strings.Cut(bf[i], "=")
		ak, av, ok2 := strings.Cut(af[i], "=")
		if !ok1 || !ok2 || bk != ak {
			return full
		}
		if bv != av {
			parts = append(parts, fmt.Sprintf("%s %s → %s", bk, bv, av))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}
