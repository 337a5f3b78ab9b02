package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/poolbot/poolbot/app"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/config"
)

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
		fmt.Fprintln(stderr, "Usage: poolbot serve --config FILE\n\nRuns poolbot: Slack over HTTP or Socket Mode, and, on the leader replica,\nthe scheduler, the watcher and the outbox sender. Stops gracefully on SIGTERM.\nSIGHUP does not reload the configuration: it validates the file and logs\nwhether a restart would take it.")
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
	// SIGHUP would otherwise end the process at once, with no graceful
	// stop. poolbot does not reload its configuration (roles, schedules and
	// alerts are woven through parts that run; a restart applies a new file
	// with a graceful stop): a SIGHUP checks the file and says whether a
	// restart would take it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go onHangUp(ctx, hup, *path, log)

	a, err := app.New(ctx, app.Options{Config: cfg, Logger: log, Clock: clk, Owner: *owner})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// onHangUp answers each SIGHUP on sig until ctx ends: it validates the
// configuration file at path as `poolbot check --offline` does and logs the
// outcome; the running configuration is kept either way.
func onHangUp(ctx context.Context, sig <-chan os.Signal, path string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		cfg, err := config.Load(path)
		var errs []error
		if err != nil {
			errs = []error{err}
		} else {
			errs = app.ValidateSchedules(cfg)
		}
		if len(errs) > 0 {
			msgs := make([]string, len(errs))
			for i, e := range errs {
				msgs[i] = e.Error()
			}
			log.Error("SIGHUP: the configuration file has errors; a restart would fail. poolbot does not reload: it keeps running on the configuration it started with",
				"config", path, "errors", msgs)
			continue
		}
		log.Warn("SIGHUP: the configuration file is valid. poolbot does not reload it: it keeps running on the configuration it started with; restart to apply the file",
			"config", path)
	}
}
