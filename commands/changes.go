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
	// effect reports whether the command does something to a pool whose
	// settings it leaves as they are (a hold, a release); nil: nothing.
	effect func(ctx context.Context, cur pool.Pool) bool
	// confirm, when it returns a reason (mrkdwn), asks for confirmation
	// even for one pool: a hold of over 12 hours, say.
	confirm func(ctx context.Context) string
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
// whole if any pool would refuse it; says so and stops when it would change
// nothing; asks for confirmation when it names a pattern (or sc.confirm
// says so); then changes each pool it changes through the Changer and
// reports in the channel.
func (c *call) applySettings(ctx context.Context, sc settingsChange) error {
	plans := make([]planned, 0, len(c.pools))
	var unchanged []string
	for _, name := range c.pools {
		cur, ok := c.resolved[name]
		if !ok {
			var err error
			if cur, err = c.h.o.Changer.Current(ctx, name); err != nil {
				return err
			}
		}
		s, err := sc.settings(ctx, cur)
		if err != nil {
			return err
		}
		if err := c.h.o.Changer.Validate(cur, s); err != nil {
			return err
		}
		if sameSettings(s.Apply(cur), cur) && (sc.effect == nil || !sc.effect(ctx, cur)) {
			unchanged = append(unchanged, sayf("*%s* (%s)", name, describe(cur, cur, s)))
			continue
		}
		plans = append(plans, planned{cur: cur, s: s})
	}
	if len(plans) == 0 {
		c.result = "ok"
		return c.respond(ctx, say("Nothing to change: "+strings.Join(unchanged, ", ")+"."))
	}
	glob := isGlob(c.args.Pos[c.cmd.poolAt])
	why := ""
	if sc.confirm != nil {
		why = sc.confirm(ctx)
	}
	// A pattern is confirmed even when it matches one pool: the requester
	// sees what it matched before anything changes.
	if (len(c.pools) > 1 || glob || why != "") && !c.confirmed {
		var lines []string
		for _, p := range plans {
			lines = append(lines, sayf("• *%s*: %s", p.cur.Name, describe(p.cur, p.s.Apply(p.cur), p.s)))
		}
		if len(unchanged) > 0 {
			lines = append(lines, "• unchanged: "+strings.Join(unchanged, ", "))
		}
		q := sayf("%s %s", capitalize(sc.verb), plural(len(plans), "pool"))
		if glob {
			q += sayf(" matching `%s`", c.args.Pos[c.cmd.poolAt])
		}
		q += "?"
		if why != "" {
			q += " " + why
		}
		return c.askConfirm(ctx, q+"\n"+strings.Join(lines, "\n"), capitalize(sc.verb), sc.danger)
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
		before, after, err := c.h.o.Changer.Update(ctx, c.actor, c.text, p.cur, p.s)
		if err != nil {
			failed = err
			break
		}
		line := sayf("set *%s* %s", after.Name, describe(before, after, p.s))
		if sc.after != nil {
			note, err := sc.after(ctx, before, after, p.s)
			if note != "" {
				line += " " + esc(note)
			}
			if err != nil {
				line += sayf(" (but: %v)", err)
			}
		}
		done = append(done, line)
	}
	if len(done) == 0 {
		return failed
	}
	who := string(c.who())
	text := who + " " + strings.Join(done, "\n"+who+" ")
	if len(unchanged) > 0 {
		text += "\nUnchanged: " + strings.Join(unchanged, ", ")
	}
	if failed != nil {
		text += sayf("\nStopped there: %v", failed)
	}
	return c.respond(ctx, announce(text))
}

// sameSettings reports whether a and b have the same settings.
func sameSettings(a, b pool.Pool) bool {
	return a.Standby == b.Standby && a.Max == b.Max && a.TTLMinutes == b.TTLMinutes && a.Recycle == b.Recycle
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

// fallback renders mrkdwn as a message's fallback text: emphasis and code
// marks go, what is inside code stays as is, and escapes stay, since Slack
// reads the fallback as mrkdwn too.
func fallback(s string) string {
	parts := strings.Split(s, "`")
	for i := range parts {
		if i%2 == 0 {
			parts[i] = bold.ReplaceAllString(parts[i], "$1")
		}
	}
	return strings.Join(parts, "")
}

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
		return parseUntil(v, c.now(), c.scheduleZone(ctx, name))
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

// scheduleZone is the time zone of the pool's schedule, else UTC: where
// until= is read.
func (c *call) scheduleZone(ctx context.Context, name string) *time.Location {
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
	return "until " + fmtWhen(end, c.readerZone(ctx, name), c.now()), nil
}

// longHold is how long a hold may last before it is confirmed: longer is
// usually an until= meant for today that fell on tomorrow.
const longHold = 12 * time.Hour

// confirmLongHold asks for confirmation of a for= or until= hold of over
// 12 hours, saying until when (mrkdwn); "" when there is none.
func (c *call) confirmLongHold(ctx context.Context) string {
	if c.h.o.Scheduler == nil {
		return ""
	}
	for _, name := range c.pools {
		end, err := c.holdUntil(ctx, name)
		if err != nil || end.IsZero() || end.Sub(c.now()) <= longHold {
			continue
		}
		return sayf("It would be held until %s, %s from now.", fmtWhen(end, c.readerZone(ctx, name), c.now()),
			fmtDuration(end.Sub(c.now())))
	}
	return ""
}

// fmtDuration renders d in hours and minutes: "23 h 40 min".
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("%d min", m)
	case m == 0:
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// fmtWhen renders t in loc, always naming the zone: "18:00 CET" today,
// "tomorrow 00:30 CET", "Tue 07:00 CET" within a week, else the date.
func fmtWhen(t time.Time, loc *time.Location, now time.Time) string {
	t = t.In(loc)
	n := now.In(loc)
	day := func(x time.Time) time.Time { return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC) }
	days := int(day(t).Sub(day(n)).Hours() / 24)
	switch {
	case days == 0:
		return t.Format("15:04 ") + zoneName(t)
	case days == 1:
		return t.Format("tomorrow 15:04 ") + zoneName(t)
	case days == -1:
		return t.Format("yesterday 15:04 ") + zoneName(t)
	case days > 0 && days < 6:
		return t.Format("Mon 15:04 ") + zoneName(t)
	}
	return t.Format("2006-01-02 15:04 ") + zoneName(t)
}

// zoneName names t's zone: its abbreviation, or the zone's name where it
// has none ("+04" says less than "Asia/Dubai").
func zoneName(t time.Time) string {
	abbr, _ := t.Zone()
	if abbr == "" || abbr[0] == '+' || abbr[0] == '-' {
		if n := t.Location().String(); n != "" && n != "Local" {
			return n
		}
	}
	return abbr
}

// changeLine renders a scheduled change in loc: "Tue 07:00 CET → standby=2 max=10".
func changeLine(ch pool.Change, loc *time.Location, now time.Time) string {
	what := ch.Settings.String()
	if ch.Restore {
		what = "restore saved settings"
	}
	s := fmt.Sprintf("%s → %s", fmtWhen(ch.At, loc, now), what)
	if ch.Skipped {
		s += " (skipped)"
	}
	return s
}
