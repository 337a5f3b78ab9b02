package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/scheduler"
	"github.com/poolbot/poolbot/store"
)

func init() {
	register(subcommand{name: "check", usage: "validate a configuration file", run: runCheck})
}

func runCheck(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file`")
	offline := fs.Bool("offline", false, "do not contact Azure DevOps to check pool names and globs")
	timeout := fs.Duration("timeout", 20*time.Second, "how long to wait for Azure DevOps")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: poolbot check --config FILE [--offline]\n\nValidates the configuration: syntax, keys, cron expressions, time zones,\noverlapping schedules and, when Azure DevOps is reachable, globs that match\nno pool. Exits non-zero naming the file, line and reason of each problem.")
		fs.PrintDefaults()
	}
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	errs := scheduler.Validate(cfg)
	if err := store.CheckPath(cfg.Store); err != nil {
		errs = append(errs, fmt.Errorf("%s: [store] path: %w", cfg.Path, err))
	}
	checked := "pools not checked (--offline)"
	if !*offline && len(cfg.Schedules) > 0 {
		names, err := poolNames(ctx, cfg, *timeout)
		if err != nil {
			// Unreachable is not a config error: say what was not checked.
			checked = "pools not checked: Azure DevOps not reachable: " + err.Error()
			fmt.Fprintln(stderr, "note:", checked)
		} else {
			checked = fmt.Sprintf("%d pools in Azure DevOps", len(names))
			errs = append(errs, scheduler.CheckPools(cfg, names)...)
		}
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		return fmt.Errorf("%s: %d problem(s)", cfg.Path, len(errs))
	}
	fmt.Fprintf(stdout, "%s: ok (%d schedules; %s)\n", cfg.Path, len(cfg.Schedules), checked)
	return nil
}

func poolNames(ctx context.Context, cfg *config.Config, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := azure.FromConfig(ctx, cfg.DevOps, cfg.Azure, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	pools, err := c.List(ctx, pool.ListOptions{})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(pools))
	for i, p := range pools {
		names[i] = p.Name
	}
	return names, nil
}
