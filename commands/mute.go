package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/poolbot/poolbot/pool"
)

// muteCommands is the command table's entries of mute.go.
func muteCommands() []*command {
	return []*command{{
		name:  "mute",
		usage: "mute <pool> [condition] for=DURATION",
		help: "Silences a pool's alerts, all of them or one condition such as failed-nodes, for a while " +
			"(for=1h, for=2d). `unmute` ends it early.",
		role: RoleOperator,
		keys: []string{"for"},
		min:  1, max: 2, pool: onePool,
		run: runMute,
	}, {
		name:  "unmute",
		usage: "unmute <pool> [condition]",
		help:  "Ends a mute of a pool's alerts, all of them or one condition.",
		role:  RoleOperator,
		min:   1, max: 2, pool: onePool,
		run: runUnmute,
	}}
}

// muteCondition reads the condition of mute and unmute: "" (or "all") for
// every alert, else one of the conditions the watcher raises.
func (c *call) muteCondition() (string, error) {
	if len(c.args.Pos) < 2 {
		return "", nil
	}
	cond := strings.ToLower(c.args.Pos[1])
	known := c.h.o.Conditions
	switch {
	case cond == "all":
		return "", nil
	case known == nil && validKey(cond), slices.Contains(known, cond):
		return cond, nil
	case known == nil:
		return "", usagef("%q is not a condition: conditions are words like failed-nodes", c.args.Pos[1])
	}
	msg := fmt.Sprintf("%q is not a condition", c.args.Pos[1])
	if s, ok := suggest(cond, known); ok {
		msg += fmt.Sprintf("; did you mean %s? The conditions are", s)
	} else {
		msg += "; the conditions are"
	}
	return "", usagef("%s %s, or all", msg, strings.Join(known, ", "))
}

func runMute(ctx context.Context, c *call) error {
	name := c.pools[0]
	cond, err := c.muteCondition()
	if err != nil {
		return err
	}
	v, ok := c.args.Get("for")
	if !ok {
		return usagef("say for how long, e.g. for=1h")
	}
	d, err := parseFor(v)
	if err != nil {
		return err
	}
	until := c.now().Add(d)
	err = c.h.o.Store.PutMute(ctx, pool.Mute{Pool: name, Condition: cond, Until: until, By: c.by()})
	if aerr := c.h.o.Changer.Audit(ctx, c.actor, c.text, name, resultOf(err)); aerr != nil {
		return aerr
	}
	if err != nil {
		return fmt.Errorf("mute %s: %w", name, err)
	}
	return c.respond(ctx, announce(sayf("%s muted %s of *%s* until %s", c.who(), alertsWord(cond), name,
		fmtWhen(until, c.readerZone(ctx, name), c.now()))))
}

func runUnmute(ctx context.Context, c *call) error {
	name := c.pools[0]
	cond, err := c.muteCondition()
	if err != nil {
		return err
	}
	err = c.h.o.Store.DeleteMute(ctx, name, cond)
	if errors.Is(err, pool.ErrNotFound) {
		return &pool.Error{Kind: pool.KindNotFound, Pool: name, Msg: fmt.Sprintf("%s of %s are not muted", alertsWord(cond), name)}
	}
	if aerr := c.h.o.Changer.Audit(ctx, c.actor, c.text, name, resultOf(err)); aerr != nil {
		return aerr
	}
	if err != nil {
		return fmt.Errorf("unmute %s: %w", name, err)
	}
	return c.respond(ctx, announce(sayf("%s unmuted %s of *%s*", c.who(), alertsWord(cond), name)))
}

func alertsWord(cond string) string {
	if cond == "" {
		return "all alerts"
	}
	return cond + " alerts"
}

func resultOf(err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}
