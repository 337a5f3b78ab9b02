package commands

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/poolbot/poolbot/pool"
)

// nodeCommands is the command table's entries of node.go.
func nodeCommands() []*command {
	return []*command{{
		name:  "node",
		usage: "node reimage|delete <pool> <node>…",
		help: "Reimages or deletes nodes of a pool, each named by its agent name or its id as `/pool status` " +
			"lists them. A busy node is refused: its job would be cut.",
		role: RoleOperator,
		min:  3, max: 12, pool: onePool, poolAt: 1,
		run: runNode,
	}}
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
	nodes, err := c.h.o.Service.Nodes(ctx, name)
	if err != nil {
		return err
	}
	var picked []pool.Node
	for _, a := range c.args.Pos[2:] {
		for _, f := range strings.Split(a, ",") {
			if f == "" {
				continue
			}
			n, ok := findNode(nodes, f)
			if !ok {
				return usagef("%s has no node %q; `/pool status %s` lists them", name, f, name)
			}
			if !slices.ContainsFunc(picked, func(p pool.Node) bool { return p.ID == n.ID }) {
				picked = append(picked, n)
			}
		}
	}
	if len(picked) == 0 {
		return usagef("name the nodes to %s", op)
	}
	ids := make([]int, len(picked))
	labels := make([]string, len(picked))
	for i, n := range picked {
		if n.State.Class() == pool.ClassBusy {
			return usagef("node %s of %s is running a job; %s it once the job is done", nodeLabel(n), name, op)
		}
		ids[i], labels[i] = n.ID, nodeLabel(n)
	}
	if err := c.h.o.Changer.Nodes(ctx, c.actor, c.text, name, op, ids); err != nil {
		return err
	}
	verb := map[string]string{"reimage": "started reimaging", "delete": "started deleting"}[op]
	what := "node"
	if len(ids) > 1 {
		what = "nodes"
	}
	return c.respond(ctx, announce(sayf("%s %s %s %s of *%s*", c.who(), verb, what, strings.Join(labels, ", "), name)))
}

// findNode finds a node by its agent name (any case) or its id, "#12" or
// "12".
func findNode(nodes []pool.Node, s string) (pool.Node, bool) {
	for _, n := range nodes {
		if n.Name != "" && strings.EqualFold(n.Name, s) {
			return n, true
		}
	}
	id, err := strconv.Atoi(strings.TrimPrefix(s, "#"))
	if err != nil {
		return pool.Node{}, false
	}
	i := slices.IndexFunc(nodes, func(n pool.Node) bool { return n.ID == id })
	if i < 0 {
		return pool.Node{}, false
	}
	return nodes[i], true
}

// nodeLabel names a node as people see it: "linux-ci-000003 (#3)".
func nodeLabel(n pool.Node) string {
	if n.Name == "" {
		return fmt.Sprintf("#%d", n.ID)
	}
	return fmt.Sprintf("%s (#%d)", n.Name, n.ID)
}
