package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/poolbot/poolbot/pool"
)

func init() {
	register(&command{
		name:  "mute",
		usage: "mute <pool> [condition] for=DURATION",
		help: "Silences a pool's alerts, all of them or one condition such as failed-nodes, for a while " +
			"(for=1h, for=2d). `unmute` ends it early.",
		role: RoleOperator,
		keys: []string{"for"},
		min:  1, max: 2, pool: onePool,
		run: runMute,
	})
	register(&command{
		name:  "unmute",
		usage: "unmute <pool> [condition]",
		help:  "Ends a mute of a pool's alerts, all of them or one condition.",
		role:  RoleOperator,
		min:   1, max: 2, pool: onePool,
		run: runUnmute,
	})
}

func muteCondition(a Args) (string, error) {
	if len(a.Pos) < 2 {
		return "", nil
	}
	cond := strings.ToLower(a.Pos[1])
	if !validKey(cond) || cond == "all" {
		if cond == "all" {
			return "", nil
		}
		return "", usagef("%q is not a condition: conditions are words like failed-nodes", a.Pos[1])
	}
	return cond, nil
}

func runMute(ctx context.Context, c *call) error {
	name := c.pools[0]
	cond, err := muteCondition(c.args)
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
	text := fmt.Sprintf("%s muted %s of *%s* until %s", c.who(), alertsWord(cond), esc(name), fmtWhen(until, c.zone(ctx, name), c.now()))
	return c.respond(ctx, Reply{Text: slackToPlain(text), Blocks: textBlocks(text), InChannel: true})
}

func runUnmute(ctx context.Context, c *call) error {
	name := c.pools[0]
	cond, err := muteCondition(c.args)
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
	text := fmt.Sprintf("%s unmuted %s of *%s*", c.who(), alertsWord(cond), esc(name))
	return c.respond(ctx, Reply{Text: slackToPlain(text), Blocks: textBlocks(text), InChannel: true})
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
