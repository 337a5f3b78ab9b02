package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// Next returns the pool's next n scheduled changes from now, in its
// schedule's time zone, a skipped one marked; none when no schedule claims
// the pool.
func (s *Scheduler) Next(ctx context.Context, name string, n int) ([]pool.Change, error) {
	sc := s.scheduleFor(name)
	if sc == nil || n <= 0 {
		return nil, nil
	}
	if sc.auto != nil {
		return s.nextAutopilot(ctx, sc, name, n)
	}
	ov, err := s.overridesOf(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []pool.Change
	for _, o := range sc.after(s.o.Clock.Now(), n) {
		c := changeOf(sc, name, o)
		c.Skipped = ov.skip != nil && o.At.Equal(ov.skip.SkipAt)
		out = append(out, c)
	}
	return out, nil
}

// Hold keeps the pool at st against its schedule until the given time, or,
// when until is zero, until its next scheduled change. It returns the end of
// the hold. The command that holds applies st itself; the scheduler then
// leaves those settings alone.
func (s *Scheduler) Hold(ctx context.Context, name string, st pool.Settings, until time.Time, by string) (time.Time, error) {
	now := s.o.Clock.Now()
	if !until.IsZero() && !until.After(now) {
		return time.Time{}, &pool.Error{Kind: pool.KindInvalid, Pool: name, Msg: fmt.Sprintf("the hold's end %s has passed", until.Format(time.RFC3339))}
	}
	ov := pool.Override{Pool: name, Kind: "hold", Settings: st, Until: until, By: by, Created: now}
	end := until
	if sc := s.scheduleFor(name); sc != nil && until.IsZero() {
		cur, err := s.overridesOf(ctx, name)
		if err != nil {
			return time.Time{}, err
		}
		end = sc.holdEnd(ov, cur.skip)
		if loc := sc.loc; !end.IsZero() {
			end = end.In(loc)
		}
	}
	if err := s.o.Store.PutOverride(ctx, ov); err != nil {
		return time.Time{}, fmt.Errorf("hold %s: %w", name, err)
	}
	s.kick()
	return end, nil
}

// Release ends a hold.
func (s *Scheduler) Release(ctx context.Context, name string) error {
	if err := s.o.Store.DeleteOverride(ctx, name, "hold"); err != nil && !errors.Is(err, pool.ErrNotFound) {
		return fmt.Errorf("release %s: %w", name, err)
	}
	s.kick()
	return nil
}

// Skip skips the pool's next scheduled change and returns it.
func (s *Scheduler) Skip(ctx context.Context, name string, by string) (pool.Change, error) {
	sc := s.scheduleFor(name)
	if sc == nil {
		return pool.Change{}, &pool.Error{Kind: pool.KindInvalid, Pool: name, Msg: fmt.Sprintf("no schedule sets %s", name)}
	}
	now := s.o.Clock.Now()
	if sc.auto != nil {
		return s.skipAutopilot(ctx, sc, name, by, now)
	}
	next := sc.after(now, 1)
	if len(next) == 0 {
		return pool.Change{}, &pool.Error{Kind: pool.KindInvalid, Pool: name, Msg: fmt.Sprintf("schedule %s has no change ahead for %s", sc.cfg.Name, name)}
	}
	o := next[0]
	if err := s.o.Store.PutOverride(ctx, pool.Override{Pool: name, Kind: "skip", SkipAt: o.At, By: by, Created: now}); err != nil {
		return pool.Change{}, fmt.Errorf("skip %s: %w", name, err)
	}
	s.kick()
	c := changeOf(sc, name, o)
	c.Skipped = true
	return c, nil
}

// Unskip undoes the pool's skip, so that the entry it skipped happens
// after all. It returns pool.ErrNotFound when nothing is skipped.
func (s *Scheduler) Unskip(ctx context.Context, name string) error {
	ov, err := s.overridesOf(ctx, name)
	if err != nil {
		return err
	}
	if ov.skip == nil || !ov.skip.SkipAt.After(s.o.Clock.Now()) {
		return pool.ErrNotFound
	}
	if err := s.o.Store.DeleteOverride(ctx, name, "skip"); err != nil {
		return fmt.Errorf("unskip %s: %w", name, err)
	}
	s.kick()
	return nil
}

// Daytime returns the settings the pool should have when it is up: those
// saved before its last scale-down, or else its schedule's entry with the
// most standby.
func (s *Scheduler) Daytime(ctx context.Context, name string) (pool.Settings, bool, error) {
	saved, err := s.o.Store.SavedSettings(ctx, name)
	switch {
	case err == nil:
		return saved.Settings, true, nil
	case !errors.Is(err, pool.ErrNotFound):
		return pool.Settings{}, false, fmt.Errorf("read saved settings of %s: %w", name, err)
	}
	sc := s.scheduleFor(name)
	if sc == nil {
		return pool.Settings{}, false, nil
	}
	var best *entry
	for _, e := range sc.entries {
		if e.settings.Standby != nil && (best == nil || *e.settings.Standby > *best.settings.Standby) {
			best = e
		}
	}
	if best == nil {
		return pool.Settings{}, false, nil
	}
	return best.settings, true, nil
}

func (s *Scheduler) overridesOf(ctx context.Context, name string) (overrides, error) {
	all, err := s.o.Store.Overrides(ctx)
	if err != nil {
		return overrides{}, fmt.Errorf("read overrides: %w", err)
	}
	var ov overrides
	for i := range all {
		if all[i].Pool != name {
			continue
		}
		switch all[i].Kind {
		case "hold":
			ov.hold = &all[i]
		case "skip":
			ov.skip = &all[i]
		}
	}
	return ov, nil
}
