package retryafter

import (
	"net/http"
	"testing"
	"time"
)

var now = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{"none", nil, 0, false},
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second, true},
		{"fractional seconds", map[string]string{"Retry-After": " 1.5 "}, 1500 * time.Millisecond, true},
		{"zero", map[string]string{"Retry-After": "0"}, 0, true},
		{"http date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second, true},
		{"date past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0, true},
		{"date too far", map[string]string{"Retry-After": now.Add(48 * time.Hour).Format(http.TimeFormat)}, 0, false},
		{"milliseconds first", map[string]string{"Retry-After": "9", "Retry-After-Ms": "250"}, 250 * time.Millisecond, true},
		{"x-ms milliseconds", map[string]string{"x-ms-retry-after-ms": "1200"}, 1200 * time.Millisecond, true},
		{"bad ms falls back", map[string]string{"Retry-After-Ms": "soon", "Retry-After": "3"}, 3 * time.Second, true},
		{"negative", map[string]string{"Retry-After": "-1"}, 0, false},
		{"NaN", map[string]string{"Retry-After": "NaN"}, 0, false},
		{"over a day", map[string]string{"Retry-After": "90000"}, 0, false},
		{"garbage", map[string]string{"Retry-After": "later"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			d, ok := Parse(h, now)
			if d != tt.want || ok != tt.ok {
				t.Errorf("Parse = %v, %t; want %v, %t", d, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"7", "1.5", "NaN", "-1", "1e300", "Mon, 05 Jan 2026 09:01:30 GMT", ""} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, after, ms string) {
		h := http.Header{}
		h.Set("Retry-After", after)
		h.Set("Retry-After-Ms", ms)
		d, ok := Parse(h, now)
		if d < 0 || d > Max || (!ok && d != 0) {
			t.Fatalf("Parse(%q, %q) = %v, %t", after, ms, d, ok)
		}
	})
}
