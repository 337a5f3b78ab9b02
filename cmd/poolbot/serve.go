package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/poolbot/poolbot/app"
	"github.com/poolbot/poolbot/clock"
)

func init() {
	register(subcommand{name: "serve", usage: "run the bot: Slack, schedules and alerts, as configured", run: runServe})
}

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file` (TOML; see config.example.toml)")
	owner := fs.String("replica", "", "this replica's `name` in logs, leases and claims, stable across restarts (default [server] replica_id, $POD_NAME, or an id kept beside the SQLite store)")
	// A simulated clock, for running against `poolbot sim --speed N`: the
	// bot's scheduler and watcher then see the simulator's time.
	simStart := fs.String("clock-start", "", "run on a simulated clock reading this RFC 3339 `instant` at --clock-epoch")
	simEpoch := fs.Int64("clock-epoch", 0, "the wall-clock `unix-ms` at which the simulated clock read --clock-start (default now)")
	simSpeed := fs.Float64("clock-speed", 1, "simulated seconds per real `second`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: poolbot serve --config FILE\n\nRuns poolbot: Slack over HTTP or Socket Mode, and, on the leader replica,\nthe scheduler, the watcher and the outbox sender. Stops gracefully on SIGTERM.")
		fs.PrintDefaults()
	}
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	log, err := app.NewLogger(stderr, cfg.Log, "json")
	if err != nil {
		return err
	}
	var clk clock.Clock = clock.Real{}
	if *simStart != "" {
		start, err := time.Parse(time.RFC3339, *simStart)
		if err != nil {
			return fmt.Errorf("--clock-start: %w", err)
		}
		if *simEpoch != 0 {
			elapsed := time.Since(time.UnixMilli(*simEpoch))
			start = start.Add(time.Duration(float64(elapsed) * *simSpeed))
		}
		clk = clock.NewScaled(start, *simSpeed)
		log.Info("simulated clock", "now", clk.Now().Format(time.RFC3339), "speed", *simSpeed)
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: log, Clock: clk, Owner: *owner})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
