// Package trace is a pool's demand as a list of jobs: when each was queued
// and how long it ran. A trace is read from and written to CSV (the format
// `poolbot history export` writes and `poolbot sim --jobs` replays), and
// generated for tests and benchmarks from arrival models: the simulator's
// own office weeks and other shapes of demand.
package trace

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Job is one job a pool ran.
type Job struct {
	Pool       string
	Queued     time.Time
	Duration   time.Duration // how long it ran, whole seconds
	Result     string        // as Azure DevOps names it: succeeded, failed, canceled…
	Definition string        // the pipeline's name; may be empty
}

// Header is the CSV header, in order. Read accepts the columns in any order
// and ignores others.
var Header = []string{"pool", "queued", "duration", "result", "definition"}

// ParseError is what is wrong with a trace, and where.
type ParseError struct {
	Line   int    // 1-based, the header is line 1
	Column string // the column's name, "" for the whole row
	Err    error
}

func (e *ParseError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d, column %s: %v", e.Line, e.Column, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Errors a ParseError wraps.
var (
	ErrUnsorted = errors.New("rows are not sorted by queued")
	ErrFuture   = errors.New("queued after the present")
)

// maxDuration bounds a job's duration: Azure DevOps cancels a job after at
// most 6 hours on hosted agents and 72 hours on self-hosted ones.
const maxDuration = 72 * time.Hour

// Read reads a CSV trace; rows must be sorted by queued. It is ReadBefore
// with no present.
func Read(r io.Reader) ([]Job, error) { return ReadBefore(r, time.Time{}) }

// ReadBefore reads a CSV trace and, when now is not zero, refuses a row
// queued after now (an export with a clock or time-zone mistake). Errors are
// *ParseError naming the line and column; nothing is returned with one.
func ReadBefore(r io.Reader, now time.Time) ([]Job, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ParseError{Line: 1, Err: fmt.Errorf("empty: want the header %s", strings.Join(Header, ","))}
	}
	if err != nil {
		return nil, csvError(err)
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	for _, h := range Header {
		if _, ok := col[h]; !ok {
			return nil, &ParseError{Line: 1, Column: h, Err: fmt.Errorf("missing from the header (want %s)", strings.Join(Header, ","))}
		}
	}
	var out []Job
	var prev time.Time
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		field := func(name string) (string, error) {
			i := col[name]
			if i >= len(rec) {
				return "", &ParseError{Line: line, Column: name, Err: fmt.Errorf("missing: the row has %d columns, the header %d", len(rec), len(head))}
			}
			return strings.TrimSpace(rec[i]), nil
		}
		var j Job
		var v string
		if v, err = field("pool"); err != nil {
			return nil, err
		}
		if v == "" {
			return nil, &ParseError{Line: line, Column: "pool", Err: errors.New("empty")}
		}
		j.Pool = v
		if v, err = field("queued"); err != nil {
			return nil, err
		}
		if j.Queued, err = time.Parse(time.RFC3339, v); err != nil {
			return nil, &ParseError{Line: line, Column: "queued", Err: fmt.Errorf("%q is not an RFC 3339 instant with an offset, such as 2026-03-09T08:15:00+01:00", v)}
		}
		if j.Queued.Before(prev) {
			return nil, &ParseError{Line: line, Column: "queued", Err: fmt.Errorf("%w: %s comes after %s", ErrUnsorted, v, prev.Format(time.RFC3339))}
		}
		if !now.IsZero() && j.Queued.After(now) {
			return nil, &ParseError{Line: line, Column: "queued", Err: fmt.Errorf("%w: %s is after %s", ErrFuture, v, now.Format(time.RFC3339))}
		}
		prev = j.Queued
		if v, err = field("duration"); err != nil {
			return nil, err
		}
		sec, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || sec < 0 || time.Duration(sec)*time.Second > maxDuration {
			return nil, &ParseError{Line: line, Column: "duration", Err: fmt.Errorf("%q is not whole seconds between 0 and %d", v, int64(maxDuration/time.Second))}
		}
		j.Duration = time.Duration(sec) * time.Second
		if j.Result, err = field("result"); err != nil {
			return nil, err
		}
		if j.Definition, err = field("definition"); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Line, Err: pe.Err}
	}
	return fmt.Errorf("read trace: %w", err)
}

// rfc3339Offset is RFC 3339 with a numeric offset, +00:00 rather than Z.
const rfc3339Offset = "2006-01-02T15:04:05-07:00"

// Write writes jobs as CSV with the header, queued in the instant's own
// offset, duration rounded down to whole seconds.
func Write(w io.Writer, jobs []Job) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	rec := make([]string, len(Header))
	for _, j := range jobs {
		rec[0] = j.Pool
		rec[1] = j.Queued.Format(rfc3339Offset)
		rec[2] = strconv.FormatInt(int64(j.Duration/time.Second), 10)
		rec[3] = j.Result
		rec[4] = j.Definition
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Pools lists the pools a trace names, in order of first appearance.
func Pools(jobs []Job) []string {
	seen := map[string]bool{}
	var out []string
	for _, j := range jobs {
		if !seen[j.Pool] {
			seen[j.Pool] = true
			out = append(out, j.Pool)
		}
	}
	return out
}

// Of returns the jobs of one pool.
func Of(jobs []Job, pool string) []Job {
	var out []Job
	for _, j := range jobs {
		if j.Pool == pool {
			out = append(out, j)
		}
	}
	return out
}
