package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/poolbot/poolbot/typo"
)

// typeCheck compares every key of a document with the field it sets, before
// decoding: the decoder stops at its first mistake and describes it in Go's
// terms ("cannot decode TOML string into struct field config.Slack.Workers
// of type int"), while a user wants every mistake, in words.
type typeCheck struct {
	idx      *docIndex
	sections map[string]bool // top-level sections read; nil: all
	errs     []error
	bad      map[string]bool // keys reported: neither decoded nor validated
	blankExp map[int]bool    // expressions to blank out
	blankHdr map[int]bool    // headers to blank out, with their expressions
}

var (
	configType   = reflect.TypeOf(Config{})
	durationType = reflect.TypeOf(Duration{})
	secretType   = reflect.TypeOf(Secret{})
)

func (tc *typeCheck) report(line int, key, format string, args ...any) {
	tc.errs = append(tc.errs, tc.idx.lineError(line, key, fmt.Sprintf(format, args...)))
	tc.bad[key] = true
}

// covers reports whether key, or a key it is part of or that is part of it,
// was reported by the type check.
func (tc *typeCheck) covers(key string) bool {
	for b := range tc.bad {
		if key == b || within(key, b) || within(b, key) {
			return true
		}
	}
	return false
}

// within reports whether key is inside parent: a.b[1].c is within a.b.
func within(key, parent string) bool {
	return strings.HasPrefix(key, parent) && len(key) > len(parent) && (key[len(parent)] == '.' || key[len(parent)] == '[')
}

// reads reports whether the key's top-level section is read.
func (tc *typeCheck) reads(key string) bool {
	if tc.sections == nil {
		return true
	}
	top := key
	if i := strings.IndexAny(key, ".["); i >= 0 {
		top = key[:i]
	}
	return tc.sections[top]
}

func (tc *typeCheck) run() {
	tc.blankExp, tc.blankHdr = map[int]bool{}, map[int]bool{}
	skipped := func(plain []string) bool {
		if tc.sections == nil || len(plain) == 0 || tc.sections[plain[0]] {
			return false
		}
		_, known := fieldByTag(configType, plain[0])
		return known // an unknown section is reported whatever is read
	}
	for i, h := range tc.idx.headers {
		if skipped(h.plain) {
			tc.blankHdr[i] = true
			continue
		}
		if tc.underBad(h.key) {
			tc.blankHdr[i] = true
			continue
		}
		t, msg := lookupType(h.plain)
		switch {
		case msg != "":
		case h.array && !isTableList(t):
			msg = fmt.Sprintf("is %s, not a list of tables: write [%s], not [[%s]]", describe(t), joinKey(h.plain), joinKey(h.plain))
		case !h.array && isTableList(t):
			msg = fmt.Sprintf("is a list of tables: write [[%s]] for each", joinKey(h.plain))
		case !h.array && !isTable(t):
			msg = fmt.Sprintf("must be %s, not a table", describe(t))
		}
		if msg != "" {
			tc.report(h.line, h.key, "%s", msg)
			tc.blankHdr[i] = true
		}
	}
	for _, e := range tc.idx.entries {
		if skipped(e.plain) {
			tc.blankExp[e.expr] = true
			continue
		}
		if tc.underBad(e.key) {
			tc.blankExp[e.expr] = true
			continue
		}
		t, msg := lookupType(e.plain)
		if msg == "" {
			msg = tc.value(t, e)
		}
		if msg != "" {
			tc.report(e.line, e.key, "%s", msg)
			tc.blankExp[e.expr] = true
		}
	}
	for _, e := range tc.idx.elements {
		if skipped(e.plain) || tc.underBad(e.key) {
			continue
		}
		t, msg := lookupType(e.plain)
		if msg != "" || t.Kind() != reflect.Slice {
			continue
		}
		if !accepts(t.Elem(), e.kind) {
			tc.report(e.line, e.key, "must be %s, not %s", describe(t.Elem()), kindWords(e.kind))
			tc.blankExp[e.expr] = true
		}
	}
}

// underBad reports whether key is inside a key already reported.
func (tc *typeCheck) underBad(key string) bool {
	for b := range tc.bad {
		if within(key, b) {
			return true
		}
	}
	return false
}

