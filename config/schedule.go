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
