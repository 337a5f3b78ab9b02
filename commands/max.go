package commands

import (
	"context"

	"github.com/poolbot/poolbot/pool"
)

// maxCommands is the command table's entries of max.go.
func maxCommands() []*command {
	return []*command{{
		name:  "max",
		usage: "max <pool> <N>",
		help:  "Sets the most agents a pool may have (1 to 1000, at least its standby). A pattern asks for confirmation first.",
		role:  RoleOperator,
		min:   2, max: 2, pool: globPool,
		run: func(ctx context.Context, c *call) error {
			n, err := parseCount("max", c.args.Pos[1], 1, maxAgents)
			if err != nil {
				return err
			}
			return c.applySettings(ctx, settingsChange{verb: "set max of", danger: true,
				settings: func(context.Context, pool.Pool) (pool.Settings, error) {
					return pool.Settings{Max: pool.Int(n)}, nil
				}})
		},
	}}
}
