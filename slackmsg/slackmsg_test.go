package slackmsg

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"linux-ci", "linux-ci"},
		{"<!channel>", "&lt;!channel&gt;"},
		{"<https://x|click>", "&lt;https://x|click&gt;"},
		{"a & b", "a &amp; b"},
		{"&lt;", "&amp;lt;"}, // escaped once more: shown as typed
		{":x: error", ":x: error"},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := Unescape(Escape(tt.in)); got != tt.in {
			t.Errorf("Unescape(Escape(%q)) = %q", tt.in, got)
		}
	}
}

type stringer struct{}

func (stringer) String() string { return "<@U1>" }

func TestSprintfEscapesArgumentsNotMrkdwn(t *testing.T) {
	got := Sprintf("%s set *%s* %d %s %v %s", Mrkdwn("<@U1>"), "<!here>", 3, errors.New("a<b"), stringer{}, []string{"<x>"})
	want := "<@U1> set *&lt;!here&gt;* 3 a&lt;b &lt;@U1&gt; [&lt;x&gt;]"
	if got != want {
		t.Errorf("Sprintf = %q, want %q", got, want)
	}
	type named string
	type pair struct{ A, B string }
	got = Sprintf("%s %v %.1f %t %d", named("<!here>"), pair{"<a>", "&"}, 2.5, true, int64(7))
	if want := "&lt;!here&gt; {&lt;a&gt; &amp;} 2.5 true 7"; got != want {
		t.Errorf("Sprintf = %q, want %q", got, want)
	}
}

func TestCommandValue(t *testing.T) {
	for _, c := range []Command{
		{Name: "mute", Args: []string{"linux ci", "failed-nodes"}, Opts: map[string]string{"for": "1h"}},
		{Name: "node", Args: []string{"reimage", "a=b", "42"}},
		{Name: "help"},
	} {
		v := c.Value()
		got, err := ParseValue(v)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("ParseValue(%s) = %+v, %v; want %+v", v, got, err, c)
		}
	}
	for _, v := range []string{"mute linux-ci for=1h", ""} {
		if _, err := ParseValue(v); !errors.Is(err, ErrNotCommand) {
			t.Errorf("ParseValue(%q): %v, want ErrNotCommand", v, err)
		}
	}
	for _, v := range []string{`{"cmd":""}`, `{"cmd":"x","extra":1}`, `{"cmd":`, "{" + strings.Repeat(" ", maxValue) + "}"} {
		if _, err := ParseValue(v); err == nil || errors.Is(err, ErrNotCommand) {
			t.Errorf("ParseValue(%q) = %v, want an error", v, err)
		}
	}
}

// FuzzParseValue: any value is read or refused, and a value read encodes
// to one that reads the same.
func FuzzParseValue(f *testing.F) {
	f.Add(`{"cmd":"mute","args":["linux-ci"],"opts":{"for":"1h"}}`)
	f.Add(`{"cmd":"x"} {}`)
	f.Add("mute x")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := ParseValue(v)
		if err != nil {
			return
		}
		again, err := ParseValue(c.Value())
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("%q read as %+v, whose value reads as %+v (%v)", v, c, again, err)
		}
	})
}
