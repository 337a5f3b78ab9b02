package pool

import (
	"strings"
	"testing"
)

func TestParseCanary(t *testing.T) {
	for _, tc := range []struct {
		in   string
		size int
		want int
		bad  bool
	}{{"1", 10, 1, false}, {"3", 10, 3, false}, {"20%", 10, 2, false}, {"5%", 10, 1, false}, {"0", 10, 0, true}, {"x", 10, 0, true}, {"150%", 10, 0, true}} {
		got, err := ParseCanary(tc.in, tc.size)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseCanary(%q, %d) = %d, %v", tc.in, tc.size, got, err)
		}
	}
}

// FuzzParseCanary: any input gives a canary of 1 to size agents (or more
// when a count is written), or an error; never a panic or a zero.
func FuzzParseCanary(f *testing.F) {
	for _, s := range []string{"1", "20%", "0", "100%", "-3", "%", "9999999999999999999", "1e3"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, size int) {
		if size < 1 || size > 1000 {
			return
		}
		n, err := ParseCanary(s, size)
		if err == nil && (n < 1 || (strings.HasSuffix(s, "%") && n > size)) {
			t.Fatalf("ParseCanary(%q, %d) = %d", s, size, n)
		}
	})
}
