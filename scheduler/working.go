package scheduler

import (
	"context"
	"fmt"
)

// Working reports whether the pool is inside its schedule's working hours
// now: the entries in force leave it some standby (or restore it), or a
// hold keeps it up. Idle agents outside working hours are waste; inside them
// they are the standby the team asked for. A pool no schedule claims is
// always working.
func (s *Scheduler) Working(ctx context.Context, name string) (bool, error) {
	sc := s.scheduleFor(name)
	if sc == nil {
		return true, nil
	}
	ov, err := s.overridesOf(ctx, name)
	if err != nil {
		return true, fmt.Errorf("working hours of %s: %w", name, err)
	}
	now := s.o.Clock.Now()
	if sc.auto != nil {
		return s.workingAutopilot(ctx, sc, name, ov, now)
	}
	if h := ov.hold; h != nil && (h.Settings.Standby == nil || *h.Settings.Standby > 0) {
		if end := sc.holdEnd(*h, ov.skip); end.IsZero() || now.Before(end) {
			return true, nil
		}
	}
	occ := sc.past(now, ov.skip)
	if len(occ) == 0 {
		return true, nil
	}
	set, _ := fold(occ)
	return set.Standby == nil || *set.Standby > 0, nil
}
