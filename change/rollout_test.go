package change_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

const newImage = "/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup +
	"/providers/Microsoft.Compute/galleries/" + sim.Gallery + "/images/ubuntu22/versions/1.2.0"

var plan = change.RolloutPlan{Canary: 1, Batch: 2, OnlineWithin: 15 * time.Minute, Watch: 30 * time.Minute, MinJobs: 2}

// runRollout steps the rollout once a simulated minute until it ends or
// limit passes, noting the agents that ran on the new image (by name). The
// env is the simulator's.
func runRollout(t *testing.T, e *env, name string, img pool.Image, limit time.Duration) (change.Rollout, map[string]bool) {
	t.Helper()
	ctx := context.Background()
	on := map[string]bool{}
	for end := e.clk.Now().Add(limit); e.clk.Now().Before(end); {
		e.clk.Advance(time.Minute)
		if err := e.ch.StepRollouts(ctx); err != nil {
			t.Fatal(err)
		}
		// The agents' images straight from the simulator: a read through
		// Azure every simulated minute cost more than the rollout's steps.
		images, err := e.sim.AgentImages(name)
		if err != nil {
			t.Fatal(err)
		}
		for agent, id := range images {
			if im, err := pool.ParseImage(id); err == nil && im == img {
				on[agent] = true
			}
		}
		r, err := e.ch.Rollout(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Active() {
			return r, on
		}
	}
	r, _ := e.ch.Rollout(ctx, name)
	t.Fatalf("rollout still %s after %s: %+v", r.Phase, limit, r)
	return r, on
}

// jobsSince reads the pool's finished jobs queued since t.
func jobsSince(t *testing.T, e *env, name string, since time.Time) []pool.Job {
	t.Helper()
	page, err := e.svc.JobHistory(context.Background(), name, pool.JobQuery{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	return page.Jobs
}

// A good image reaches every agent, a canary first, with no busy agent cut
// (the simulator fails a job whose agent is reimaged under it) and no job failed.
func TestRolloutOfAGoodImageReachesEveryAgent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.clk.Advance(time.Hour)
	img, _ := pool.ParseImage(newImage)
	start := e.clk.Now()
	r, err := e.ch.StartRollout(ctx, alice, "image linux-ci 1.2.0", "linux-ci", img, plan, "C1", "<@U1>")
	if err != nil {
		t.Fatal(err)
	}
	if r.Phase != change.PhaseCanary || r.Image != img || r.Before.Short() != "ubuntu22/versions/1.1.0" {
		t.Fatalf("started %+v", r)
	}
	if _, err := e.ch.StartRollout(ctx, alice, "image linux-ci 1.2.0", "linux-ci", img, plan, "C1", "<@U1>"); pool.KindOf(err) != pool.KindConflict {
		t.Errorf("a second rollout: %v; want a conflict", err)
	}
	r, _ = runRollout(t, e, "linux-ci", img, 8*time.Hour)
	if r.Phase != change.PhaseDone {
		t.Fatalf("rollout ended %s: %s", r.Phase, r.Evidence)
	}
	t.Logf("rolled out in %s, %d agents moved, canary %v", r.Ended.Sub(start), len(r.Moved), r.Canary)
	p, err := e.svc.Get(ctx, "linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	if p.ScaleSet.Image != img {
		t.Errorf("model %v; want %v", p.ScaleSet.Image, img)
	}
	for _, n := range p.Nodes {
		if n.State.Class() != pool.ClassGoing && n.Image != img {
			t.Errorf("node %s (%s) still on %v", n.Name, n.State, n.Image)
		}
	}
	for _, j := range jobsSince(t, e, "linux-ci", start.Add(-time.Hour)) {
		if j.Result == "failed" {
			t.Errorf("job %d on %s failed: a busy agent was cut", j.RequestID, j.Agent)
		}
	}
	ms := outboxOf(t, e.store, r.MessageKey)
	if len(ms) < 3 || ms[0].Op != "post" || !strings.Contains(ms[len(ms)-1].Text, "done in") {
		t.Errorf("messages %+v; want one post updated to done", ms)
	}
	steps := map[string]bool{}
	for _, a := range auditOf(t, e.store, "linux-ci") {
		steps[strings.Fields(a.After)[0]] = true
	}
	for _, s := range []string{"set", "reimage", "canary", "rollout"} {
		if !steps[s] {
			t.Errorf("no audit row of %q in %v", s, steps)
		}
	}
}

// A bad image is rolled back by itself: the previous image on the model,
// its agents reimaged back, one alert with the evidence, and no job run on
// it but on the agents the rollout watched.
func TestRolloutOfABadImageRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault sim.ImageFault
		why   string
	}{
		{"jobs fail", sim.ImageFault{FailJobs: true}, "jobs on it failed"},
		{"never online", sim.ImageFault{NeverOnline: true}, "did not come online"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			e.clk.Advance(time.Hour)
			e.sim.MarkImageVersion("ubuntu22", "1.2.0", tc.fault)
			img, _ := pool.ParseImage(newImage)
			start := e.clk.Now()
			r, err := e.ch.StartRollout(ctx, alice, "image linux-ci 1.2.0", "linux-ci", img, plan, "C1", "<@U1>")
			if err != nil {
				t.Fatal(err)
			}
			r, on := runRollout(t, e, "linux-ci", img, 4*time.Hour)
			if r.Phase != change.PhaseRolledBack || !strings.Contains(r.Evidence, tc.why) {
				t.Fatalf("rollout ended %s: %q; want rolled back because %s", r.Phase, r.Evidence, tc.why)
			}
			p, _ := e.svc.Get(ctx, "linux-ci")
			if p.ScaleSet.Image.Short() != "ubuntu22/versions/1.1.0" {
				t.Errorf("model %v after the rollback", p.ScaleSet.Image)
			}
			for _, n := range p.Nodes {
				if n.Image == img && n.State.Class() != pool.ClassGoing && !n.State.Failed() {
					t.Errorf("node %s (%s) still on the bad image", n.Name, n.State)
				}
			}
			failed := 0
			for _, j := range jobsSince(t, e, "linux-ci", start.Add(-time.Hour)) {
				if j.Result == "failed" {
					failed++
					if !on[j.Agent] {
						t.Errorf("job %d failed on %s, which the rollout did not move", j.RequestID, j.Agent)
					}
				}
			}
			if len(on) > plan.Canary {
				t.Errorf("%d agents ran the bad image (%v); want the canary only", len(on), on)
			}
			t.Logf("rolled back after %s: %d agents on it, %d jobs failed; evidence: %s", r.Ended.Sub(start), len(on), failed, r.Evidence)
			var alerts int
			for _, m := range outboxOf(t, e.store, r.MessageKey+"/alert") {
				if strings.Contains(m.Text, "rolled back to") && strings.Contains(m.Text, tc.why) {
					alerts++
				}
			}
			if alerts != 1 {
				t.Errorf("%d alerts; want one saying why", alerts)
			}
		})
	}
}

