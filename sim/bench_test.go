package sim

import (
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/elastic"
	"golang.org/x/sync/errgroup"
)

// benchList lists every pool and, 8 at a time, each pool's nodes through the
// SDK, as the pool layer's List does.
func benchList(b *testing.B, pools int) {
	o := Options{Pools: []PoolSpec{}}
	e := newEnv(b, o)
	e.sim.AddPools(pools, PoolSpec{Name: "bench", Max: 10, Standby: 2, JobsPerHour: 24})
	e.sim.Advance(10 * time.Hour) // 11:00 Paris on a Monday: nodes in every state
	el, _ := e.adoClients("pat")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ps, err := el.GetElasticPools(ctx(b), elastic.GetElasticPoolsArgs{})
		if err != nil {
			b.Fatal(err)
		}
		var g errgroup.Group
		g.SetLimit(8)
		for _, p := range *ps {
			id := *p.PoolId
			g.Go(func() error {
				_, err := el.GetElasticNodes(ctx(b), elastic.GetElasticNodesArgs{PoolId: &id})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.sim.Calls()["ado.nodes.list"]+e.sim.Calls()["ado.elasticpools.list"])/float64(b.N), "calls/op")
}

func BenchmarkList3Pools(b *testing.B)   { benchList(b, 3) }
func BenchmarkList500Pools(b *testing.B) { benchList(b, 500) }

// BenchmarkAdvanceDay500Pools is the model's own cost: one simulated day of 500 pools.
func BenchmarkAdvanceDay500Pools(b *testing.B) {
	for i := 0; i < b.N; i++ {
		s := New(Options{Pools: []PoolSpec{}})
		s.AddPools(500, PoolSpec{Name: "bench", Max: 10, Standby: 2})
		s.Advance(24 * time.Hour)
	}
}
