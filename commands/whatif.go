package commands

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/poolbot/poolbot/pool"
)

func whatifCommands() []*command {
	return []*command{{
		name:  "whatif",
		usage: "whatif <pool>",
		help: "Replays the pool's last 4 weeks of jobs, from the job history poolbot keeps, on a simulated pool with its " +
			"current settings, under each policy: its own settings (none), each configured schedule that claims it, and " +
			"the autopilot at each preference; answers idle VM-hours, cost, p50/p95 wait, jobs and ratios against none. " +
			"It takes some seconds; one runs at a time.",
		role: RoleViewer,
		min:  1, max: 1, pool: onePool,
		run: runWhatif,
	}}
}

// WhatIfRunner replays a pool's stored jobs (queued in the last 4 weeks,
// oldest first) on a simulated pool with p's settings under each policy,
// "none" (p's own settings) first; it may take seconds. Errors are bad
// input or a cancelled ctx. app wires whatif.Stored.
type WhatIfRunner func(ctx context.Context, p pool.Pool, jobs []pool.Job) ([]WhatIfRow, error)

// WhatIfRow is one policy's figures over the replay.
type WhatIfRow struct {
	Policy           string
	IdleVMHours      float64
	Cost             float64
	WaitP50, WaitP95 time.Duration
	Jobs             int
	// Against "none".
	IdleRatio, CostRatio, P95Ratio float64
}

// whatifSpan is the stored history a what-if replays, as the autopilot
// reads it.
const whatifSpan = 28 * 24 * time.Hour

// whatifSlot lets one what-if run at a time in the process: each keeps both
// cores busy for seconds.
var whatifSlot = make(chan struct{}, 1)

func runWhatif(ctx context.Context, c *call) error {
	name := c.pools[0]
	if c.h.o.WhatIf == nil {
		text := "What-if replays are not available in this poolbot."
		return c.respond(ctx, Reply{Text: text, Blocks: textBlocks(text)})
	}
	now := c.now()
	jobs, err := c.h.o.Store.Jobs(ctx, pool.JobsQuery{Pool: name, From: now.Add(-whatifSpan), To: now})
	if err != nil {
		return fmt.Errorf("read the job history of %s: %w", name, err)
	}
	if len(jobs) == 0 {
		text := fmt.Sprintf("No jobs of %s in the last 4 weeks in poolbot's job history (it reads Azure DevOps' every few minutes): nothing to replay.", name)
		return c.respond(ctx, Reply{Text: text, Blocks: textBlocks(esc(text))})
	}
	p, err := c.h.o.Service.Get(ctx, name)
	if err != nil {
		return err
	}
	select {
	case whatifSlot <- struct{}{}:
		defer func() { <-whatifSlot }()
	default:
		text := "Another what-if is running; ask again in a minute."
		return c.respond(ctx, Reply{Text: text, Blocks: textBlocks(text)})
	}
	days := now.Sub(jobs[0].Queued).Hours() / 24
	if err := c.respond(ctx, say(sayf(":hourglass: Replaying %s of %s (%.0f days) under each policy…", plural(len(jobs), "job"), name, days))); err != nil {
		return err
	}
	rows, err := c.h.o.WhatIf(ctx, p, jobs)
	if err != nil {
		return fmt.Errorf("what-if of %s: %w", name, err)
	}
	sku := "VM size unknown"
	if p.ScaleSet != nil && p.ScaleSet.SKU != "" {
		sku = p.ScaleSet.SKU
	}
	head := sayf("What if *%s* had run its last %.0f days (%s) under each policy, on its current settings (standby %d, max %d, ttl %d, %s):",
		p.Name, days, plural(len(jobs), "job"), p.Standby, p.Max, p.TTLMinutes, sku)
	text := head + "\n```\n" + whatifTable(rows) + "```"
	return c.respond(ctx, Reply{Text: fallback(text), Blocks: textBlocks(text), ReplaceOriginal: true})
}

// whatifTable is the rows as a fixed-width table.
func whatifTable(rows []WhatIfRow) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	// The policy column reads better left-aligned: pad it to one width.
	w := len("policy")
	for _, r := range rows {
		w = max(w, len(r.Policy))
	}
	fmt.Fprintf(tw, "%-*s\tidle VM-h\tcost\twait p50\twait p95\tjobs\tidle ×\tcost ×\tp95 ×\t\n", w, "policy")
	for _, r := range rows {
		fmt.Fprintf(tw, "%-*s\t%.1f\t$%.2f\t%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t\n", w, r.Policy, r.IdleVMHours, r.Cost,
			short(r.WaitP50), short(r.WaitP95), r.Jobs, r.IdleRatio, r.CostRatio, r.P95Ratio)
	}
	tw.Flush()
	return b.String()
}
