package watch_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/cost"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/watch"
)

const (
	benchPools   = 500
	benchMinutes = 30
)

// adoCalls counts the Azure DevOps requests the simulator received.
func adoCalls(s *sim.Sim) int {
	n := 0
	for k, v := range s.Calls() {
		if strings.HasPrefix(k, "ado.") && k != "ado.options" && k != "ado.resourceareas" {
			n += v
		}
	}
	return n
}

func benchEnv(b *testing.B) *env {
	e := newEnv(b, sim.Options{Seed: 1})
	// Healthy pools: a standby agent each, few jobs at night.
	e.sim.AddPools(benchPools-3, sim.PoolSpec{Name: "pool", Max: 4, Standby: 1, SKU: "Standard_D2s_v5"})
	e.sim.Advance(15 * time.Minute) // standby agents up
	return e
}

// naiveCycle is the baseline: everything of every pool every cycle.
func naiveCycle(ctx context.Context, e *env) error {
	pools, err := e.az.List(ctx, pool.ListOptions{Nodes: true, Queue: true})
	if err != nil {
		return err
	}
	for _, p := range pools {
		if _, err := e.az.Logs(ctx, p.Name, 0); err != nil {
			return err
		}
	}
	return nil
}

type benchResult struct {
	callsPerPoolMin float64
	jobsPerPoolMin  float64 // of them, job history pages
	cpuPerCycle     time.Duration
	cpuMax          time.Duration
	cpuP50          time.Duration
}

func measure(b *testing.B, e *env, cycle func() error) benchResult {
	e.sim.ResetCalls()
	var cpus []time.Duration
	var total time.Duration
	for i := 0; i < benchMinutes; i++ {
		c0 := clock.ProcessCPU()
		if err := cycle(); err != nil {
			b.Fatal(err)
		}
		d := clock.ProcessCPU() - c0
		cpus = append(cpus, d)
		total += d
		e.sim.Advance(time.Minute)
	}
	sort.Slice(cpus, func(i, j int) bool { return cpus[i] < cpus[j] })
	return benchResult{
		callsPerPoolMin: float64(adoCalls(e.sim)) / float64(benchPools*benchMinutes),
		jobsPerPoolMin:  float64(e.sim.Calls()["ado.jobrequests"]) / float64(benchPools*benchMinutes),
		cpuPerCycle:     total / benchMinutes,
		cpuMax:          cpus[len(cpus)-1],
		cpuP50:          cpus[len(cpus)/2],
	}
}

// BenchmarkWatcher500Pools reports the watcher's Azure DevOps calls per
// pool per minute and CPU per cycle for 500 pools at a 60 s interval over
// 30 simulated minutes, against a naive poll of everything every cycle
// measured in the same run, and how long a new failure takes to reach Slack.
// CPU is the process's (user+system), so it includes the simulator serving
// the calls and SQLite: an upper bound of the watcher's own.
func BenchmarkWatcher500Pools(b *testing.B) {
	for i := 0; i < b.N; i++ {
		ne := benchEnv(b)
		naive := measure(b, ne, func() error { return naiveCycle(ne.ctx, ne) })

		e := benchEnv(b)
		tr := cost.NewTracker(cost.TrackerOptions{Service: e.az, Store: e.st, Clock: e.sim, Logger: e.log,
			Settings: cost.Settings{Currency: "USD"}, Prices: cost.NewPrices(e.stub.URL()+"/unused", nil, map[string]float64{"Standard_D2s_v5": 0.1, "Standard_D4s_v5": 0.2, "Standard_NC4as_T4_v3": 0.6}, "USD", e.sim)})
		w := e.watcher(func(o *watch.Options) { o.Cost = tr })
		// Warm-up cycle: first reads of every pool, log cursors, scale sets.
		c0 := clock.ProcessCPU()
		if err := w.Cycle(e.ctx); err != nil {
			b.Fatal(err)
		}
		warm := clock.ProcessCPU() - c0
		e.flush()
		e.sim.Advance(time.Minute)
		e.sim.SetFailure("gpu-nightly", sim.Failure{}) // only healthy pools in the measure
		smart := measure(b, e, func() error { return w.Cycle(e.ctx) })

		// A failure in a quiet pool: its VMs fail from now on and a new one
		// is started; the alert must be in Slack within one interval of
		// the first failed node.
		victim := "pool-0250"
		e.sim.SetFailure(victim, sim.Failure{Extension: true})
		if _, err := e.az.Update(e.ctx, pool.Pool{Name: victim}, pool.Settings{Standby: pool.Int(4)}); err != nil {
			b.Fatal(err)
		}
		var failedAt, postedAt time.Time
		for m := 0; m < 20 && postedAt.IsZero(); m++ {
			if failedAt.IsZero() {
				st, _ := e.sim.NodeStates(victim)
				for s, n := range st {
					if s.Failed() && n > 0 {
						failedAt = e.sim.Now()
					}
				}
			}
			e.minute(w)
			if ps := e.posts(victim); len(ps) > 0 {
				postedAt = ps[0].Time
			}
		}
		if failedAt.IsZero() || postedAt.IsZero() {
			b.Fatalf("failure at %v, alert at %v", failedAt, postedAt)
		}
		latency := postedAt.Sub(failedAt)

		b.ReportMetric(smart.callsPerPoolMin, "ado-calls/pool/min")
		b.ReportMetric(smart.jobsPerPoolMin, "job-history-calls/pool/min")
		b.ReportMetric(naive.callsPerPoolMin, "naive-ado-calls/pool/min")
		b.ReportMetric(smart.callsPerPoolMin/naive.callsPerPoolMin, "calls-ratio")
		b.ReportMetric(float64(smart.cpuPerCycle.Microseconds())/1000, "cpu-ms/cycle")
		b.ReportMetric(float64(naive.cpuPerCycle.Microseconds())/1000, "naive-cpu-ms/cycle")
		b.ReportMetric(float64(smart.cpuPerCycle)/float64(naive.cpuPerCycle), "cpu-ratio")
		b.ReportMetric(latency.Seconds(), "failure-to-slack-s")
		b.Logf("watcher: %.3f ADO calls/pool/min, CPU/cycle avg %s p50 %s max %s (warm-up cycle %s); naive: %.3f calls/pool/min, CPU/cycle avg %s; failure at %s reached Slack at %s (%s)",
			smart.callsPerPoolMin, smart.cpuPerCycle, smart.cpuP50, smart.cpuMax, warm, naive.callsPerPoolMin, naive.cpuPerCycle,
			failedAt.Format("15:04:05"), postedAt.Format("15:04:05"), latency)
	}
}
