package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/trace"
)

func runSim(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:7070", "`address` to serve on")
	speed := fs.Float64("speed", 1, "simulated seconds per real second")
	start := fs.String("start", "2026-01-05T00:00:00Z", "first simulated instant, RFC 3339")
	faults := fs.String("faults", "", `injected faults, e.g. "429=0.05,5xx=0.02,latency=200ms,drop=0.01,retry-after=1s"`)
	seed := fs.Int64("seed", 1, "seed of the job arrivals")
	jobs := fs.String("jobs", "", "replay this job trace `file` (CSV: pool,queued,duration,result,definition) instead of the built-in arrivals")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: poolbot sim [--listen 127.0.0.1:7070] [--speed N] [--start RFC3339] [--faults SPEC] [--seed N] [--jobs FILE]\n\nServes an Azure DevOps organization \"contoso\" with the scale-set pools linux-ci,\nwindows-ci and gpu-nightly (failing), the Azure Resource Manager scale sets\nbehind them and the Managed DevOps Pool mdp-linux, until interrupted.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("--start: %w", err)
	}
	f, err := sim.ParseFaults(*faults)
	if err != nil {
		return fmt.Errorf("--faults: %w", err)
	}
	if *speed <= 0 {
		return fmt.Errorf("--speed %g: must be above 0", *speed)
	}
	startSet := false
	fs.Visit(func(f *flag.Flag) { startSet = startSet || f.Name == "start" })
	var tr []trace.Job
	if *jobs != "" {
		if tr, err = readTrace(*jobs, time.Now()); err != nil {
			return err
		}
		if !startSet {
			// The trace's own instants, from the day it starts.
			t0 = tr[0].Queued.UTC().Truncate(24 * time.Hour)
		}
	}
	s := sim.New(sim.Options{Start: t0, Seed: *seed, Faults: f})
	if tr != nil {
		if err := s.Replay(tr); err != nil {
			return fmt.Errorf("--jobs %s: %w", *jobs, err)
		}
	}
	s.AddManagedPool(sim.ManagedSpec{Name: "mdp-linux", Max: 4, Standby: 1, SKU: "Standard_D2as_v5"})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "Azure DevOps:   %s/contoso\n", base)
	fmt.Fprintf(stdout, "Azure (ARM):    %s/  (subscription %s, resource group %s; plain HTTP: allow bearer tokens over HTTP in the client)\n", base, sim.Subscription, sim.ResourceGroup)
	fmt.Fprintf(stdout, "Managed DevOps Pool: %s\n", sim.ManagedPoolID("mdp-linux"))
	fmt.Fprintf(stdout, "Retail prices:  %s\n", sim.PricesURL(base))
	fmt.Fprintf(stdout, "Any PAT or bearer token is accepted except the PAT %q, which gets 401.\n", sim.RejectedPAT)
	fmt.Fprintf(stdout, "Simulated time starts at %s and runs %g× the wall clock. Ctrl-C stops.\n", t0.Format(time.RFC3339), *speed)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- s.Run(ctx, *speed) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			_ = srv.Close()
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
