package pool

import "time"

// Change is a scheduled change of a pool's settings.
type Change struct {
	At       time.Time // in the schedule's time zone
	Pool     string
	Schedule string
	Settings Settings
	Restore  bool // back to the settings saved before the scale-down
	Skipped  bool // skipped by `/pool skip`
}
