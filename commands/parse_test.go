package commands

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Args
		wantErr string
	}{
		{in: "", want: Args{}},
		{in: "linux-ci", want: Args{Pos: []string{"linux-ci"}}},
		{in: "  linux-ci \t standby=2  for=3h ", want: Args{Pos: []string{"linux-ci"}, Opts: []Opt{{"standby", "2"}, {"for", "3h"}}}},
		{in: "Standby=2 linux-ci", want: Args{Pos: []string{"linux-ci"}, Opts: []Opt{{"standby", "2"}}}},
		{in: "x tag=a=b", want: Args{Pos: []string{"x"}, Opts: []Opt{{"tag", "a=b"}}}},
		{in: "x image=Canonical:ubuntu:22_04:latest", want: Args{Pos: []string{"x"}, Opts: []Opt{{"image", "Canonical:ubuntu:22_04:latest"}}}},
		{in: "x standby=", wantErr: "has no value"},
		{in: "x =2", wantErr: "is not an option"},
		{in: "x 2x=2", wantErr: "is not an option"},
		{in: "x st.andby=2", wantErr: "is not an option"},
		{in: "x max=2 max=3", wantErr: "given twice"},
		{in: "x\x00", wantErr: "control character"},
		{in: "x \xff", wantErr: "UTF-8"},
		{in: strings.Repeat("a", maxInput+1), wantErr: "too long"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "up linux-ci", "up linux-* standby=2 max=10 for=3h", "x a=b=c", "x =", "x\x00y",
		"mute linux-ci failed-nodes for=1h", "image linux-ci /subscriptions/s/x", "é ü=1", "x\u00a0y=1", "A=1 a=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		out := a.String()
		if strings.TrimSpace(out) != out {
			t.Fatalf("String() = %q has surrounding space", out)
		}
		b, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse of its String %q: %v", s, out, err)
		}
		if !reflect.DeepEqual(normalize(a), normalize(b)) {
			t.Fatalf("round trip of %q: %#v, then %q gives %#v", s, a, out, b)
		}
		for _, o := range a.Opts {
			if !validKey(o.Key) || o.Value == "" {
				t.Fatalf("Parse(%q) gave option %#v", s, o)
			}
		}
	})
}

// normalize makes empty and nil slices equal.
func normalize(a Args) Args {
	if len(a.Pos) == 0 {
		a.Pos = nil
	}
	if len(a.Opts) == 0 {
		a.Opts = nil
	}
	return a
}

func TestParseFor(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90m", 90 * time.Minute, true},
		{"3h", 3 * time.Hour, true},
		{"2d", 48 * time.Hour, true},
		{"0h", 0, false},
		{"-1h", 0, false},
		{"31d", 0, false},
		{"soon", 0, false},
		{"d", 0, false},
	}
	for _, tt := range tests {
		got, err := parseFor(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseFor(%q) = %v, %v; want %v, ok %t", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseUntil(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	now := time.Date(2025, 3, 10, 16, 0, 0, 0, time.UTC) // 17:00 in Paris
	tests := []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"18:30", paris, time.Date(2025, 3, 10, 18, 30, 0, 0, paris)},
		{"09:00", paris, time.Date(2025, 3, 11, 9, 0, 0, 0, paris)},
		{"17:00", paris, time.Date(2025, 3, 11, 17, 0, 0, 0, paris)},
		{"16:30", time.UTC, time.Date(2025, 3, 10, 16, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseUntil(tt.in, now, tt.loc)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseUntil(%q, %s) = %v, %v; want %v", tt.in, tt.loc, got, err, tt.want)
		}
	}
	for _, bad := range []string{"25:00", "6pm", "18.30"} {
		if _, err := parseUntil(bad, now, time.UTC); err == nil {
			t.Errorf("parseUntil(%q) accepted", bad)
		}
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"list", "status", "standby", "up", "down", "linux-ci", "windows-build"}
	tests := []struct {
		word, want string
	}{
		{"lsit", "list"},
		{"stauts", "status"},
		{"standbye", "standby"},
		{"linux-cj", "linux-ci"},
		{"windows-buld", "windows-build"},
		{"frobnicate", ""},
		{"u", "up"},
		{"x", ""},
	}
	for _, tt := range tests {
		got, _ := suggest(tt.word, cands)
		if got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

func TestDiff(t *testing.T) {
	tests := []struct{ before, after, want string }{
		{"standby=2 max=10 ttl=30 recycle=false", "standby=0 max=10 ttl=30 recycle=false", "standby 2 → 0"},
		{"standby=2 max=10", "standby=3 max=8", "standby 2 → 3, max 10 → 8"},
		{"standby=2", "standby=2", "no change"},
		{"/a/images/u/versions/1", "/a/images/u/versions/2", "/a/images/u/versions/1 → /a/images/u/versions/2"},
		{"", "standby=1 max=4", "— → standby=1 max=4"},
	}
	for _, tt := range tests {
		if got := diff(tt.before, tt.after); got != tt.want {
			t.Errorf("diff(%q, %q) = %q, want %q", tt.before, tt.after, got, tt.want)
		}
	}
}
