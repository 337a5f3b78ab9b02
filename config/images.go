package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// Image names the Azure Pipelines definition that builds a pool's image
// and how a new version of it is rolled out ([[images]]).
type Image struct {
	Pool     string `toml:"pool"`     // the pool it builds for
	Project  string `toml:"project"`  // Azure DevOps project of the pipeline
	Pipeline int    `toml:"pipeline"` // pipeline (definition) id
	// Rollout is "manual" (a build offers the new version) or "auto" (a
	// successful build starts its rollout).
	Rollout string `toml:"rollout"`
	// Canary is the number of agents moved first, "N" or "N%"; default 1.
	Canary string `toml:"canary"`
	// Batch is how many idle agents are reimaged at a time after the canary; default 2.
	Batch int `toml:"batch"`
	// OnlineWithin bounds the time a canary agent takes to come online; default 15m.
	OnlineWithin Duration `toml:"online_within"`
	// Watch is how long the canary is watched before the rest follow; default 30m.
	Watch Duration `toml:"watch"`
	// MaxFailureIncrease is how much more often than the old image's recent
	// jobs the canary's may fail (0.2: 20 points); default 0.2.
	MaxFailureIncrease float64 `toml:"max_failure_increase"`
	// MinJobs is the number of canary jobs needed to judge their failure rate; default 3.
	MinJobs int `toml:"min_jobs"`
}

// Defaults returns im with its unset keys at their defaults; app applies
// them when it gives commands the [[images]].
func (im Image) Defaults() Image {
	if im.Rollout == "" {
		im.Rollout = "manual"
	}
	if im.Canary == "" {
		im.Canary = "1"
	}
	if im.Batch <= 0 {
		im.Batch = 2
	}
	if im.OnlineWithin.Duration <= 0 {
		im.OnlineWithin.Duration = 15 * time.Minute
	}
	if im.Watch.Duration <= 0 {
		im.Watch.Duration = 30 * time.Minute
	}
	if im.MaxFailureIncrease <= 0 {
		im.MaxFailureIncrease = 0.2
	}
	if im.MinJobs <= 0 {
		im.MinJobs = 3
	}
	return im
}

func (c *Config) validateImages(bad func(key, format string, args ...any)) {
	seen := map[string]bool{}
	for i, im := range c.Images {
		k := fmt.Sprintf("images[%d]", i)
		switch {
		case im.Pool == "":
			bad(k+".pool", "required: the pool whose image the pipeline builds")
		case seen[strings.ToLower(im.Pool)]:
			bad(k+".pool", "pool %q has two image pipelines", im.Pool)
		}
		seen[strings.ToLower(im.Pool)] = true
		if im.Project == "" {
			bad(k+".project", "required: the Azure DevOps project of the image pipeline")
		}
		if im.Pipeline <= 0 {
			bad(k+".pipeline", "required: the pipeline's id (the definitionId in its URL)")
		}
		if im.Rollout != "" && im.Rollout != "manual" && im.Rollout != "auto" {
			bad(k+".rollout", "%q is not one of manual, auto", im.Rollout)
		}
		if im.Canary != "" {
			if _, err := pool.ParseCanary(im.Canary, 100); err != nil {
				bad(k+".canary", "%v", err)
			}
		}
		if im.Batch < 0 || im.MinJobs < 0 {
			bad(k+".batch", "batch and min_jobs must not be negative")
		}
		if im.MaxFailureIncrease < 0 || im.MaxFailureIncrease > 1 {
			bad(k+".max_failure_increase", "must be between 0 and 1 (0.2 is 20 points)")
		}
	}
}
