package azure

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

// BenchmarkList500 lists 500 pools with their nodes from the simulator over
// loopback HTTP, the simulator's own work included, at the default
// concurrency and, as the baseline in the same run, one call at a time. It
// reports Azure DevOps calls per listing and, on the baseline, how many times
// slower it is.
//
//	go test -run '^$' -bench 'List500$' -benchtime 20x ./azure
func BenchmarkList500(b *testing.B) { benchList500(b, sim.Faults{}) }

// BenchmarkList500Latency is the same with 2 ms added to every answer, as a
// network between poolbot and Azure DevOps would.
//
//	go test -run '^$' -bench List500Latency -benchtime 3x ./azure
func BenchmarkList500Latency(b *testing.B) {
	benchList500(b, sim.Faults{Latency: 2 * time.Millisecond})
}

func benchList500(b *testing.B, faults sim.Faults) {
	s := sim.New(sim.Options{Start: simStart, Seed: 1})
	s.AddPools(497, sim.PoolSpec{Name: "bench", OS: pool.Linux, Max: 10, Standby: 2, SKU: "Standard_D2s_v5"})
	s.Advance(time.Hour)
	s.SetFaults(faults)
	srv := httptest.NewServer(s)
	defer srv.Close()

	var concurrent time.Duration
	for _, conc := range []int{8, 1} {
		name := "concurrency=8"
		if conc == 1 {
			name = "baseline-concurrency=1"
		}
		b.Run(name, func(b *testing.B) {
			c, err := New(context.Background(), Options{
				OrganizationURL: srv.URL + "/contoso", PAT: "bench", ResourceManagerURL: srv.URL,
				ARMCredential: StaticCredential("t"), Concurrency: conc,
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := c.List(ctx, pool.ListOptions{}); err != nil { // route discovery and the names, once
				b.Fatal(err)
			}
			s.ResetCalls()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ps, err := c.List(ctx, pool.ListOptions{Nodes: true})
				if err != nil {
					b.Fatal(err)
				}
				if len(ps) != 500 {
					b.Fatalf("%d pools", len(ps))
				}
			}
			b.StopTimer()
			calls, n := s.Calls(), float64(b.N)
			perOp := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(adoCalls(calls))/n, "calls/op")
			b.ReportMetric(float64(calls["ado.elasticpools.list"])/n, "list-calls/op")
			b.ReportMetric(float64(calls["ado.nodes.list"])/n, "node-calls/op")
			b.ReportMetric(float64(perOp.Microseconds())/1000, "ms/list")
			if conc == 8 {
				concurrent = perOp
			} else if concurrent > 0 {
				b.ReportMetric(float64(perOp)/float64(concurrent), "x-baseline/concurrent")
			}
		})
	}
}
