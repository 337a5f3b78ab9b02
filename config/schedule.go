package config

// Schedule sets pools' standby, max and ttl by the clock.
type Schedule struct {
	Name     string   `toml:"name"`
	Pools    []string `toml:"pools"`    // names or globs
	TimeZone string   `toml:"timezone"` // IANA name, e.g. Europe/Paris
	Skip     []string `toml:"skip"`     // YYYY-MM-DD holidays: no entry takes effect that day
	// Correct says whether a pool changed by hand is set back to the
	// schedule (default false: it is only reported).
	Correct bool    `toml:"correct"`
	Channel string  `toml:"channel"` // where changes are posted
	Entries []Entry `toml:"entries"`

	// Mode "autopilot" sets standby (and ttl) from the pool's job history
	// instead of entries; "" or "cron" uses entries.
	Mode string `toml:"mode"`
	// Preference is the autopilot's trade-off between cost and waiting:
	// most-cost-effective, more-cost-effective, balanced (default),
	// more-performance, best-performance.
	Preference string `toml:"preference"`
	// MinStandby is the least standby the autopilot sets in working hours;
	// MaxStandby the most it ever sets (default the pool's max).
	MinStandby *int `toml:"min_standby"`
	MaxStandby *int `toml:"max_standby"`
	// WorkingHours ("07:00-20:00") and WorkingDays ("mon-fri") in the
	// schedule's zone are when MinStandby holds.
	WorkingHours string `toml:"working_hours"`
	WorkingDays  string `toml:"working_days"`
	// ColdStart is how long a new agent takes to come online (default 5m).
	ColdStart Duration `toml:"cold_start"`
}

// Entry is a 5-field cron expression and the settings that hold from each of
// its instants until the next entry's.
type Entry struct {
	Cron    string `toml:"cron"`
	Standby *int   `toml:"standby"`
	Max     *int   `toml:"max"`
	TTL     *int   `toml:"ttl"`
	Restore bool   `toml:"restore"`
}
