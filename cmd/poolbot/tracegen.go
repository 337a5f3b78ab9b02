package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/poolbot/poolbot/trace"
)

func runTrace(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var shapes []string
	for k := range trace.Shapes {
		shapes = append(shapes, k)
	}
	sort.Strings(shapes)
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	shape := fs.String("shape", "office", "the demand: "+strings.Join(shapes, ", "))
	seed := fs.Int64("seed", 1, "seed of the arrivals")
	weeks := fs.Int("weeks", 4, "how many `weeks`")
	start := fs.String("start", "2026-01-05T00:00:00Z", "first instant, RFC 3339 (the simulator's default start)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: poolbot trace [--shape office] [--seed N] [--weeks N] [--start RFC3339] > jobs.csv\n\nWrites the jobs the simulator's arrival model makes for the pools linux-ci,\nwindows-ci (and gpu-nightly for office), for whatif, schedule suggest and sim --jobs.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	gen := trace.Shapes[*shape]
	if gen == nil {
		return fmt.Errorf("--shape %q: one of %s", *shape, strings.Join(shapes, ", "))
	}
	if *weeks < 1 || *weeks > 52 {
		return fmt.Errorf("--weeks %d: between 1 and 52", *weeks)
	}
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("--start %q is not an RFC 3339 instant", *start)
	}
	return trace.Write(stdout, gen(*seed, t0, time.Duration(*weeks)*7*24*time.Hour))
}
