package config

import (
	"fmt"
	"time"
)

// ImageAge is how old an image some pools' agents may run.
type ImageAge struct {
	Pools  []string `toml:"pools"`
	MaxAge Duration `toml:"max_age"` // "0s" switches the alert off for these pools
}

// minAgentUpdate is the shortest agent_update_after: an agent's own
// update takes minutes.
const minAgentUpdate = 5 * time.Minute

func (c *Config) validateDrift(bad func(key, format string, args ...any), checkGlobs func(key string, globs []string)) {
	al := c.Alerts
	if v := al.ImageMaxAge.Duration; v != 0 && v < 24*time.Hour {
		bad("alerts.image_max_age", "must be at least 1d (an image's age is counted in days, e.g. \"30d\")")
	}
	if v := al.AgentUpdateAfter.Duration; v != 0 && v < minAgentUpdate {
		bad("alerts.agent_update_after", "must be at least %s (an agent's self-update takes minutes)", minAgentUpdate)
	}
	for i, ia := range al.ImageAges {
		k := fmt.Sprintf("alerts.image_ages[%d]", i)
		if len(ia.Pools) == 0 {
			bad(k+".pools", "required: the pools (names or globs) the age is for")
		}
		checkGlobs(k+".pools", ia.Pools)
		if v := ia.MaxAge.Duration; v != 0 && v < 24*time.Hour {
			bad(k+".max_age", "must be at least 1d, or \"0s\" to switch the alert off for these pools")
		}
	}
}
