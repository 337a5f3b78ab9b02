package scheduler

import (
	"errors"
	"fmt"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// Preview lists the changes the schedules make from from for days days, in
// order, each At in its schedule's zone. Schedules apply to the named pools
// they match; with pools nil, to the names and globs they list.
func Preview(schedules []Schedule, pools []string, from time.Time, days int) ([]pool.Change, error) {
	var errs []error
	var compiled []*schedule
	for _, sc := range schedules {
		c, probs := compile(sc)
		for _, p := range probs {
			errs = append(errs, p.err(sc.Name))
		}
		compiled = append(compiled, c)
	}
	for _, p := range overlaps(schedules) {
		errs = append(errs, p.err(schedules[p.schedule].Name))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if days <= 0 {
		return nil, fmt.Errorf("days must be at least 1, not %d", days)
	}
	to := from.AddDate(0, 0, days)
	var out []pool.Change
	for _, sc := range compiled {
		names := sc.cfg.Pools
		if pools != nil {
			names = nil
			for _, p := range pools {
				if sc.matches(p) {
					names = append(names, p)
				}
			}
		}
		for _, o := range sc.between(from, to) {
			if !o.At.Before(to) {
				continue
			}
			for _, n := range names {
				out = append(out, changeOf(sc, n, o))
			}
		}
	}
	sortChanges(out)
	return out, nil
}

func changeOf(sc *schedule, name string, o occurrence) pool.Change {
	return pool.Change{At: o.At.In(sc.loc), Pool: name, Schedule: sc.cfg.Name, Settings: o.Entry.settings, Restore: o.Entry.restore}
}

// Describe renders a change's settings as preview prints them: "standby=0
// max=2", "restore", "restore standby=2".
func Describe(c pool.Change) string {
	s := ""
	if c.Restore {
		s = "restore"
		if c.Settings.Empty() {
			return s
		}
		s += " "
	}
	s += c.Settings.String()
	if c.Skipped {
		s += " (skipped)"
	}
	return s
}
