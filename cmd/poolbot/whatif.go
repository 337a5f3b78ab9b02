package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/scheduler"
	"github.com/poolbot/poolbot/trace"
	"github.com/poolbot/poolbot/whatif"
)

func init() {
	register(subcommand{name: "whatif", usage: "replay a job trace under each standby policy and compare idle time, cost and waits", run: runWhatif})
}

func runWhatif(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("whatif", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file` (its schedules are tried)")
	jobsPath := fs.String("jobs", "", "job trace `file` (CSV: pool,queued,duration,result,definition)")
	only := fs.String("pool", "", "only this `pool`")
	format := fs.String("format", "text", "text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: poolbot whatif --config FILE --jobs FILE [--pool P] [--format text|json]

Replays the trace on the simulator (its seeded pools linux-ci, windows-ci and
gpu-nightly, without their failures) under each policy: "none" (the pools' own
settings), each configured schedule that claims the pool, and the autopilot at
each preference (autopilot:balanced …), learning from the trace as it goes.
Prints per pool and policy idle VM-hours, cost, p50/p95 wait of all the
trace's jobs, and the ratios against "none".`)
		fs.PrintDefaults()
	}
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("--format %q: text or json", *format)
	}
	o, err := whatifOptions(cfg, *jobsPath, *only)
	if err != nil {
		return err
	}
	rs, err := whatif.Run(ctx, o)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rs)
	}
	first, last := o.Jobs[0].Queued, o.Jobs[len(o.Jobs)-1].Queued
	fmt.Fprintf(stdout, "%d jobs from %s to %s (%.1f days)\n\n", len(o.Jobs), first.Format(time.RFC3339), last.Format(time.RFC3339), last.Sub(first).Hours()/24)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pool\tpolicy\tidle VM-h\tcost\twait p50\twait p95\tjobs\tidle ×\tcost ×\tp95 ×\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t$%.2f\t%.0fs\t%.0fs\t%d\t%.2f\t%.2f\t%.2f\t\n", r.Pool, r.Policy, r.IdleVMHours, r.Cost,
			r.WaitP50S, r.WaitP95S, r.Jobs, r.IdleRatio, r.CostRatio, r.P95Ratio)
	}
	return tw.Flush()
}

// whatifOptions reads the trace and checks the config's schedules; only
// restricts the pools measured.
func whatifOptions(cfg *config.Config, jobsPath, only string) (whatif.Options, error) {
	if jobsPath == "" {
		return whatif.Options{}, errors.New("--jobs is required")
	}
	if errs := scheduler.Validate(cfg); len(errs) > 0 {
		return whatif.Options{}, errors.Join(errs...)
	}
	jobs, err := readTrace(jobsPath, time.Now())
	if err != nil {
		return whatif.Options{}, err
	}
	o := whatif.Options{Jobs: jobs, Schedules: cfg.Schedules}
	if only != "" {
		found := false
		for _, p := range trace.Pools(jobs) {
			found = found || p == only
		}
		if !found {
			return whatif.Options{}, fmt.Errorf("--pool %s: the trace has no jobs of it (it has %v)", only, trace.Pools(jobs))
		}
		o.Pools = []string{only}
	}
	return o, nil
}
