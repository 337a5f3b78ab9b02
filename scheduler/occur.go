package scheduler

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/poolbot/poolbot/pool"
)

// lookback is how far back the desired state is folded from: a week and a
// day, so that a weekly schedule always has every one of its entries in it.
const lookback = 8 * 24 * time.Hour

// farLookback is how far back a schedule with no entry in lookback (a monthly
// one, say) is searched for its latest entry.
const farLookback = 400 * 24 * time.Hour

// schedule is a Schedule compiled: its zone loaded and its entries
// parsed.
type schedule struct {
	cfg     Schedule
	loc     *time.Location
	skip    map[string]bool // local dates, YYYY-MM-DD
	entries []*entry
	auto    *Autopilot // mode = "autopilot": no entries
}

// entry is one compiled Entry.
type entry struct {
	index    int
	cron     string
	spec     *cron.SpecSchedule // in UTC: it yields local wall times, not instants
	settings pool.Settings      // the fields the entry sets
	restore  bool
}

// occurrence is one instant at which an entry takes effect.
type occurrence struct {
	At    time.Time // the instant, in the schedule's zone
	Wall  time.Time // the local wall time the cron expression named, as UTC fields
	Entry *entry
}

// parseCron parses a 5-field cron expression (or a descriptor such as
// @daily) with robfig/cron's standard parser. Time-zone prefixes are refused
// (the schedule's timezone says it) and so is @every, which has no wall time.
func parseCron(expr string) (spec *cron.SpecSchedule, err error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, fmt.Errorf("cron %q: give the time zone as the schedule's timezone, not in the expression", expr)
	}
	if strings.HasPrefix(expr, "@every") {
		return nil, fmt.Errorf("cron %q: @every counts from start-up, not from the clock; write the times out", expr)
	}
	defer func() {
		// The parser has panicked on malformed input before; a bad line in a
		// config file must be an error, not a crash.
		if r := recover(); r != nil {
			spec, err = nil, fmt.Errorf("cron %q: cannot parse", expr)
		}
	}()
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v", expr, err)
	}
	ss, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("cron %q: not a time-of-day schedule", expr)
	}
	c := *ss
	c.Location = time.UTC
	if c.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("cron %q: never matches a real date", expr)
	}
	return &c, nil
}

// loadZone loads an IANA zone; an empty name is UTC. "Local" is refused: the
// machine's zone must not change when a schedule runs.
func loadZone(name string) (*time.Location, error) {
	switch name {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, fmt.Errorf("timezone %q: name an IANA zone such as Europe/Paris", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: unknown zone (an IANA name such as Europe/Paris)", name)
	}
	return loc, nil
}

// compile checks and compiles one schedule. Its problems carry the key of
// the config they are about, relative to the schedule ("entries[1].cron").
func compile(sc Schedule) (*schedule, []problem) {
	var probs []problem
	bad := func(key, format string, args ...any) {
		probs = append(probs, problem{key: key, msg: fmt.Sprintf(format, args...)})
	}
	s := &schedule{cfg: sc, skip: map[string]bool{}, loc: time.UTC}
	if loc, err := loadZone(sc.TimeZone); err != nil {
		bad("timezone", "%v", err)
	} else {
		s.loc = loc
	}
	if len(sc.Pools) == 0 {
		bad("pools", "no pools: give the pools (names or globs) the schedule sets")
	}
	for i, p := range sc.Pools {
		if _, err := path.Match(p, ""); err != nil || strings.TrimSpace(p) == "" {
			bad(fmt.Sprintf("pools[%d]", i), "%q is not a pool name or glob", p)
		}
	}
	for i, d := range sc.Skip {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			bad(fmt.Sprintf("skip[%d]", i), "%q is not a date like 2026-12-25", d)
			continue
		}
		s.skip[t.Format("2006-01-02")] = true
	}
	if sc.Autopilot() || sc.Mode != "" {
		compileAutopilot(s, bad)
	} else if len(sc.Entries) == 0 {
		bad("entries", "no entries")
	}
	for i, e := range sc.Entries {
		k := fmt.Sprintf("entries[%d]", i)
		spec, err := parseCron(e.Cron)
		if err != nil {
			bad(k+".cron", "entry %d: %v", i+1, err)
			continue
		}
		en := &entry{index: i, cron: strings.TrimSpace(e.Cron), spec: spec, restore: e.Restore,
			settings: pool.Settings{Standby: e.Standby, Max: e.Max, TTLMinutes: e.TTL}}
		what := fmt.Sprintf("entry %d (%s)", i+1, en.cron)
		switch {
		case en.settings.Empty() && !e.Restore:
			bad(k, "%s sets nothing: give standby, max, ttl or restore = true", what)
			continue
		case e.Standby != nil && *e.Standby < 0:
			bad(k+".standby", "%s: standby must not be negative", what)
			continue
		case e.TTL != nil && *e.TTL < 0:
			bad(k+".ttl", "%s: ttl must not be negative", what)
			continue
		case e.Max != nil && (*e.Max < 1 || *e.Max > 1000):
			bad(k+".max", "%s: max must be between 1 and 1000", what)
			continue
		case e.Standby != nil && e.Max != nil && *e.Standby > *e.Max:
			bad(k+".standby", "%s: standby %d is more than max %d", what, *e.Standby, *e.Max)
			continue
		}
		s.entries = append(s.entries, en)
	}
	return s, probs
}

