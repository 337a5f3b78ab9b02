package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
)

// imageCommands is the command table's entries of image.go.
func imageCommands() []*command {
	return []*command{{
		name:  "image",
		usage: "image <pool> <image | latest | rollback> [reimage=idle] [canary=N|N%] | image <pool> build|pause|resume|cancel",
		help: "Changes the image a pool's scale set gives new agents: a compute gallery image id, a marketplace " +
			"URN (publisher:offer:sku:version), `latest` (the newest version of the current image) or `rollback` " +
			"(the image before the last change). Shows current → new and asks for confirmation; reimage=idle " +
			"also reimages idle agents onto it (busy ones pick it up when recycled). canary=N (or N%) rolls it out " +
			"instead: N idle agents first, watched, then the rest in batches, rolled back by itself if the canary " +
			"fails. build runs the pool's image pipeline ([[images]] in the config); pause, resume and cancel act " +
			"on a running rollout.",
		role: RoleAdmin,
		keys: []string{"reimage", "canary"},
		min:  2, max: 2, pool: onePool,
		run: runImage,
	}}
}

// versionPart is a gallery image id's version, which `latest` drops so that
// the newest version is chosen.
var versionPart = regexp.MustCompile(`(?i)/versions/[^/]+$`)

func runImage(ctx context.Context, c *call) error {
	name := c.pools[0]
	switch op := c.args.Pos[1]; op {
	case "build":
		return runImageBuild(ctx, c)
	case "pause", "resume", "cancel":
		return runRolloutControl(ctx, c, name, op)
	}
	if canary, ok := c.args.Get("canary"); ok {
		if _, ok := c.args.Get("reimage"); ok {
			return usagef("canary= and reimage= do not go together: a rollout reimages the agents itself")
		}
		return runRollout(ctx, c, name, canary)
	}
	reimageIdle := false
	if v, ok := c.args.Get("reimage"); ok {
		if v != "idle" {
			return usagef("reimage=%s: only reimage=idle is possible; busy agents are never cut", v)
		}
		reimageIdle = true
	}
	p, err := c.h.o.Service.Get(ctx, name)
	if err != nil {
		return err
	}
	if p.ScaleSet == nil {
		return &pool.Error{Kind: pool.KindNotFound, Pool: name, Msg: name + " has no scale set I can read"}
	}
	cur := p.ScaleSet.Image
	target, err := c.targetImage(ctx, name, cur, c.args.Pos[1])
	if err != nil {
		return err
	}
	if target == cur {
		return c.respond(ctx, say(sayf("*%s* already uses `%s`; nothing to change.", name, cur.Short())))
	}
	idle := idleNodes(p.Nodes)
	if !c.confirmed {
		q := sayf("Change the image of *%s*?\n`%s` → `%s`", name, cur.Short(), target.Short())
		if c.args.Pos[1] == "latest" {
			q += " (its newest version)"
		}
		if reimageIdle {
			q += fmt.Sprintf("\nand reimage its %s onto it", plural(len(idle), "idle agent"))
		}
		return c.askConfirm(ctx, q, "Change image", true)
	}
	// The swap is a long operation kept in the store: its progress goes to
	// one message in the channel, which a restart finishes if poolbot dies
	// in the middle. The requester's own reply only points there.
	msg := sayf("Changing the image of %s: %s → %s; progress in the channel…", name, cur.Short(), target.Short())
	if err := c.respond(ctx, say(":hourglass: "+msg)); err != nil {
		return err
	}
	r, err := c.h.o.Changer.SwapImage(ctx, c.actor, c.text, name, target,
		change.Swap{Channel: c.req.ChannelID, Who: string(c.who()), ReimageIdle: reimageIdle})
	if err != nil {
		return err
	}
	text := sayf("%s changed the image of *%s*: `%s` → `%s`", c.who(), name, r.Before.Short(), r.After.Short())
	switch {
	case !reimageIdle:
	case r.ReimageErr != nil:
		text += sayf("; reimaging idle agents failed: %v", r.ReimageErr)
	case len(r.Reimaged) > 0:
		text += fmt.Sprintf("; reimaging %s", plural(len(r.Reimaged), "idle agent"))
	default:
		text += "; no agent was idle to reimage"
	}
	return c.respond(ctx, Reply{Text: fallback(text), Blocks: textBlocks(text), ReplaceOriginal: true})
}

// targetImage reads the image argument against the pool's current image.
func (c *call) targetImage(ctx context.Context, name string, cur pool.Image, arg string) (pool.Image, error) {
	switch arg {
	case "latest":
		switch {
		case cur.ID != "":
			return pool.Image{ID: versionPart.ReplaceAllString(cur.ID, "")}, nil
		case cur.IsZero():
			return pool.Image{}, &pool.Error{Kind: pool.KindInvalid, Pool: name, Msg: name + " has no image to take the newest version of"}
		}
		cur.Version = "latest"
		return cur, nil
	case "rollback":
		prev, err := c.h.o.Changer.PreviousImage(ctx, name)
		if errors.Is(err, pool.ErrNotFound) {
			return pool.Image{}, &pool.Error{Kind: pool.KindNotFound, Pool: name,
				Msg: "poolbot has not changed the image of " + name + " yet, so there is nothing to roll back to"}
		}
		if err != nil {
			return pool.Image{}, fmt.Errorf("previous image of %s: %w", name, err)
		}
		return prev, nil
	}
	img, err := pool.ParseImage(arg)
	if err != nil {
		return pool.Image{}, usagef("%v", err)
	}
	return img, nil
}

func idleNodes(nodes []pool.Node) []int {
	var ids []int
	for _, n := range nodes {
		if n.State == pool.NodeIdle {
			ids = append(ids, n.ID)
		}
	}
	return ids
}
