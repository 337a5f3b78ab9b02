// Package retryafter reads how long an HTTP response asks its client to wait
// before the next request, the one parser of Retry-After that poolbot's
// clients of Azure DevOps, Azure Resource Manager and Cost Management share.
// Service-specific headers (Azure DevOps' X-RateLimit-*, Cost Management's
// x-ms-ratelimit-*) stay with their clients.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Max bounds a wait read from a header: a longer one is taken as garbage.
const Max = 24 * time.Hour

// Parse returns the wait a response asks for: Retry-After-Ms or
// x-ms-retry-after-ms (milliseconds, possibly fractional), else Retry-After
// (seconds, possibly fractional, or an HTTP date, counted from now; a date
// past is no wait). ok is false when there is none, or none readable within
// Max.
func Parse(h http.Header, now time.Time) (d time.Duration, ok bool) {
	for _, k := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if d, ok := number(h.Get(k), time.Millisecond); ok {
			return d, true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if d, ok := number(v, time.Second); ok {
		return d, true
	}
	if t, err := http.ParseTime(v); err == nil && t.Sub(now) <= Max {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// Seconds reads a header value in seconds, possibly fractional, as Parse
// reads Retry-After; for the services' own headers.
func Seconds(v string) (time.Duration, bool) { return number(v, time.Second) }

func number(v string, unit time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != f || f < 0 || f*float64(unit) > float64(Max) {
		return 0, false
	}
	return time.Duration(f * float64(unit)), true
}
