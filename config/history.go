package config

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
