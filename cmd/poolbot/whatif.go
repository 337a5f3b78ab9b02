package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/poolbot/poolbot/app"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/trace"
	"github.com/poolbot/poolbot/whatif"
)

func runWhatif(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("whatif", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file` (its schedules are tried)")
	jobsPath := fs.String("jobs", "", "job trace `file` (CSV: pool,queued,duration,result,definition)")
	only := fs.String("pool", "", "only this `pool`")
	format := fs.String("format", "text", "text or json")
	tmpl := fs.String("template", "", "simulate the trace's pools that the simulator does not have from this config `template` (default: a template of the pool's name)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: poolbot whatif --config FILE --jobs FILE [--pool P] [--format text|json] [--template T]

Replays the trace on the simulator (its seeded pools linux-ci, windows-ci and
gpu-nightly, without their failures; other pools as the config's template of
their name, or --template, says) under each policy: "none" (the pools' own
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
	o, err := whatifOptions(cfg, *jobsPath, *only, *tmpl)
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
func whatifOptions(cfg *config.Config, jobsPath, only, tmpl string) (whatif.Options, error) {
	if jobsPath == "" {
		return whatif.Options{}, errors.New("--jobs is required")
	}
	if errs := app.ValidateSchedules(cfg); len(errs) > 0 {
		return whatif.Options{}, errors.Join(errs...)
	}
	jobs, err := readTrace(jobsPath, time.Now())
	if err != nil {
		return whatif.Options{}, err
	}
	o := whatif.Options{Jobs: jobs, Schedules: app.Schedules(cfg), TimeZone: cfg.Cost.DigestTimeZone}
	if o.Specs, err = simPools(cfg, trace.Pools(jobs), tmpl); err != nil {
		return whatif.Options{}, err
	}
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

// simPools are the simulator's seeded pools, without their failures, and
// a pool from a config template for each pool of the trace it does not
// have: the template of the pool's name, or the one named tmpl.
func simPools(cfg *config.Config, pools []string, tmpl string) ([]sim.PoolSpec, error) {
	var specs []sim.PoolSpec
	have := map[string]bool{}
	for _, p := range sim.DefaultPools() {
		p.Failure = sim.Failure{}
		specs = append(specs, p)
		have[p.Name] = true
	}
	find := func(name string) *config.Template {
		for i := range cfg.Templates {
			if cfg.Templates[i].Name == name {
				return &cfg.Templates[i]
			}
		}
		return nil
	}
	if tmpl != "" && find(tmpl) == nil {
		return nil, fmt.Errorf("--template %s: the config has no such template", tmpl)
	}
	for _, name := range pools {
		if have[name] {
			continue
		}
		t := find(name)
		if t == nil && tmpl != "" {
			t = find(tmpl)
		}
		if t == nil {
			return nil, fmt.Errorf("pool %s of the trace is not one the simulator seeds (linux-ci, windows-ci, gpu-nightly) and the config has no template of that name: give one with --template", name)
		}
		os := pool.Linux
		if strings.EqualFold(t.OS, "windows") {
			os = pool.Windows
		}
		specs = append(specs, sim.PoolSpec{Name: name, OS: os, SKU: t.SKU, Region: t.Region, Max: max(t.Max, 1), Standby: t.Standby, TTLMinutes: t.TTLMinutes, JobsPerHour: -1})
		have[name] = true
	}
	return specs, nil
}
