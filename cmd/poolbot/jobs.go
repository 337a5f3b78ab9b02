package main

import (
	"fmt"
	"os"
	"time"

	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/trace"
)

// readTrace reads a job trace (CSV, see the README), refusing rows queued
// after now.
func readTrace(path string, now time.Time) ([]trace.Job, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--jobs: %w", err)
	}
	defer f.Close()
	jobs, err := trace.ReadBefore(f, now)
	if err != nil {
		return nil, fmt.Errorf("--jobs %s: %w", path, err)
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("--jobs %s: no jobs", path)
	}
	return jobs, nil
}

// replayTrace makes the simulator replay the trace at path instead of its
// built-in arrivals.
func replayTrace(s *sim.Sim, path string) error {
	jobs, err := readTrace(path, time.Now())
	if err != nil {
		return err
	}
	if err := s.Replay(jobs); err != nil {
		return fmt.Errorf("--jobs %s: %w", path, err)
	}
	return nil
}
