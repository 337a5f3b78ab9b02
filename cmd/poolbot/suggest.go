package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/whatif"
)

const suggestUsage = "Usage: poolbot schedule suggest --config FILE --jobs FILE --pool P [--wait-p95 DURATION] [--timezone ZONE] [--template T]"

// runSuggest prints the fixed schedule that meets the wait objective with
// the fewest idle VM-hours on the trace.
func runSuggest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("schedule suggest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file`")
	jobsPath := fs.String("jobs", "", "job trace `file` (CSV: pool,queued,duration,result,definition)")
	name := fs.String("pool", "", "the `pool` to schedule")
	objective := fs.Duration("wait-p95", 0, "the 95th percentile of job waits to meet (default: what the pool's own settings give)")
	tmpl := fs.String("template", "", "simulate a pool the simulator does not have from this config `template` (default: a template of the pool's name)")
	zone := fs.String("timezone", "", "the schedule's IANA `zone` (default: that of a configured schedule claiming the pool, else UTC)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, suggestUsage+`

Derives fixed schedules from the pool's demand in the trace (the standby each
autopilot preference provides for, hour by hour, set 15 minutes ahead),
replays each on the simulator, and prints as TOML the one with the fewest idle
VM-hours whose p95 wait meets the objective, with its figures beside it.`)
		fs.PrintDefaults()
	}
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	if *name == "" {
		fs.Usage()
		return errors.New("--pool is required")
	}
	if *objective < 0 {
		return errors.New("--wait-p95 must not be negative")
	}
	o, err := whatifOptions(cfg, *jobsPath, *name, *tmpl)
	if err != nil {
		return err
	}
	zname := *zone
	if zname == "" {
		for _, sc := range cfg.Schedules {
			if whatifClaims(sc, *name) {
				zname = sc.TimeZone
			}
		}
	}
	loc := time.UTC
	if zname != "" {
		if loc, err = time.LoadLocation(zname); err != nil {
			return fmt.Errorf("--timezone %q: unknown zone (an IANA name such as Europe/Paris)", zname)
		}
	}
	sg, err := whatif.Suggest(ctx, o, *name, *objective, loc)
	if err != nil {
		return err
	}
	r, b := sg.Result, sg.Base
	fmt.Fprintf(stdout, "# %s on %d jobs: %d schedules tried; objective p95 wait %s\n", *name, r.Jobs, sg.Candidates, sg.Objective)
	fmt.Fprintf(stdout, "# none (the pool's own settings): idle %.1f VM-h, cost $%.2f, wait p50 %.0fs, p95 %.0fs\n", b.IdleVMHours, b.Cost, b.WaitP50S, b.WaitP95S)
	fmt.Fprintf(stdout, "# this schedule: idle %.1f VM-h (%.2f×), cost $%.2f (%.2f×), wait p50 %.0fs, p95 %.0fs (%.2f×)\n",
		r.IdleVMHours, r.IdleRatio, r.Cost, r.CostRatio, r.WaitP50S, r.WaitP95S, r.P95Ratio)
	if !sg.Met {
		fmt.Fprintf(stdout, "# no schedule tried meets the objective: this one waits least\n")
	}
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, whatif.TOML(sg.Schedule))
	return nil
}

func whatifClaims(sc config.Schedule, name string) bool {
	for _, p := range sc.Pools {
		if p == name {
			return true
		}
	}
	return false
}
