// Package slackmsg builds the text of poolbot's Slack messages safely. Slack
// reads "<…>" in message text as a link, a mention (<@U1>, <!channel>) or a
// date, and "&" as the start of an escape, in mrkdwn and in a message's
// fallback text alike. Everything poolbot did not write itself — pool names,
// another user's command line, Azure DevOps log lines, error texts — is
// escaped here before it reaches Slack: through Sprintf, which escapes every
// argument but the Mrkdwn poolbot wrote, or Escape for a whole text.
//
// Button values are built here too, from a command and its arguments
// (Command), never by joining words, so that a pool name cannot add words.
package slackmsg

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Mrkdwn is text poolbot wrote as mrkdwn (a mention, emphasis around an
// escaped name, text already escaped): Sprintf passes it through as it is.
type Mrkdwn string

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape makes s safe anywhere in a Slack message: Slack's own escaping of
// &, < and >, which Slack shows as the characters. Nothing else is touched,
// so emoji codes and emphasis poolbot puts around it keep working.
func Escape(s string) string { return escaper.Replace(s) }

var unescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// Unescape undoes Escape, for a terminal that prints a message as text.
func Unescape(s string) string { return unescaper.Replace(s) }

// Sprintf formats like fmt.Sprintf and escapes every argument except a
// Mrkdwn: format is poolbot's, the arguments are data.
func Sprintf(format string, args ...any) string {
	safe := make([]any, len(args))
	for i, a := range args {
		safe[i] = arg(a)
	}
	return fmt.Sprintf(format, safe...)
}

func arg(a any) any {
	switch v := a.(type) {
	case Mrkdwn:
		return string(v)
	case string:
		return Escape(v)
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = Escape(s)
		}
		return out
	case error:
		return Escape(v.Error())
	case fmt.Stringer:
		return Escape(v.String())
	case nil:
		return a
	}
	switch reflect.TypeOf(a).Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return a // their formatting has no < > &, and keeps its verbs (%d, %.2f)
	}
	return Escape(fmt.Sprint(a)) // anything else may hold text
}

// Command is what a button runs: a /pool command and its arguments, as the
// person who presses it would have typed them. Its value in a button is
// JSON, so an argument holding spaces or "=" stays one argument.
type Command struct {
	Name string            `json:"cmd"`
	Args []string          `json:"args,omitempty"`
	Opts map[string]string `json:"opts,omitempty"`
}

// Value is c as a button's value.
func (c Command) Value() string {
	b, err := json.Marshal(c)
	if err != nil { // a struct of strings always encodes
		panic(err)
	}
	return string(b)
}

// maxValue is Slack's limit on a button value.
const maxValue = 2000

// ErrNotCommand is returned by ParseValue for a value that is not a
// Command's: a command line written as text by an older poolbot.
var ErrNotCommand = errors.New("not a command value")

// ParseValue reads a value made by Command.Value.
func ParseValue(v string) (Command, error) {
	if !strings.HasPrefix(v, "{") {
		return Command{}, ErrNotCommand
	}
	if len(v) > maxValue {
		return Command{}, fmt.Errorf("button value of %d bytes; Slack allows %d", len(v), maxValue)
	}
	var c Command
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Command{}, fmt.Errorf("read button value: %w", err)
	}
	if c.Name == "" {
		return Command{}, errors.New("read button value: no command")
	}
	if len(c.Args) == 0 {
		c.Args = nil
	}
	if len(c.Opts) == 0 {
		c.Opts = nil
	}
	return c, nil
}