// matches reports whether the schedule claims the named pool.
func (s *schedule) matches(name string) bool {
	for _, p := range s.cfg.Pools {
		if p == name {
			return true
		}
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// between returns the occurrences with from <= At <= to, in order. Holidays
// are left out. Two occurrences at one instant are ordered by local wall
// time (an entry moved out of a spring-forward gap comes before the entry
// that names the time after the gap), then by their order in the config, so
// the later one wins.
func (s *schedule) between(from, to time.Time) []occurrence {
	if to.Before(from) {
		return nil
	}
	var out []occurrence
	for _, e := range s.entries {
		out = s.entryBetween(out, e, from, to)
	}
	sortOccurrences(out)
	return out
}

// entryBetween appends e's occurrences with from <= At <= to to out, in
// order, holidays left out.
func (s *schedule) entryBetween(out []occurrence, e *entry, from, to time.Time) []occurrence {
	// The wall times to consider, as UTC fields: those of from and to, and a
	// day either side when the zone's offset changes near them (a wall time
	// then maps to an instant up to a day away).
	pad := 24 * time.Hour
	if steadyOffset(s.loc, from.Add(-pad), to.Add(pad)) {
		pad = 0
	}
	wf := wallOf(from.In(s.loc)).Add(-pad)
	wt := wallOf(to.In(s.loc)).Add(pad)
	var seen map[time.Time]bool
	if pad > 0 {
		seen = map[time.Time]bool{} // clocks going back show a wall time twice
	}
	for w := e.spec.Next(wf.Add(-time.Second)); !w.IsZero() && !w.After(wt); w = e.spec.Next(w) {
		if len(s.skip) > 0 && s.skip[w.Format("2006-01-02")] {
			continue
		}
		at := w
		if s.loc != time.UTC {
			at = resolve(w, s.loc)
		}
		if at.Before(from) || at.After(to) || seen[at.UTC()] {
			continue
		}
		if seen != nil {
			seen[at.UTC()] = true
		}
		out = append(out, occurrence{At: at, Wall: w, Entry: e})
	}
	return out
}

// steadyOffset reports whether loc keeps one UTC offset from a to b, so that
// wall times and instants differ by it throughout.
func steadyOffset(loc *time.Location, a, b time.Time) bool {
	if loc == time.UTC {
		return true
	}
	start, end := a.In(loc).ZoneBounds()
	return (start.IsZero() || !start.After(a)) && (end.IsZero() || end.After(b))
}

// sortOccurrences orders occurrences by instant, then as between says.
func sortOccurrences(occ []occurrence) {
	sort.SliceStable(occ, func(i, j int) bool {
		a, b := occ[i], occ[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		if !a.Wall.Equal(b.Wall) {
			return a.Wall.Before(b.Wall)
		}
		return a.Entry.index < b.Entry.index
	})
}

// latest returns e's latest occurrence in [from, to] that is not at skipAt,
// looking back from to over windows that double, so that a dense entry (one
// a minute) costs its last hour rather than the whole span.
func (s *schedule) latest(e *entry, from, to, skipAt time.Time) (occurrence, bool) {
	var buf []occurrence
	for span := time.Hour; ; span *= 2 {
		lo := to.Add(-span)
		if lo.Before(from) {
			lo = from
		}
		buf = s.entryBetween(buf[:0], e, lo, to)
		for i := len(buf) - 1; i >= 0; i-- {
			if !buf[i].At.Equal(skipAt) {
				return buf[i], true
			}
		}
		if !lo.After(from) {
			return occurrence{}, false
		}
	}
}

// after returns the first n occurrences after t (strictly), searching up to
// a year ahead.
func (s *schedule) after(t time.Time, n int) []occurrence {
	type key struct {
		at time.Time
		e  *entry
	}
	seen := map[key]bool{}
	var out []occurrence
	// Windows that double from an hour: the next of a dense entry is found
	// in its first, a monthly one's in a dozen.
	span := time.Hour
	for from := t; len(out) < n && from.Sub(t) < farLookback; from, span = from.Add(span), 2*span {
		to := from.Add(span)
		if end := t.Add(farLookback); to.After(end) {
			to = end
		}
		for _, o := range s.between(from, to) {
			k := key{o.At.UTC(), o.Entry}
			if !o.At.After(t) || seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, o)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// wallOf returns t's wall-clock fields as a UTC time.
func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// resolve returns the instant at which wall time w (UTC fields) takes effect
// in loc: the instant showing that wall time; its first occurrence when the
// clocks go back; and, when the clocks go forward over it, the first instant
// after the gap.
func resolve(w time.Time, loc *time.Location) time.Time {
	// The offsets in force a day either side bracket any one transition.
	_, offA := w.Add(-24 * time.Hour).In(loc).Zone()
	_, offB := w.Add(24 * time.Hour).In(loc).Zone()
	var best time.Time
	for _, off := range []int{offA, offB} {
		t := w.Add(-time.Duration(off) * time.Second).In(loc)
		if wallOf(t).Equal(w) && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if !best.IsZero() {
		return best
	}
	// In a gap: with the larger offset the instant falls before the
	// transition; the end of that zone period is the first instant after.
	hi := max(offA, offB)
	t := w.Add(-time.Duration(hi) * time.Second).In(loc)
	if _, end := t.ZoneBounds(); !end.IsZero() {
		return end.In(loc)
	}
	return t
}
