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

	"github.com/poolbot/poolbot/app"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/scheduler"
)

var scheduleUsage = "Usage: poolbot schedule preview --config FILE [--from DATE|INSTANT] [--days N]\n       " + strings.TrimPrefix(suggestUsage, "Usage: ")

func runSchedule(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "suggest" {
		return runSuggest(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("schedule preview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file`; only its [[schedules]] are read, so no secret need be set")
	from := fs.String("from", "", "first `day or instant`: a date (2026-03-27, midnight in the schedules' time zone) or RFC 3339 (2026-03-27T08:00:00+01:00); default now")
	days := fs.Int("days", 7, "how many `days` to show")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), scheduleUsage+"\n\nPrints the changes each pool will get, one a line: the instant in the\nschedule's zone, the pool (or glob), the settings and the schedule's name.\n\nFlags of preview:")
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] != "preview" {
		if asksHelp(args) || (len(args) > 0 && args[0] == "help") {
			fs.SetOutput(stdout)
			fs.Usage()
			return flag.ErrHelp
		}
		fmt.Fprintln(stderr, scheduleUsage)
		if len(args) == 0 {
			return errors.New("missing subcommand: want preview or suggest")
		}
		return fmt.Errorf("unknown subcommand %q: want preview or suggest", args[0])
	}
	cfg, err := parseConfig(fs, args[1:], path, "schedules")
	if err != nil {
		return err
	}
	if *days < 1 || *days > 366 {
		return fmt.Errorf("--days %d: must be between 1 and 366", *days)
	}
	start := time.Now()
	if *from != "" {
		t, err := parseFrom(*from, cfg)
		if err != nil {
			return err
		}
		start = t
	}
	if errs := app.ValidateSchedules(cfg); len(errs) > 0 {
		return errors.Join(errs...)
	}
	changes, err := scheduler.Preview(app.Schedules(cfg), nil, start, *days)
	if err != nil {
		return err
	}
	for _, c := range changes {
		fmt.Fprintf(stdout, "%s %s %s %s\n", c.At.Format(time.RFC3339), c.Pool, scheduler.Describe(c), c.Schedule)
	}
	return nil
}

// parseFrom reads --from: an RFC 3339 instant, or a date, which is taken as
// its midnight in the schedules' time zone (UTC when they name different
// zones, or none).
func parseFrom(s string, cfg *config.Config) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	loc := time.UTC
	for i, sc := range cfg.Schedules {
		l, err := time.LoadLocation(sc.TimeZone)
		if err != nil || (i > 0 && l.String() != loc.String()) {
			loc = time.UTC
			break
		}
		loc = l
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--from %q is neither a date such as 2026-03-27 nor an RFC 3339 instant such as 2026-03-27T08:00:00+01:00", s)
}
