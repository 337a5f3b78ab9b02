package watch

import "testing"

func TestOlderVersion(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"4.248.0", "4.258.1", true},
		{"4.258.1", "4.248.0", false},
		{"4.258.1", "4.258.1", false},
		{"4.9.0", "4.10.0", true}, // numbers, not text
		{"3.240.1", "4.248.0", true},
		{"4.258", "4.258.1", true},
		{"", "4.258.1", true},
	} {
		if got := olderVersion(tc.a, tc.b); got != tc.want {
			t.Errorf("olderVersion(%q, %q) = %t, want %t", tc.a, tc.b, got, tc.want)
		}
	}
}

// FuzzOlderVersion: whatever agents report, no panic, no version older than
// itself, and never each older than the other.
func FuzzOlderVersion(f *testing.F) {
	for _, s := range [][2]string{{"4.248.0", "4.258.1"}, {"4.9", "4.10.0"}, {"", "x.y"}, {"1..2", "-1.2"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if olderVersion(a, a) {
			t.Fatalf("%q older than itself", a)
		}
		if olderVersion(a, b) && olderVersion(b, a) {
			t.Fatalf("%q and %q each older than the other", a, b)
		}
	})
}
