package scheduler

import (
	"fmt"
	"path"
	"sort"

	"github.com/poolbot/poolbot/config"
)

// problem is one thing wrong with a schedule.
type problem struct {
	schedule int    // index in the config, for overlaps
	key      string // relative to the schedule: "entries[1].cron"
	msg      string
}

func (p problem) err(name string) error {
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Errorf("schedule %s: %s", name, p.msg)
}

// overlap reports whether two pool patterns can name the same pool: the same
// text, or one matching the other read as a name ("linux-*" and "linux-ci").
func overlap(a, b string) bool {
	if a == b {
		return true
	}
	if ok, _ := path.Match(a, b); ok {
		return true
	}
	ok, _ := path.Match(b, a)
	return ok
}

// overlaps finds pools that two schedules claim, as far as the config alone
// tells. Pools that exist are checked by CheckPools.
func overlaps(scs []config.Schedule) []problem {
	var probs []problem
	for i := range scs {
		for k, a := range scs[i].Pools {
			for j := 0; j < i; j++ {
				for l, b := range scs[j].Pools {
					if overlap(a, b) {
						probs = append(probs, problem{schedule: i, key: fmt.Sprintf("pools[%d]", k),
							msg: fmt.Sprintf("pools %q overlaps %q of schedule %s (pools[%d]): two schedules cannot claim one pool",
								a, b, scs[j].Name, l)})
					}
				}
			}
		}
	}
	return probs
}

// Validate checks the schedules of cfg: cron expressions, time zones, skip
// dates, entries that set nothing, and schedules that claim the same pool.
// Each error names the file, line and key when cfg was loaded from a file.
func Validate(cfg *config.Config) []error {
	var errs []error
	for i, sc := range cfg.Schedules {
		_, probs := compile(sc)
		for _, p := range probs {
			errs = append(errs, cfg.KeyError(fmt.Sprintf("schedules[%d].%s", i, p.key), "schedule %s: %s", sc.Name, p.msg))
		}
	}
	for _, p := range overlaps(cfg.Schedules) {
		errs = append(errs, cfg.KeyError(fmt.Sprintf("schedules[%d].%s", p.schedule, p.key), "schedule %s: %s",
			cfg.Schedules[p.schedule].Name, p.msg))
	}
	return errs
}

// CheckPools checks the schedules against the pools that exist: a pattern
// that matches no pool, and a pool that two schedules claim.
func CheckPools(cfg *config.Config, pools []string) []error {
	var errs []error
	for i, sc := range cfg.Schedules {
		for k, pat := range sc.Pools {
			found := false
			for _, p := range pools {
				if ok, _ := path.Match(pat, p); ok || pat == p {
					found = true
					break
				}
			}
			if !found {
				errs = append(errs, cfg.KeyError(fmt.Sprintf("schedules[%d].pools[%d]", i, k),
					"schedule %s: %q matches no pool in Azure DevOps", sc.Name, pat))
			}
		}
	}
	sorted := append([]string(nil), pools...)
	sort.Strings(sorted)
	for _, p := range sorted {
		var by []int
		for i, sc := range cfg.Schedules {
			c := &schedule{cfg: sc}
			if c.matches(p) {
				by = append(by, i)
			}
		}
		if len(by) > 1 {
			errs = append(errs, cfg.KeyError(fmt.Sprintf("schedules[%d].pools", by[1]),
				"schedule %s: pool %s is also claimed by schedule %s", cfg.Schedules[by[1]].Name, p, cfg.Schedules[by[0]].Name))
		}
	}
	return errs
}
