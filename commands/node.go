package commands

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/poolbot/poolbot/pool"
)

func init() {
	register(&command{
		name:  "node",
		usage: "node <reimage|delete> <pool> <nodeID>…",
		help:  "Reimages or deletes nodes of a pool by their ids (see `/pool status`). A busy node is refused: its job would be cut.",
		role:  RoleOperator,
		min:   3, max: 12, pool: onePool, poolAt: 1,
		run: runNode,
	})
}

func runNode(ctx context.Context, c *call) error {
	op := strings.ToLower(c.args.Pos[0])
	if op != "reimage" && op != "delete" {
		msg := fmt.Sprintf("%q is not something I can do to a node: reimage or delete", c.args.Pos[0])
		if s, ok := suggest(op, []string{"reimage", "delete"}); ok {
			msg = fmt.Sprintf("%q is not something I can do to a node; did you mean %s", c.args.Pos[0], s)
		}
		return usagef("%s", msg)
	}
	name := c.pools[0]
	var ids []int
	for _, a := range c.args.Pos[2:] {
		for _, f := range strings.Split(a, ",") {
			id, err := strconv.Atoi(strings.TrimPrefix(f, "#"))
			if err != nil || id < 0 {
				return usagef("node ids are numbers, not %q", f)
			}
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	nodes, err := c.h.o.Service.Nodes(ctx, name)
	if err != nil {
		return err
	}
	for _, id := range ids {
		i := slices.IndexFunc(nodes, func(n pool.Node) bool { return n.ID == id })
		if i < 0 {
			return usagef("%s has no node %d; `/pool status %s` lists them", name, id, name)
		}
		if nodes[i].State.Class() == pool.ClassBusy {
			return usagef("node %d of %s is running a job; %s it once the job is done", id, name, op)
		}
	}
	if err := c.h.o.Changer.Nodes(ctx, c.actor, c.text, name, op, ids); err != nil {
		return err
	}
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = strconv.Itoa(id)
	}
	verb := map[string]string{"reimage": "started reimaging", "delete": "started deleting"}[op]
	text := fmt.Sprintf("%s %s node %s of *%s*", c.who(), verb, strings.Join(strs, ", "), esc(name))
	return c.respond(ctx, Reply{Text: slackToPlain(text), Blocks: textBlocks(text), InChannel: true})
}
