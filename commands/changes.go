package commands

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// settingsChange is a settings change of one or more pools: the settings
// each pool gets, and what to do once a pool has them.
type settingsChange struct {
	verb   string // "scale down", for the confirmation
	danger bool
	// settings returns the settings for a pool as it is now.
	settings func(ctx context.Context, cur pool.Pool) (pool.Settings, error)
	// before runs just before the change, e.g. to save settings.
	before func(ctx context.Context, cur pool.Pool) error
	// after runs once the pool is changed and returns a note for the reply.
	after func(ctx context.Context, before, after pool.Pool, s pool.Settings) (string, error)
}

type planned struct {
	cur pool.Pool
	s   pool.Settings
}

// applySettings plans the change for every pool of the call, refusing it
// whole if any pool would refuse it; asks for confirmation when it touches
// several pools; then changes each pool through the Changer and reports in
// the channel.
func (c *call) applySettings(ctx context.Context, sc settingsChange) error {
	plans := make([]planned, 0, len(c.pools))
	for _, name := range c.pools {
		cur, err := c.h.o.Changer.Current(ctx, name)
		if err != nil {
			return err
		}
		s, err := sc.settings(ctx, cur)
		if err != nil {
			return err
		}
		if err := s.Validate(cur); err != nil {
			return &pool.Error{Kind: pool.KindInvalid, Pool: name, Msg: fmt.Sprintf("%s: %v; nothing was changed", name, err)}
		}
		plans = append(plans, planned{cur: cur, s: s})
	}
	// A pattern is confirmed even when it matches one pool: the requester
	// sees what it matched before anything changes.
	if (len(plans) > 1 || isGlob(c.args.Pos[c.cmd.poolAt])) && !c.confirmed {
		var lines []string
		for _, p := range plans {
			lines = append(lines, fmt.Sprintf("• *%s*: %s", esc(p.cur.Name), describe(p.cur, p.s.Apply(p.cur), p.s)))
		}
		q := fmt.Sprintf("%s %s matching `%s`?\n%s", capitalize(sc.verb), plural(len(plans), "pool"),
			esc(c.args.Pos[c.cmd.poolAt]), strings.Join(lines, "\n"))
		return c.askConfirm(ctx, q, capitalize(sc.verb), sc.danger)
	}
	var done []string
	var failed error
	for _, p := range plans {
		if sc.before != nil {
			if err := sc.before(ctx, p.cur); err != nil {
				failed = err
				break
			}
		}
		before, after, err := c.h.o.Changer.Update(ctx, c.actor, c.text, p.cur.Name, p.s)
		if err != nil {
			failed = err
			break
		}
		line := fmt.Sprintf("set *%s* %s", esc(after.Name), describe(before, after, p.s))
		if sc.after != nil {
			note, err := sc.after(ctx, before, after, p.s)
			if note != "" {
				line += " " + note
			}
			if err != nil {
				line += fmt.Sprintf(" (but: %v)", err)
			}
		}
		done = append(done, line)
	}
	if len(done) == 0 {
		return failed
	}
	text := c.who() + " " + strings.Join(done, "\n"+c.who()+" ")
	if failed != nil {
		text += fmt.Sprintf("\nStopped there: %v", failed)
	}
	return c.respond(ctx, Reply{Text: slackToPlain(text), Blocks: textBlocks(text), InChannel: true})
}

// describe says what s changes: "standby 2 → 0, max 10".
func describe(before, after pool.Pool, s pool.Settings) string {
	var parts []string
	field := func(name string, set bool, b, a any) {
		if !set {
			return
		}
		if fmt.Sprint(b) == fmt.Sprint(a) {
			parts = append(parts, fmt.Sprintf("%s %v (unchanged)", name, a))
			return
		}
		parts = append(parts, fmt.Sprintf("%s %v → %v", name, b, a))
	}
	field("standby", s.Standby != nil, before.Standby, after.Standby)
	field("max", s.Max != nil, before.Max, after.Max)
	field("ttl", s.TTLMinutes != nil, fmtMinutes(before.TTLMinutes), fmtMinutes(after.TTLMinutes))
	field("recycle", s.Recycle != nil, before.Recycle, after.Recycle)
	if len(parts) == 0 {
		return "(no change)"
	}
	return strings.Join(parts, ", ")
}

