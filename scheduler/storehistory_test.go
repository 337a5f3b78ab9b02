package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/store/memstore"
)

// StoreHistory reads the watcher's stored jobs of one pool as a trace: the
// history begins at the first job stored (or since, if later), a job never
// assigned counts with no duration, and a pool with none has no history.
func TestStoreHistory(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(nil)
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	jobs := []pool.Job{
		{Pool: "linux-ci", RequestID: 1, Queued: t0, Assigned: t0.Add(time.Minute), Finished: t0.Add(11 * time.Minute), Result: "succeeded", Definition: "Build"},
		{Pool: "linux-ci", RequestID: 2, Queued: t0.Add(time.Hour), Finished: t0.Add(time.Hour + 2*time.Minute), Result: "canceled"},
		{Pool: "linux-ci", RequestID: 3, Queued: t0.Add(2 * time.Hour), Assigned: t0.Add(2 * time.Hour), Started: t0.Add(2*time.Hour + 30*time.Second), Finished: t0.Add(2*time.Hour + 5*time.Minute), Result: "failed"},
	}
	if err := st.AddJobs(ctx, "linux-ci", jobs, "c"); err != nil {
		t.Fatal(err)
	}
	if err := st.AddJobs(ctx, "windows-ci", []pool.Job{{Pool: "windows-ci", RequestID: 9, Queued: t0.Add(-time.Hour), Assigned: t0.Add(-time.Hour), Finished: t0, Result: "succeeded"}}, "w"); err != nil {
		t.Fatal(err)
	}
	h := StoreHistory(st)

	tests := []struct {
		name     string
		pool     string
		since    time.Time
		from     time.Time
		queued   []time.Time
		duration []time.Duration
	}{
		{"all of it", "linux-ci", t0.Add(-24 * time.Hour), t0,
			[]time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour)}, []time.Duration{10 * time.Minute, 0, 4*time.Minute + 30*time.Second}},
		{"since cuts", "linux-ci", t0.Add(30 * time.Minute), t0.Add(30 * time.Minute),
			[]time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)}, []time.Duration{0, 4*time.Minute + 30*time.Second}},
		{"other pool", "windows-ci", t0.Add(-24 * time.Hour), t0.Add(-time.Hour), []time.Time{t0.Add(-time.Hour)}, []time.Duration{time.Hour}},
		{"no history", "gpu-nightly", t0.Add(-24 * time.Hour), time.Time{}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, from, err := h.Jobs(ctx, tc.pool, tc.since)
			if err != nil {
				t.Fatal(err)
			}
			if !from.Equal(tc.from) {
				t.Errorf("from %v, want %v", from, tc.from)
			}
			if len(got) != len(tc.queued) {
				t.Fatalf("%d jobs, want %d: %+v", len(got), len(tc.queued), got)
			}
			for i, j := range got {
				if j.Pool != tc.pool || !j.Queued.Equal(tc.queued[i]) || j.Duration != tc.duration[i] {
					t.Errorf("job %d: %+v, want queued %v duration %v", i, j, tc.queued[i], tc.duration[i])
				}
			}
		})
	}
}