// Bad input changes nothing: a canary larger than the pool, an image the
// region does not have.
func TestRolloutRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	img, _ := pool.ParseImage(newImage)
	big := plan
	big.Canary = 11
	if _, err := e.ch.StartRollout(ctx, alice, "image linux-ci 1.2.0 canary=11", "linux-ci", img, big, "C1", "<@U1>"); pool.KindOf(err) != pool.KindInvalid || !strings.Contains(err.Error(), "max of 10") {
		t.Errorf("canary 11: %v", err)
	}
	missing, _ := pool.ParseImage(strings.Replace(newImage, "1.2.0", "9.9.9", 1))
	if _, err := e.ch.StartRollout(ctx, alice, "image linux-ci 9.9.9", "linux-ci", missing, plan, "C1", "<@U1>"); err == nil || !strings.Contains(err.Error(), "region") {
		t.Errorf("an image not in the region: %v", err)
	}
	if _, err := e.ch.Rollout(ctx, "linux-ci"); err == nil {
		t.Error("a refused rollout was recorded")
	}
	p, _ := e.svc.Get(ctx, "linux-ci")
	if p.ScaleSet.Image.Short() != "ubuntu22/versions/1.1.0" {
		t.Errorf("model %v after refused rollouts", p.ScaleSet.Image)
	}
}

