package main

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// FuzzWriteJobs: a job written as a trace row reads back field for field
// with encoding/csv, whatever its pool, result and pipeline name hold
// (commas, quotes, newlines), with queued in RFC 3339 and the seconds it ran.
func FuzzWriteJobs(f *testing.F) {
	f.Add("linux-ci", "succeeded", "app, \"nightly\"", int64(1767600000), int64(600))
	f.Add("", "", "line\nbreak", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, poolName, result, def string, queuedUnix, ranSecs int64) {
		if strings.ContainsRune(poolName+result+def, '\r') || queuedUnix < 0 || queuedUnix > 1<<33 || ranSecs < 0 || ranSecs > 1<<31 {
			return // csv reads \r\n in a field as \n; times beyond year 2242 are not jobs
		}
		q := time.Unix(queuedUnix, 0).UTC()
		j := pool.Job{Pool: poolName, Queued: q, Assigned: q, Finished: q.Add(time.Duration(ranSecs) * time.Second), Result: result, Definition: def}
		var buf bytes.Buffer
		if err := writeJobs(&buf, []pool.Job{j}, time.FixedZone("", 3600)); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil || len(rows) != 2 {
			t.Fatalf("read back: %v, %d rows", err, len(rows))
		}
		r := rows[1]
		got, err := time.Parse(time.RFC3339, r[1])
		if r[0] != poolName || r[3] != result || r[4] != def || err != nil || !got.Equal(q) || r[2] != strconv.FormatInt(ranSecs, 10) {
			t.Fatalf("row %q for %+v", r, j)
		}
	})
}