func fmtMinutes(m int) string { return fmt.Sprintf("%dm", m) }

// bold is mrkdwn emphasis: *word*, not a glob's star.
var bold = regexp.MustCompile(`\*([^*\s][^*\n]*?)\*`)

// slackToPlain renders mrkdwn as plain text for the fallback: emphasis and
// code marks go, escapes are undone, and what is inside code stays as is.
func slackToPlain(s string) string {
	parts := strings.Split(s, "`")
	for i := range parts {
		if i%2 == 0 {
			parts[i] = bold.ReplaceAllString(parts[i], "$1")
		}
	}
	return unescape(strings.Join(parts, ""))
}

var unescape = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace

// holdUntil reads for= and until= (until in the pool's schedule time zone);
// zero means until the next scheduled change.
func (c *call) holdUntil(ctx context.Context, name string) (time.Time, error) {
	if v, ok := c.args.Get("for"); ok {
		if _, both := c.args.Get("until"); both {
			return time.Time{}, usagef("give for= or until=, not both")
		}
		d, err := parseFor(v)
		if err != nil {
			return time.Time{}, err
		}
		return c.now().Add(d), nil
	}
	if v, ok := c.args.Get("until"); ok {
		return parseUntil(v, c.now(), c.zone(ctx, name))
	}
	return time.Time{}, nil
}

// checkHold refuses for= and until= where there is no schedule to hold
// against, before anything changes.
func (c *call) checkHold(ctx context.Context) error {
	_, f := c.args.Get("for")
	_, u := c.args.Get("until")
	if (f || u) && c.h.o.Scheduler == nil {
		return usagef("for= and until= hold a pool against its schedule, and no schedule is configured")
	}
	for _, name := range c.pools {
		if _, err := c.holdUntil(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// zone is the time zone of the pool's schedule, else UTC.
func (c *call) zone(ctx context.Context, name string) *time.Location {
	if c.h.o.Scheduler == nil {
		return time.UTC
	}
	next, err := c.h.o.Scheduler.Next(ctx, name, 1)
	if err != nil || len(next) == 0 || next[0].At.Location() == nil {
		return time.UTC
	}
	return next[0].At.Location()
}

// hold keeps the pool at s until the time for=/until= give, or its next
// scheduled change, and says so.
func (c *call) hold(ctx context.Context, name string, s pool.Settings) (string, error) {
	if c.h.o.Scheduler == nil {
		return "", nil
	}
	until, err := c.holdUntil(ctx, name)
	if err != nil {
		return "", err
	}
	end, err := c.h.o.Scheduler.Hold(ctx, name, s, until, c.by())
	if err != nil {
		return "", fmt.Errorf("hold against the schedule: %w", err)
	}
	if end.IsZero() {
		return "", nil
	}
	return "until " + fmtWhen(end, c.zone(ctx, name), c.now()), nil
}

// fmtWhen renders t in loc: "18:00 CET" today, "Tue 07:00 CET" within a
// week, else the date.
func fmtWhen(t time.Time, loc *time.Location, now time.Time) string {
	t = t.In(loc)
	n := now.In(loc)
	switch {
	case t.Year() == n.Year() && t.YearDay() == n.YearDay():
		return t.Format("15:04 MST")
	case t.Sub(n) < 6*24*time.Hour && t.After(n):
		return t.Format("Mon 15:04 MST")
	}
	return t.Format("2006-01-02 15:04 MST")
}

// changeLine renders a scheduled change: "Tue 07:00 CET → standby=2 max=10".
func changeLine(ch pool.Change, now time.Time) string {
	what := ch.Settings.String()
	if ch.Restore {
		what = "restore saved settings"
	}
	s := fmt.Sprintf("%s → %s", fmtWhen(ch.At, ch.At.Location(), now), what)
	if ch.Skipped {
		s += " (skipped)"
	}
	return s
}