// A rollout whose leader dies goes on under the next one, from the store,
// and finishes once: one "done" row in the audit, every agent moved.
func TestRolloutSurvivesALeaderChange(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.clk.Advance(time.Hour)
	img, _ := pool.ParseImage(newImage)
	first := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-a"))
	if _, err := first.StartRollout(ctx, alice, "image linux-ci 1.2.0 canary=1", "linux-ci", img, plan, "C1", "<@U1>"); err != nil {
		t.Fatal(err)
	}
	for range 10 { // the canary is moved and watched; then pod-a is gone
		e.clk.Advance(time.Minute)
		if err := first.StepRollouts(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := first.Rollout(ctx, "linux-ci"); r.Phase != change.PhaseWatch {
		t.Fatalf("before the leader change: %s; want the canary watched", r.Phase)
	}
	second := change.New(e.svc, e.store, e.clk, nil, change.WithReplica("pod-b"))
	e.clk.Advance(2 * change.DefaultLeaseTTL) // pod-a's leases lapse
	e.ch = second
	r, _ := runRollout(t, e, "linux-ci", img, 8*time.Hour)
	if r.Phase != change.PhaseDone {
		t.Fatalf("after the leader change: %s (%s)", r.Phase, r.Evidence)
	}
	done := 0
	for _, a := range auditOf(t, e.store, "linux-ci") {
		if strings.HasPrefix(a.After, "rollout of ") && strings.HasSuffix(a.After, " done") {
			done++
		}
	}
	if done != 1 {
		t.Errorf("%d done rows; want the rollout finished once", done)
	}
	if err := first.StepRollouts(ctx); err != nil {
		t.Fatal(err)
	}
	if r2, _ := first.Rollout(ctx, "linux-ci"); r2.Phase != change.PhaseDone || !r2.Ended.Equal(r.Ended) {
		t.Errorf("the old leader stepping again changed the finished rollout: %+v", r2)
	}
}

// lostReimage drops its first reimage call, as a process killed between
// recording the canary and asking Azure would.
type lostReimage struct {
	pool.Service
	lost bool
}

func (l *lostReimage) ReimageNodes(ctx context.Context, name string, ids []int) error {
	if !l.lost {
		l.lost = true
		return errKilled
	}
	return l.Service.ReimageNodes(ctx, name, ids)
}

// A canary recorded but never reimaged (the call was cut) is reimaged
// again, and the rollout finishes.
func TestRolloutAsksAgainForALostCanaryReimage(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.clk.Advance(time.Hour)
	img, _ := pool.ParseImage(newImage)
	e.ch = change.New(&lostReimage{Service: e.svc}, e.store, e.clk, nil)
	if _, err := e.ch.StartRollout(ctx, alice, "image linux-ci 1.2.0 canary=1", "linux-ci", img, plan, "C1", "<@U1>"); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	if err := e.ch.StepRollouts(ctx); err == nil {
		t.Fatal("the cut reimage was not reported")
	}
	r, _ := runRollout(t, e, "linux-ci", img, 8*time.Hour)
	if r.Phase != change.PhaseDone {
		t.Fatalf("rollout %s (%s)", r.Phase, r.Evidence)
	}
	again := false
	for _, a := range auditOf(t, e.store, "linux-ci") {
		again = again || strings.HasSuffix(a.After, " again") && strings.HasPrefix(a.After, "reimage canary nodes")
	}
	if !again {
		t.Error("no audit row of the canary reimaged again")
	}
}

// With no idle agent to reimage, the canary is the agents the pool makes
// on the new image as it grows: none is reimaged for it, and the rollout
// goes on from them to the end.
func TestRolloutCanaryFromNewAgents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	// Standby 0: by 23:00 the evening's idle agents are gone, and the
	// pool has none until the morning's jobs.
	if err := e.sim.Apply("linux-ci", pool.Settings{Standby: pool.Int(0)}); err != nil {
		t.Fatal(err)
	}
	e.sim.Advance(14 * time.Hour)
	if states, _ := e.sim.NodeStates("linux-ci"); len(states) != 0 {
		t.Fatalf("linux-ci has nodes at 23:00: %v", states)
	}
	img, _ := pool.ParseImage(newImage)
	start := e.sim.Now()
	if _, err := e.ch.StartRollout(ctx, alice, "image linux-ci 1.2.0", "linux-ci", img, plan, "C1", "<@U1>"); err != nil {
		t.Fatal(err)
	}
	r, _ := runRollout(t, e, "linux-ci", img, 24*time.Hour)
	if r.Phase != change.PhaseDone {
		t.Fatalf("rollout ended %s: %s", r.Phase, r.Evidence)
	}
	if len(r.Canary) != plan.Canary {
		t.Errorf("canary %v; want %d agent", r.Canary, plan.Canary)
	}
	t.Logf("canary %v from new agents; done %s after the start", r.Canary, r.Ended.Sub(start))
	fromNew := false
	for _, a := range auditOf(t, e.store, "linux-ci") {
		if strings.HasPrefix(a.After, "reimage canary nodes") {
			t.Errorf("a canary agent was reimaged: %q", a.After)
		}
		fromNew = fromNew || strings.HasPrefix(a.After, "canary: new nodes "+joinInts(r.Canary))
	}
	if !fromNew {
		t.Error("no audit row of the canary taken from new agents")
	}
	for _, j := range jobsSince(t, e, "linux-ci", start) {
		if j.Result == "failed" {
			t.Errorf("job %d on %s failed", j.RequestID, j.Agent)
		}
	}
}

func joinInts(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}
