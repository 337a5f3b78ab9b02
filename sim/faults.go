package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseFaults reads faults as `poolbot sim --faults` takes them:
// "429=0.05,5xx=0.02,latency=200ms,drop=0.01,retry-after=2s". Rates are
// between 0 and 1; an empty string is no faults.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return Faults{}, fmt.Errorf("fault %q: want name=value", part)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "429", "5xx", "drop":
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r < 0 || r > 1 || r != r {
				return Faults{}, fmt.Errorf("fault %s: rate %q is not a number between 0 and 1", k, v)
			}
			switch k {
			case "429":
				f.Rate429 = r
			case "5xx":
				f.Rate5xx = r
			default:
				f.RateDrop = r
			}
		case "latency", "retry-after":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return Faults{}, fmt.Errorf("fault %s: %q is not a duration like 200ms", k, v)
			}
			if k == "latency" {
				f.Latency = d
			} else {
				f.RetryAfter = d
			}
		default:
			return Faults{}, fmt.Errorf("unknown fault %q (want 429, 5xx, drop, latency or retry-after)", k)
		}
	}
	return f, nil
}
