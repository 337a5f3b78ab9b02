package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/elastic"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

var _ clock.Clock = (*Sim)(nil)

func TestAfterWakesInOrder(t *testing.T) {
	s := New(Options{Pools: []PoolSpec{}})
	t0 := s.Now()
	b := s.After(2 * time.Minute)
	a := s.After(90 * time.Second)
	s.Advance(100 * time.Second)
	select {
	case got := <-a:
		if !got.Equal(t0.Add(90 * time.Second)) {
			t.Errorf("a woke at %v", got)
		}
	default:
		t.Fatal("a did not wake")
	}
	select {
	case <-b:
		t.Fatal("b woke early")
	default:
	}
	s.Advance(20 * time.Second)
	if got := <-b; !got.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("b woke at %v", got)
	}
}

// counts classifies a pool's nodes.
func counts(t *testing.T, s *Sim, name string) pool.Counts {
	t.Helper()
	st, err := s.NodeStates(name)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []pool.Node
	for state, n := range st {
		for i := 0; i < n; i++ {
			nodes = append(nodes, pool.Node{State: state})
		}
	}
	return pool.Count(nodes)
}

func TestBusinessDay(t *testing.T) {
	s := New(Options{Seed: 7})
	maxTotal, sawScaleOut := 0, false
	var nightTotal int
	// Monday 2026-01-05 from 01:00 to 24:00 Paris, in 5-minute steps.
	for m := 5; m <= 23*60; m += 5 {
		s.Advance(5 * time.Minute)
		c := counts(t, s, "linux-ci")
		if c.Total() > 10 {
			t.Fatalf("%v: %d nodes above max 10", s.Now(), c.Total())
		}
		maxTotal = max(maxTotal, c.Total())
		local := s.Now().In(paris)
		if local.Hour() >= 1 && local.Hour() < 6 && m > 20 && c.Idle+c.Starting < 2 {
			t.Errorf("%v: %+v, standby 2 not kept", local, c)
		}
		if local.Hour() >= 10 && local.Hour() < 17 && c.Total() > 4 {
			sawScaleOut = true
		}
		if local.Hour() == 23 && local.Minute() == 30 {
			nightTotal = c.Total()
		}
	}
	if !sawScaleOut {
		t.Errorf("linux-ci never scaled out during business hours (max %d nodes)", maxTotal)
	}
	if nightTotal > 4 {
		t.Errorf("at 23:30 linux-ci still has %d nodes: idle surplus not removed after ttl", nightTotal)
	}
	st, _ := s.Stats("linux-ci")
	t.Logf("Monday linux-ci: %d jobs, p50 wait %v, p95 %v, max nodes %d, idle %.1f h, busy %.1f h, cost $%.2f",
		st.Jobs, st.WaitPercentile(50), st.WaitPercentile(95), maxTotal, st.IdleVMHours, st.BusyVMHours, st.Cost)
	if st.Jobs < 100 {
		t.Errorf("only %d jobs ran on a weekday", st.Jobs)
	}
	if p50 := st.WaitPercentile(50); p50 > 2*time.Minute {
		t.Errorf("median wait %v", p50)
	}
	if st.IdleVMHours <= 0 || st.BusyVMHours <= 0 || st.Cost <= 0 {
		t.Errorf("stats %+v", st)
	}
	// Busy agents are never deleted by the service: every job that got an
	// agent finished, none failed.
	s.mu.Lock()
	for _, j := range s.byName["linux-ci"].done {
		if j.result != "succeeded" {
			t.Errorf("job %d ended %s", j.id, j.result)
		}
	}
	s.mu.Unlock()

	// The weekend is light.
	s.Advance(4*24*time.Hour + time.Hour) // to Saturday 01:00 Paris
	before, _ := s.Stats("linux-ci")
	s.Advance(24 * time.Hour)
	after, _ := s.Stats("linux-ci")
	if sat := after.Jobs - before.Jobs; sat*5 > st.Jobs {
		t.Errorf("%d jobs on Saturday against %d on Monday", sat, st.Jobs)
	}
}

