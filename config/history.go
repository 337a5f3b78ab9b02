package config

import (
	"path"
	"time"
)

// History configures the job history poolbot keeps.
type History struct {
	// Retention is how long finished jobs are kept, default 90d.
	Retention Duration `toml:"retention"`
}

// WaitObjective is the p95 queue wait some pools should stay under.
type WaitObjective struct {
	Pools []string `toml:"pools"`
	P95   Duration `toml:"p95"` // "0s" switches the objective off for these pools
}

// WaitObjectiveFor returns the pool's wait objective: the first of Waits
// whose globs match it, else WaitP95; zero when it has none.
func (a Alerts) WaitObjectiveFor(pool string) time.Duration {
	for _, w := range a.Waits {
		for _, g := range w.Pools {
			if ok, _ := path.Match(g, pool); ok {
				return w.P95.Duration
			}
		}
	}
	return a.WaitP95.Duration
}
