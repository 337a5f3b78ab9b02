package azure

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

// BenchmarkJobHistory reads a pool's job history of 10 000 finished jobs
// from the simulator over loopback HTTP through the SDK's core client: the
// whole history (the first read, or an export), the 1 000 newest, and the
// 100 newest after a watermark (what the watcher's read costs every few
// minutes), each against the baseline of reading one page of 200 in the
// same rounds. It reports calls per read and the ratio.
//
//	go test -run '^$' -bench JobHistory -benchtime 20x ./azure
func BenchmarkJobHistory(b *testing.B) {
	const total = 10000
	s := sim.New(sim.Options{Start: simStart, Seed: 1, Pools: []sim.PoolSpec{{Name: "linux-ci", Max: 1, JobsPerHour: 0.001}}})
	var jobs []sim.HistoryJob
	first := simStart.Add(-time.Duration(total) * 4 * time.Minute)
	for i := 0; i < total; i++ {
		q := first.Add(time.Duration(i) * 4 * time.Minute)
		jobs = append(jobs, sim.HistoryJob{Queued: q, Assigned: q.Add(time.Minute), Finished: q.Add(3 * time.Minute),
			Definition: fmt.Sprintf("app-%d", i%20), Demands: []string{"Agent.OS -equals Linux"}})
	}
	if err := s.AddJobHistory("linux-ci", jobs); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := New(context.Background(), Options{OrganizationURL: srv.URL + "/contoso", PAT: "bench", ResourceManagerURL: srv.URL,
		ARMCredential: StaticCredential("t")})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.JobHistory(ctx, "linux-ci", pool.JobQuery{MaxCalls: 1}); err != nil { // route discovery and names
		b.Fatal(err)
	}
	newest := func(n int) time.Time { return first.Add(time.Duration(total-n) * 4 * time.Minute) }
	cases := []struct {
		name string
		q    pool.JobQuery
		want int
	}{
		{"newest-100-after-watermark", pool.JobQuery{Since: newest(100)}, 100},
		{"newest-1000", pool.JobQuery{Since: newest(1000)}, 1000},
		{"whole-10000", pool.JobQuery{}, total},
	}
	read := func(b *testing.B, q pool.JobQuery, want int) time.Duration {
		t0 := time.Now()
		page, err := c.JobHistory(ctx, "linux-ci", q)
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Jobs) != want {
			b.Fatalf("%d jobs, want %d", len(page.Jobs), want)
		}
		return time.Since(t0)
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			// Each round reads one page (the baseline) and then the case,
			// so that a busy machine weighs on both alike.
			var base, took time.Duration
			calls := 0
			for i := 0; i < b.N; i++ {
				base += read(b, pool.JobQuery{MaxCalls: 1}, 200)
				s.ResetCalls()
				took += read(b, tc.q, tc.want)
				calls += s.Calls()["ado.jobrequests"]
			}
			n := float64(b.N)
			b.ReportMetric(float64(calls)/n, "calls/op")
			b.ReportMetric(float64(took.Microseconds())/1000/n, "ms/read")
			b.ReportMetric(float64(base.Microseconds())/1000/n, "ms/one-page")
			b.ReportMetric(float64(took)/float64(base), "x-one-page")
		})
	}
}
