package scheduler

import (
	"fmt"
	"path"
	"sort"
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
func overlaps(scs []Schedule) []problem {
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

// Problem is one thing wrong with a list of schedules, at a key of the
// configuration: app names the file and line of "schedules[Schedule].Key".
type Problem struct {
	Schedule int    // index in the list
	Key      string // relative to the schedule: "entries[1].cron"
	Msg      string // "schedule office: entry 2: cron ...": the schedule named
}

func (p Problem) Error() string { return p.Msg }

func named(scs []Schedule, i int, p problem) Problem {
	return Problem{Schedule: i, Key: p.key, Msg: fmt.Sprintf("schedule %s: %s", scs[i].Name, p.msg)}
}

// Validate checks schedules: cron expressions, time zones, skip dates,
// entries that set nothing, and schedules that claim the same pool.
func Validate(scs []Schedule) []Problem {
	var out []Problem
	for i, sc := range scs {
		_, probs := compile(sc)
		for _, p := range probs {
			out = append(out, named(scs, i, p))
		}
	}
	for _, p := range overlaps(scs) {
		out = append(out, named(scs, p.schedule, p))
	}
	return out
}

// CheckPools checks the schedules against the pools that exist: a pattern
// that matches no pool, and a pool that two schedules claim.
func CheckPools(scs []Schedule, pools []string) []Problem {
	var out []Problem
	for i, sc := range scs {
		for k, pat := range sc.Pools {
			found := false
			for _, p := range pools {
				if ok, _ := path.Match(pat, p); ok || pat == p {
					found = true
					break
				}
			}
			if !found {
				out = append(out, named(scs, i, problem{key: fmt.Sprintf("pools[%d]", k),
					msg: fmt.Sprintf("%q matches no pool in Azure DevOps", pat)}))
			}
		}
	}
	sorted := append([]string(nil), pools...)
	sort.Strings(sorted)
	for _, p := range sorted {
		var by []int
		for i, sc := range scs {
			c := &schedule{cfg: sc}
			if c.matches(p) {
				by = append(by, i)
			}
		}
		if len(by) > 1 {
			out = append(out, named(scs, by[1], problem{key: "pools",
				msg: fmt.Sprintf("pool %s is also claimed by schedule %s", p, scs[by[0]].Name)}))
		}
	}
	return out
}
