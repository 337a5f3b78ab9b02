package commands

import (
	"context"

	"github.com/poolbot/poolbot/pool"
)

// ttlCommands is the command table's entries of ttl.go.
func ttlCommands() []*command {
	return []*command{{
		name:  "ttl",
		usage: "ttl <pool> <MINUTES>",
		help:  "Sets how many minutes an idle agent above standby lives before it is deleted (0: at once). A pattern asks for confirmation first.",
		role:  RoleOperator,
		min:   2, max: 2, pool: globPool,
		run: func(ctx context.Context, c *call) error {
			n, err := parseCount("ttl", c.args.Pos[1], 0, maxTTLMins)
			if err != nil {
				return err
			}
			return c.applySettings(ctx, settingsChange{verb: "set ttl of",
				settings: func(context.Context, pool.Pool) (pool.Settings, error) {
					return pool.Settings{TTLMinutes: pool.Int(n)}, nil
				}})
		},
	}}
}
