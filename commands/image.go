package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/poolbot/poolbot/pool"
)

// imageCommands is the command table's entries of image.go.
func imageCommands() []*command {
	return []*command{{
		name:  "image",
		usage: "image <pool> <image | latest | rollback> [reimage=idle]",
		help: "Changes the image a pool's scale set gives new agents: a compute gallery image id, a marketplace " +
			"URN (publisher:offer:sku:version), `latest` (the newest version of the current image) or `rollback` " +
			"(the image before the last change). Shows current → new and asks for confirmation; reimage=idle " +
			"also reimages idle agents onto it (busy ones pick it up when recycled).",
		role: RoleAdmin,
		keys: []string{"reimage"},
		min:  2, max: 2, pool: onePool,
		run: runImage,
	}}
}

// versionPart is a gallery image id's version, which `latest` drops so that
// the newest version is chosen.
var versionPart = regexp.MustCompile(`(?i)/versions/[^/]+$`)

func runImage(ctx context.Context, c *call) error {
	name := c.pools[0]
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
	if err := c.respond(ctx, say(sayf(":hourglass: Changing the image of *%s*: `%s` → `%s`…", name, cur.Short(), target.Short()))); err != nil {
		return err
	}
	before, after, err := c.h.o.Changer.SetImage(ctx, c.actor, c.text, name, target)
	if err != nil {
		return err
	}
	text := sayf("%s changed the image of *%s*: `%s` → `%s`", c.who(), name, before.Short(), after.Short())
	if reimageIdle {
		// Nodes may have changed while the image did.
		nodes, err := c.h.o.Service.Nodes(ctx, name)
		if err != nil {
			return fmt.Errorf("the image is changed, but listing idle agents failed: %w", err)
		}
		idle = idleNodes(nodes)
		if len(idle) > 0 {
			msg := sayf(":hourglass: Image of %s changed; reimaging %s…", name, plural(len(idle), "idle agent"))
			if err := c.respond(ctx, say(msg)); err != nil {
				return err
			}
			if err := c.h.o.Changer.Nodes(ctx, c.actor, c.text, name, "reimage", idle); err != nil {
				text += sayf("; reimaging idle agents failed: %v", err)
			} else {
				text += fmt.Sprintf("; reimaging %s", plural(len(idle), "idle agent"))
			}
		} else {
			text += "; no agent was idle to reimage"
		}
	}
	r := announce(text)
	r.ReplaceOriginal = c.replace
	return c.respond(ctx, r)
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
