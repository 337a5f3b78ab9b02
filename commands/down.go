package commands

import (
	"context"
	"fmt"

	"github.com/poolbot/poolbot/pool"
)

// downCommands is the command table's entries of down.go.
func downCommands() []*command {
	return []*command{{
		name:  "down",
		usage: "down <pool> [for=DURATION | until=HH:MM]",
		help: "Sets a pool's standby to 0, so idle agents go away; busy agents are never cut: they finish " +
			"their jobs first. Its settings are saved for `up`. With for= or until= it is held down against " +
			"its schedule; without, any earlier hold ends. A pattern such as linux-* asks for confirmation first.",
		role: RoleOperator,
		keys: []string{"for", "until"},
		min:  1, max: 1, pool: globPool,
		run: runDown,
	}}
}

func runDown(ctx context.Context, c *call) error {
	if err := c.checkHold(ctx); err != nil {
		return err
	}
	_, hasFor := c.args.Get("for")
	_, hasUntil := c.args.Get("until")
	return c.applySettings(ctx, settingsChange{
		verb:    "scale down",
		danger:  true,
		confirm: c.confirmLongHold,
		// A pool already at standby 0 is still held down (for=, until=),
		// or released from an earlier hold.
		effect: func(ctx context.Context, cur pool.Pool) bool {
			return c.h.o.Scheduler != nil && (hasFor || hasUntil || c.held(ctx, cur.Name))
		},
		settings: func(context.Context, pool.Pool) (pool.Settings, error) {
			return pool.Settings{Standby: pool.Int(0)}, nil
		},
		before: func(ctx context.Context, cur pool.Pool) error {
			if cur.Standby == 0 {
				return nil
			}
			// SaveSettings keeps what an earlier scale-down saved.
			_, err := c.h.o.Store.SaveSettings(ctx, pool.Saved{Pool: cur.Name, Settings: pool.Of(cur), Time: c.now(), By: c.by()})
			if err != nil {
				return fmt.Errorf("save the settings of %s: %w", cur.Name, err)
			}
			return nil
		},
		after: func(ctx context.Context, _, after pool.Pool, s pool.Settings) (string, error) {
			note := ""
			if nodes, err := c.h.o.Service.Nodes(ctx, after.Name); err == nil {
				if busy := pool.Count(nodes).Busy; busy > 0 {
					note = fmt.Sprintf("— %s finish their jobs first; no job is cut", plural(busy, "busy agent"))
				}
			}
			if c.h.o.Scheduler == nil {
				return note, nil
			}
			if hasFor || hasUntil {
				until, err := c.hold(ctx, after.Name, s)
				return join(until, note), err
			}
			if err := c.h.o.Scheduler.Release(ctx, after.Name); err != nil {
				return note, fmt.Errorf("end the hold: %w", err)
			}
			return note, nil
		},
	})
}

// held reports whether the pool is held against its schedule.
func (c *call) held(ctx context.Context, name string) bool {
	ovs, err := c.h.o.Store.Overrides(ctx)
	if err != nil {
		return true // cannot tell: do the release
	}
	for _, o := range ovs {
		if o.Pool == name && o.Kind == "hold" {
			return true
		}
	}
	return false
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}
