package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/poolbot/poolbot/pool"
)

// upCommands is the command table's entries of up.go.
func upCommands() []*command {
	return []*command{{
		name:  "up",
		usage: "up <pool> [standby=N] [max=N] [for=DURATION | until=HH:MM]",
		help: "Brings a pool back to its daytime settings (those saved before it was scaled down, or its " +
			"schedule's working hours), or to the standby and max given, and holds it there against its " +
			"schedule until the next scheduled change, for a while (for=3h), or until a time of day in the " +
			"schedule's time zone (until=18:30). A pattern such as linux-* asks for confirmation first.",
		role: RoleOperator,
		keys: []string{"standby", "max", "for", "until"},
		min:  1, max: 1, pool: globPool,
		run: runUp,
	}}
}

func runUp(ctx context.Context, c *call) error {
	given, err := givenSettings(c.args)
	if err != nil {
		return err
	}
	if err := c.checkHold(ctx); err != nil {
		return err
	}
	return c.applySettings(ctx, settingsChange{
		verb:    "bring up",
		confirm: c.confirmLongHold,
		// Up holds the pool against its schedule even when its settings
		// are already those.
		effect: func(context.Context, pool.Pool) bool { return c.h.o.Scheduler != nil },
		settings: func(ctx context.Context, cur pool.Pool) (pool.Settings, error) {
			s, ok, err := c.daytime(ctx, cur.Name)
			if err != nil {
				return s, err
			}
			if given.Standby != nil {
				s.Standby = given.Standby
			}
			if given.Max != nil {
				s.Max = given.Max
			}
			if !ok && given.Empty() {
				return s, usagef("I don't know %s's daytime settings; give them, e.g. /pool up %s standby=2", cur.Name, cur.Name)
			}
			return s, nil
		},
		after: func(ctx context.Context, _, after pool.Pool, s pool.Settings) (string, error) {
			return c.hold(ctx, after.Name, s)
		},
	})
}

// daytime is what `up` returns a pool to: the scheduler's idea of it, or
// the settings saved before the last scale-down.
func (c *call) daytime(ctx context.Context, name string) (pool.Settings, bool, error) {
	if c.h.o.Scheduler != nil {
		s, ok, err := c.h.o.Scheduler.Daytime(ctx, name)
		if err != nil {
			return s, false, fmt.Errorf("daytime settings of %s: %w", name, err)
		}
		if ok {
			return s, true, nil
		}
	}
	saved, err := c.h.o.Store.SavedSettings(ctx, name)
	if errors.Is(err, pool.ErrNotFound) {
		return pool.Settings{}, false, nil
	}
	if err != nil {
		return pool.Settings{}, false, fmt.Errorf("saved settings of %s: %w", name, err)
	}
	// Only standby and max: ttl and recycle are not what up is about.
	return pool.Settings{Standby: saved.Settings.Standby, Max: saved.Settings.Max}, true, nil
}

// givenSettings reads standby= and max=.
func givenSettings(a Args) (pool.Settings, error) {
	var s pool.Settings
	if v, ok := a.Get("standby"); ok {
		n, err := parseCount("standby", v, 0, maxAgents)
		if err != nil {
			return s, err
		}
		s.Standby = pool.Int(n)
	}
	if v, ok := a.Get("max"); ok {
		n, err := parseCount("max", v, 1, maxAgents)
		if err != nil {
			return s, err
		}
		s.Max = pool.Int(n)
	}
	return s, nil
}
