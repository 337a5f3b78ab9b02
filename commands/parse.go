package commands

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Args is a command's arguments: positional words and key=value options,
// each in the order written.
type Args struct {
	Pos  []string
	Opts []Opt
}

// Opt is one key=value option.
type Opt struct{ Key, Value string }

// maxInput bounds what Parse reads: a slash command is short, and a bound
// keeps every later step (edit distances, globs) cheap.
const maxInput = 2000

// Parse splits a command line into positional words and key=value options.
// It is strict: keys are lower-case words, every option has a value, a key is
// given once, and control characters or invalid UTF-8 are refused. Parse of
// Args.String gives back the same Args.
func Parse(s string) (Args, error) {
	var a Args
	if len(s) > maxInput {
		return a, fmt.Errorf("the command is too long (%d characters; at most %d)", len(s), maxInput)
	}
	if !utf8.ValidString(s) {
		return a, fmt.Errorf("the command is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) && !unicode.IsSpace(r) {
			return a, fmt.Errorf("the command contains a control character (%U)", r)
		}
	}
	for _, tok := range strings.Fields(s) {
		k, v, ok := strings.Cut(tok, "=")
		if !ok {
			a.Pos = append(a.Pos, tok)
			continue
		}
		k = strings.ToLower(k)
		if !validKey(k) {
			return Args{}, fmt.Errorf("%q is not an option: write options as key=value, e.g. standby=2", tok)
		}
		if v == "" {
			return Args{}, fmt.Errorf("option %s has no value: write %s=VALUE", k, k)
		}
		if _, dup := a.Get(k); dup {
			return Args{}, fmt.Errorf("option %s is given twice", k)
		}
		a.Opts = append(a.Opts, Opt{Key: k, Value: v})
	}
	return a, nil
}

func validKey(k string) bool {
	if k == "" || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// String renders a as Parse reads it: positional words, then options.
func (a Args) String() string {
	parts := make([]string, 0, len(a.Pos)+len(a.Opts))
	parts = append(parts, a.Pos...)
	for _, o := range a.Opts {
		parts = append(parts, o.Key+"="+o.Value)
	}
	return strings.Join(parts, " ")
}

// Get returns the value of option key.
func (a Args) Get(key string) (string, bool) {
	for _, o := range a.Opts {
		if o.Key == key {
			return o.Value, true
		}
	}
	return "", false
}

// What counts may be: Azure DevOps takes at most 1000 agents per pool.
const (
	maxAgents  = 1000
	maxTTLMins = 100000
)

// parseCount reads a whole number from lo to hi; every refusal says the
// range: "max must be a whole number from 1 to 1000, not "x"".
func parseCount(name, s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") || n < lo || n > hi {
		return 0, usagef("%s must be a whole number from %d to %d, not %q", name, lo, hi, s)
	}
	return n, nil
}

// maxFor bounds for= durations: holds and mutes are for hours or days, not
// for good.
const maxFor = 30 * 24 * time.Hour

// parseFor reads a duration such as 90m, 3h or 2d.
func parseFor(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
		if n > 1000 {
			err = fmt.Errorf("too long")
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < time.Minute || d > maxFor {
		return 0, usagef("for must be a duration from 1m to %dd, like 90m, 3h or 2d, not %q", int(maxFor.Hours()/24), s)
	}
	return d, nil
}

// parseUntil reads HH:MM and returns its next occurrence after now in loc.
func parseUntil(s string, now time.Time, loc *time.Location) (time.Time, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return time.Time{}, usagef("until must be a time of day from 00:00 to 23:59, like until=18:30, not %q", s)
	}
	n := now.In(loc)
	at := time.Date(n.Year(), n.Month(), n.Day(), t.Hour(), t.Minute(), 0, 0, loc)
	if !at.After(n) {
		at = time.Date(n.Year(), n.Month(), n.Day()+1, t.Hour(), t.Minute(), 0, 0, loc)
	}
	return at, nil
}