func TestStandbyZeroNeverKillsBusy(t *testing.T) {
	s := New(Options{Seed: 3, Start: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)})
	s.Advance(time.Hour)
	busy := counts(t, s, "linux-ci").Busy
	if busy == 0 {
		t.Fatal("no busy agents at 11:00 Paris")
	}
	s.mu.Lock()
	p := s.byName["linux-ci"]
	p.standby, p.ttl = 0, 0
	s.mu.Unlock()
	s.Advance(5 * time.Minute)
	s.mu.Lock()
	for _, j := range p.done {
		if j.result != "succeeded" {
			t.Errorf("job %d ended %s after standby 0", j.id, j.result)
		}
	}
	s.mu.Unlock()
	if c := counts(t, s, "linux-ci"); c.Busy == 0 {
		t.Errorf("busy agents gone: %+v", c)
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name    string
		failure Failure
		state   pool.NodeState
		log     []string
		noVMs   bool
		notSoon time.Duration // the failure must not show before this
	}{
		{"extension", Failure{Extension: true}, pool.NodeFailedVMPendingDelete, []string{"extension", "failed"}, false, 0},
		{"never online", Failure{NeverOnline: true}, pool.NodeFailedToStartPendingDelete, []string{"did not come online within 10 minutes"}, false, 13 * time.Minute},
		{"quota", Failure{Quota: true}, "", []string{"Failed to increase capacity.", "quota"}, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{Pools: []PoolSpec{{Name: "p", Max: 4, Standby: 1, JobsPerHour: -1, Failure: tc.failure}}})
			el, _ := e.adoClients("pat")
			var firstFailed time.Duration
			for m := time.Minute; m <= 40*time.Minute; m += time.Minute {
				e.sim.Advance(time.Minute)
				nodes, err := el.GetElasticNodes(ctx(t), elastic.GetElasticNodesArgs{PoolId: ptr(10)})
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range *nodes {
					if tc.state != "" && pool.NodeState(*n.State) == tc.state && firstFailed == 0 {
						firstFailed = m
					}
					if *n.State == "idle" {
						t.Fatalf("%v: a node went idle despite the failure", m)
					}
				}
				if tc.noVMs && len(*nodes) > 0 {
					t.Fatalf("%v: quota failure created %d nodes", m, len(*nodes))
				}
			}
			if tc.state != "" && firstFailed == 0 {
				t.Fatalf("no node reached %s", tc.state)
			}
			if firstFailed != 0 && firstFailed < tc.notSoon {
				t.Errorf("failed after %v, want not before %v", firstFailed, tc.notSoon)
			}
			logs, err := el.GetElasticPoolLogs(ctx(t), elastic.GetElasticPoolLogsArgs{PoolId: ptr(10)})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, l := range *logs {
				ok := *l.Level == "error"
				for _, w := range tc.log {
					ok = ok && strings.Contains(*l.Message, w)
				}
				found = found || ok
			}
			if !found {
				t.Errorf("no error log with %q in %d logs", tc.log, len(*logs))
			}
			p, _ := el.GetElasticPool(ctx(t), elastic.GetElasticPoolArgs{PoolId: ptr(10)})
			if *p.State != "unhealthy" {
				t.Errorf("pool state %s, want unhealthy", *p.State)
			}
			// Switched off, the pool heals.
			if err := e.sim.SetFailure("p", Failure{}); err != nil {
				t.Fatal(err)
			}
			e.sim.Advance(30 * time.Minute)
			if c := counts(t, e.sim, "p"); c.Idle != 1 || c.Failed != 0 {
				t.Errorf("after the failure was switched off: %+v", c)
			}
			p, _ = el.GetElasticPool(ctx(t), elastic.GetElasticPoolArgs{PoolId: ptr(10)})
			if *p.State != "online" {
				t.Errorf("pool state %s after healing", *p.State)
			}
		})
	}
}

func TestGPUNightlyFailsByDefault(t *testing.T) {
	s := New(Options{Seed: 1})
	failed, ext, quota := false, false, false
	for i := 0; i < 24 && !(failed && ext && quota); i++ {
		s.Advance(5 * time.Minute)
		failed = failed || counts(t, s, "gpu-nightly").Failed > 0
		s.mu.Lock()
		for _, l := range s.byName["gpu-nightly"].logs {
			ext = ext || l.level == "error" && strings.Contains(l.message, "extension")
			quota = quota || l.level == "error" && strings.HasPrefix(l.message, "Failed to increase capacity.")
		}
		s.mu.Unlock()
	}
	if !failed || !ext || !quota {
		t.Errorf("within 2 hours: failed nodes %t, extension error %t, quota error %t", failed, ext, quota)
	}
	if c := counts(t, s, "linux-ci"); c.Failed != 0 {
		t.Errorf("linux-ci has failed nodes: %+v", c)
	}
}

func TestRecycleReimagesAfterUse(t *testing.T) {
	s := New(Options{Seed: 2, Start: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC),
		Pools: []PoolSpec{{Name: "r", Max: 4, Standby: 1, JobsPerHour: 6}}})
	s.mu.Lock()
	s.byName["r"].recycle = true
	s.mu.Unlock()
	reimaging := false
	for i := 0; i < 120 && !reimaging; i++ {
		s.Advance(time.Minute)
		st, _ := s.NodeStates("r")
		reimaging = st[pool.NodePendingReimage]+st[pool.NodeReimagingCompute] > 0
	}
	if !reimaging {
		t.Error("no node was reimaged after a job with recycle on")
	}
}

// AgentImages names every agent of the pool, each with its VM's image;
// an unknown pool is an error.
func TestAgentImages(t *testing.T) {
	s := New(Options{Seed: 1})
	s.Advance(30 * time.Minute) // the standby agents are made
	images, err := s.AgentImages("linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.NodeStates("linux-ci")
	nodes := 0
	for _, n := range st {
		nodes += n
	}
	if nodes == 0 || len(images) != nodes {
		t.Fatalf("%d agents with images, %d nodes", len(images), nodes)
	}
	want := galleryImageID("ubuntu22") + "/versions/1.1.0"
	for agent, id := range images {
		if id != want {
			t.Errorf("agent %s on %q, want %q", agent, id, want)
		}
	}
	if _, err := s.AgentImages("mac-ci"); err == nil {
		t.Error("no error for an unknown pool")
	}
}
