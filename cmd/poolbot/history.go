package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/poolbot/poolbot/app"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/trace"
)

const historyUsage = "Usage: poolbot history export --config FILE --pool NAME|GLOB [--since 30d] [--out FILE] [--tz ZONE]"

func runHistory(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, historyUsage)
			return flag.ErrHelp
		}
		fmt.Fprintln(stderr, historyUsage)
		return errors.New("unknown or missing subcommand (want export)")
	}
	fs := flag.NewFlagSet("history export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `file`")
	poolArg := fs.String("pool", "", "the pool, by name or glob (required)")
	sinceArg := fs.String("since", "30d", "how far back: jobs queued in the last `span` (90m, 36h, 30d)")
	out := fs.String("out", "", "write to this `file` instead of standard output (replaced only when the export succeeds)")
	tz := fs.String("tz", "", "time `zone` of the queued column (default: the digest's, else the first schedule's, else UTC)")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long the whole export may take")
	fs.Usage = func() {
		fmt.Fprintln(stderr, historyUsage+`

Reads the pools' finished job requests from Azure DevOps (200 a call, following
its continuation tokens) and writes them, oldest first, as CSV with the header
`+strings.Join(trace.Header, ",")+`: queued in RFC 3339 with its offset, duration the whole
seconds the job ran, result as Azure DevOps names it, definition the pipeline.`)
		fs.PrintDefaults()
	}
	cfg, err := parseConfig(fs, args[1:], cfgPath)
	if err != nil {
		return err
	}
	if *poolArg == "" {
		fs.Usage()
		return errors.New("--pool is required")
	}
	if _, err := path.Match(*poolArg, ""); err != nil {
		return fmt.Errorf("--pool %q is not a pool name or glob", *poolArg)
	}
	span, err := config.ParseDuration(*sinceArg)
	if err != nil || span <= 0 {
		return fmt.Errorf("--since %q is not a span such as 90m, 36h or 30d", *sinceArg)
	}
	loc, err := exportZone(cfg, *tz)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	svc, err := app.NewAzure(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	pools, err := matchPools(ctx, svc, *poolArg)
	if err != nil {
		return err
	}
	jobs, calls, err := exportJobs(ctx, svc, pools, time.Now().Add(-span))
	if err != nil {
		return err
	}
	write := func(w io.Writer) error { return writeJobs(w, jobs, loc) }
	if *out == "" {
		err = write(stdout)
	} else {
		err = writeFileAtomic(*out, write)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d jobs of %s in %d calls to Azure DevOps\n", len(jobs), strings.Join(pools, ", "), calls)
	return nil
}

// exportZone is --tz, else the digest's zone, else the first schedule's, else UTC.
func exportZone(cfg *config.Config, tz string) (*time.Location, error) {
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("--tz %q is not a time zone such as Europe/Paris", tz)
		}
		return l, nil
	}
	zones := []string{cfg.Cost.DigestTimeZone}
	for _, s := range cfg.Schedules {
		zones = append(zones, s.TimeZone)
	}
	for _, z := range zones {
		if l, err := time.LoadLocation(z); z != "" && err == nil {
			return l, nil
		}
	}
	return time.UTC, nil
}

// matchPools resolves a name or glob to the pools' names.
func matchPools(ctx context.Context, svc pool.Service, arg string) ([]string, error) {
	ps, err := svc.List(ctx, pool.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range ps {
		if ok, _ := path.Match(arg, p.Name); ok || strings.EqualFold(arg, p.Name) {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no pool matches %q", arg)
	}
	sort.Strings(names)
	return names, nil
}

// exportJobs reads each pool's finished jobs queued since the instant,
// oldest first, and the calls it took.
func exportJobs(ctx context.Context, svc pool.Service, pools []string, since time.Time) ([]pool.Job, int, error) {
	var all []pool.Job
	calls := 0
	for _, name := range pools {
		page, err := svc.JobHistory(ctx, name, pool.JobQuery{Since: since})
		calls += page.Calls
		if err != nil {
			return nil, calls, err
		}
		all = append(all, page.Jobs...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].Queued.Equal(all[j].Queued) {
			return all[i].Queued.Before(all[j].Queued)
		}
		if all[i].Pool != all[j].Pool {
			return all[i].Pool < all[j].Pool
		}
		return all[i].RequestID < all[j].RequestID
	})
	return all, calls, nil
}

// writeJobs writes jobs as the trace CSV (trace.Write), queued in loc.
func writeJobs(w io.Writer, jobs []pool.Job, loc *time.Location) error {
	out := make([]trace.Job, len(jobs))
	for i, j := range jobs {
		out[i] = trace.Job{Pool: j.Pool, Queued: j.Queued.In(loc), Duration: j.Ran().Round(time.Second),
			Result: j.Result, Definition: j.Definition}
	}
	return trace.Write(w, out)
}

// writeFileAtomic writes through a temporary file renamed over name, so a
// failed export leaves an existing file as it was.
func writeFileAtomic(name string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
