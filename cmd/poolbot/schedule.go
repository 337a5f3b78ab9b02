package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
	_ "time/tzdata" // schedules name IANA zones; a minimal image may have no zone files

	"github.com/poolbot/poolbot/scheduler"
)

func init() {
	register(subcommand{name: "schedule", usage: "preview the changes the schedules will make, or suggest one from a job trace", run: runSchedule})
}

func runSchedule(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "suggest" {
		return runSuggest(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "preview" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, "Usage: poolbot schedule preview --config FILE [--from RFC3339] [--days N]\n       "+strings.TrimPrefix(suggestUsage, "Usage: "))
			return flag.ErrHelp
		}
		fmt.Fprintln(stderr, "Usage: poolbot schedule preview --config FILE [--from RFC3339] [--days N]\n       "+strings.TrimPrefix(suggestUsage, "Usage: "))
		return errors.New("unknown or missing subcommand (want preview or suggest)")
	}
	fs := flag.NewFlagSet("schedule preview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file`")
	from := fs.String("from", "", "first `instant` (RFC 3339, default now)")
	days := fs.Int("days", 7, "how many `days` to show")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: poolbot schedule preview --config FILE [--from RFC3339] [--days N]\n\nPrints the changes each pool will get, one a line: the instant in the\nschedule's zone, the pool (or glob), the settings and the schedule's name.")
		fs.PrintDefaults()
	}
	cfg, err := parseConfig(fs, args[1:], path)
	if err != nil {
		return err
	}
	start := time.Now()
	if *from != "" {
		t, err := time.Parse(time.RFC3339, *from)
		if err != nil {
			return fmt.Errorf("--from %q is not an RFC 3339 instant such as 2026-03-09T00:00:00+01:00", *from)
		}
		start = t
	}
	if errs := scheduler.Validate(cfg); len(errs) > 0 {
		return errors.Join(errs...)
	}
	changes, err := scheduler.Preview(cfg.Schedules, nil, start, *days)
	if err != nil {
		return err
	}
	for _, c := range changes {
		fmt.Fprintf(stdout, "%s %s %s %s\n", c.At.Format(time.RFC3339), c.Pool, scheduler.Describe(c), c.Schedule)
	}
	return nil
}