// value checks one value against its field's type t; "" when it fits.
func (tc *typeCheck) value(t reflect.Type, e entry) string {
	if e.elem && t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if !accepts(t, e.kind) {
		return fmt.Sprintf("must be %s, not %s", describe(t), kindWords(e.kind))
	}
	switch t {
	case secretType:
		// Resolved here, so that every unset variable is reported at once.
		var s Secret
		if err := s.UnmarshalText([]byte(e.value)); err != nil {
			return err.Error()
		}
	case durationType:
		var d Duration
		if err := d.UnmarshalText([]byte(e.value)); err != nil {
			return err.Error()
		}
	}
	return ""
}

// lookupType returns the type of the field at path, or why there is none.
func lookupType(path []string) (reflect.Type, string) {
	t := configType
	for i, part := range path {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t.Kind() == reflect.Map:
			t = t.Elem()
			continue
		case t.Kind() != reflect.Struct || t == durationType || t == secretType:
			return nil, fmt.Sprintf("%s is %s, not a table", joinKey(path[:i]), describe(t))
		}
		f, ok := fieldByTag(t, part)
		if !ok || f.Tag.Get("toml") == "-" {
			msg := "unknown key"
			if s := nearestField(t, part); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", s)
			}
			return nil, msg
		}
		t = f.Type
	}
	return t, ""
}

// nearestField is the field of t closest to name, if it is a likely typo.
func nearestField(t reflect.Type, name string) string {
	best, bestD := "", 3
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		if d := typo.Distance(strings.ToLower(name), tag); d < bestD && 2*d < len(tag) {
			best, bestD = tag, d
		}
	}
	return best
}

func isTable(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType && t != secretType || t.Kind() == reflect.Map
}

func isTableList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && isTable(t.Elem())
}

// accepts reports whether a TOML value of kind k can set a field of type t.
func accepts(t reflect.Type, k unstable.Kind) bool {
	switch {
	case t == durationType, t == secretType, t.Kind() == reflect.String:
		return k == unstable.String
	case t.Kind() == reflect.Bool:
		return k == unstable.Bool
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return k == unstable.Integer
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return k == unstable.Float || k == unstable.Integer
	case t.Kind() == reflect.Pointer:
		return accepts(t.Elem(), k)
	case t.Kind() == reflect.Slice:
		return k == unstable.Array
	case isTable(t):
		return k == unstable.InlineTable
	}
	return false
}

// describe says in words what a field of type t takes.
func describe(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch {
	case t == durationType:
		return `a duration in quotes, like "90s", "15m" or "4h"`
	case t == secretType:
		return `a string in quotes: the value, "${ENV_VAR}" or "file:/path"`
	case t.Kind() == reflect.String:
		return "a string in quotes"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Pointer:
		return describe(t.Elem())
	case isTableList(t):
		return "a list of tables"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return `a list of strings, like ["a", "b"]`
	case t.Kind() == reflect.Slice:
		return "a list"
	case isTable(t):
		return "a table"
	}
	return "a value"
}

// kindWords names a TOML value's kind as a user would.
func kindWords(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "a whole number"
	case unstable.Float:
		return "a decimal number"
	case unstable.Bool:
		return "true or false"
	case unstable.Array:
		return "a list"
	case unstable.InlineTable:
		return "a table"
	case unstable.LocalDate:
		return "a date"
	case unstable.LocalTime:
		return "a time of day"
	case unstable.LocalDateTime, unstable.DateTime:
		return "a date and time"
	}
	return "a " + strings.ToLower(k.String())
}

// blank returns data with the expressions in error replaced by spaces (line
// breaks kept, so that lines keep their numbers), for the decoder.
func (tc *typeCheck) blank(data []byte) []byte {
	if len(tc.blankExp) == 0 && len(tc.blankHdr) == 0 {
		return data
	}
	out := bytes.Clone(data)
	wipe := func(from, to int) {
		for i := from; i < to && i < len(out); i++ {
			if out[i] != '\n' && out[i] != '\r' {
				out[i] = ' '
			}
		}
	}
	for i, h := range tc.idx.headers {
		if !tc.blankHdr[i] {
			continue
		}
		end := bytes.IndexByte(out[h.start:], '\n')
		if end < 0 {
			end = len(out) - h.start
		}
		wipe(h.start, h.start+end)
	}
	for i, x := range tc.idx.exprs {
		if tc.blankExp[i] || (x.header >= 0 && tc.blankHdr[x.header]) {
			wipe(int(x.rng.Offset), int(x.rng.Offset)+int(x.rng.Length))
		}
	}
	return out
}
