package whatif

import (
	"context"
	"testing"
	"time"

	"github.com/poolbot/poolbot/trace"
)

// BenchmarkWhatif4Weeks3Pools replays 4 weeks of the reference office's
// three pools under every policy (none, the 5 autopilot preferences) as
// `poolbot whatif` does; "none-only" is the baseline: one replay with no
// policy, the simulator's own cost.
//
//	go test ./whatif -run '^$' -bench Whatif -benchtime 3x
func BenchmarkWhatif4Weeks3Pools(b *testing.B) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	jobs := trace.Reference(1, start, 28*24*time.Hour)
	for _, c := range []struct {
		name  string
		prefs []string
	}{{"none-only", []string{"-"}}, {"all-policies", nil}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				rs, err := Run(context.Background(), Options{Jobs: jobs, Preferences: c.prefs})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(rs)), "results")
			}
		})
	}
}
