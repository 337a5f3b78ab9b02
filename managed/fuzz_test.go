package managed

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzStandbyScheme reads resourcePredictions written by any tool: it never
// panics, and a value it returns is one of the scheme's counts (or 0).
func FuzzStandbyScheme(f *testing.F) {
	f.Add(`{"timeZone":"UTC","daysData":[{"00:00:00":2}]}`, int64(0))
	f.Add(`{"timeZone":"Romance Standard Time","daysData":[{},{"08:00:00":2,"18:00:00":0},{},{},{},{},{}]}`, int64(1e9))
	f.Add(`{"daysData":[{"24:00:00":1}]}`, int64(5))
	f.Add(`{"timeZone":"Mars","daysData":"x"}`, int64(7))
	f.Fuzz(func(t *testing.T, doc string, at int64) {
		var preds map[string]any
		if json.Unmarshal([]byte(doc), &preds) != nil {
			return
		}
		v, err := valueAt(preds, time.Unix(at%(1<<40), 0))
		if err != nil {
			return
		}
		if v == 0 {
			return
		}
		days, _ := preds["daysData"].([]any)
		for _, d := range days {
			m, _ := d.(map[string]any)
			for _, c := range m {
				if f, ok := c.(float64); ok && int(f) == v {
					return
				}
			}
		}
		t.Errorf("valueAt(%s) = %d, not one of its counts", doc, v)
	})
}

// FuzzTimeSpan reads a grace period "[d.]hh:mm:ss" and writes it back.
func FuzzTimeSpan(f *testing.F) {
	f.Add("00:30:00")
	f.Add("7.00:00:00")
	f.Add("1.02:03:04")
	f.Add("x.1:2")
	f.Fuzz(func(t *testing.T, s string) {
		m := minutes(s)
		if m < 0 {
			t.Fatalf("minutes(%q) = %d", s, m)
		}
		if back := minutes(timeSpan(m)); back != m {
			t.Errorf("minutes(timeSpan(%d)) = %d (via %q)", m, back, timeSpan(m))
		}
		if strings.Count(timeSpan(m), ":") != 2 {
			t.Errorf("timeSpan(%d) = %q", m, timeSpan(m))
		}
	})
}
