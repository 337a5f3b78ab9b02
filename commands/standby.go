package commands

import (
	"context"

	"github.com/poolbot/poolbot/pool"
)

// standbyCommands is the command table's entries of standby.go.
func standbyCommands() []*command {
	return []*command{{
		name:  "standby",
		usage: "standby <pool> <N>",
		help:  "Sets how many idle agents a pool keeps ready (desired idle). A pattern asks for confirmation first.",
		role:  RoleOperator,
		min:   2, max: 2, pool: globPool,
		run: func(ctx context.Context, c *call) error {
			n, err := parseCount("standby", c.args.Pos[1], 0, maxAgents)
			if err != nil {
				return err
			}
			return c.applySettings(ctx, settingsChange{verb: "set standby of", danger: n == 0,
				settings: func(context.Context, pool.Pool) (pool.Settings, error) {
					return pool.Settings{Standby: pool.Int(n)}, nil
				}})
		},
	}}
}
