package scheduler

import (
	"strings"
	"time"
)

// Schedule sets pools' standby, max and ttl by the clock, or, in mode
// autopilot, standby from the pools' demand. app translates config's
// [[schedules]] into it.
type Schedule struct {
	Name     string
	Pools    []string // names or globs
	TimeZone string   // IANA name, e.g. Europe/Paris; "" is UTC
	Skip     []string // YYYY-MM-DD holidays: no entry takes effect that day
	// Correct says whether a pool changed by hand is set back to the
	// schedule (false: it is only reported).
	Correct bool
	Channel string // where changes are posted
	Entries []Entry

	// Mode "autopilot" sets standby (and ttl) from the pool's job history
	// instead of entries; "" or "cron" uses entries.
	Mode string
	// Preference is the autopilot's trade-off between cost and waiting
	// (autopilot.Preferences; "" is balanced).
	Preference string
	// MinStandby is the least standby the autopilot sets in working hours;
	// MaxStandby the most it ever sets (nil: the pool's max).
	MinStandby *int
	MaxStandby *int
	// WorkingHours ("07:00-20:00") and WorkingDays ("mon-fri") in the
	// schedule's zone are when MinStandby holds.
	WorkingHours string
	WorkingDays  string
	// ColdStart is how long a new agent takes to come online (0:
	// DefaultColdStart).
	ColdStart time.Duration
}

// Entry is a 5-field cron expression and the settings that hold from each of
// its instants until the next entry's.
type Entry struct {
	Cron    string
	Standby *int
	Max     *int
	TTL     *int
	Restore bool
}

// Autopilot reports whether the schedule sets standby from demand.
func (sc Schedule) Autopilot() bool {
	return strings.EqualFold(strings.TrimSpace(sc.Mode), "autopilot")
}
