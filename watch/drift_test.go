package watch_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/watch"
)

func firing(w *watch.Watcher, pool, cond string) *pool.Alert {
	for _, a := range w.Firing() {
		if a.Pool == pool && a.Condition == cond {
			return &a
		}
	}
	return nil
}

// Agents on an image published longer ago than the config allows raise
// one image-age alert per pool, with the image and its date; a pool on a
// young enough image raises none; the alert resolves in place once the
// age is allowed.
func TestImageAgeAlert(t *testing.T) {
	e := newEnv(t, sim.Options{})
	e.sim.Advance(time.Hour) // the pools' standby agents are up
	maxAge := func(d time.Duration) func(*watch.Options) {
		return func(o *watch.Options) {
			o.Images = e.az
			o.Alerts.ImageMaxAge = d
			o.Alerts.ImageAges = []watch.ImageAge{{Pools: []string{"gpu-*"}}} // off for the failing pool
		}
	}
	// linux-ci runs ubuntu22 1.1.0, published 30 days ago; windows-ci
	// win2022 1.1.0, 10 days ago.
	w := e.watcher(maxAge(20 * 24 * time.Hour))
	for i := 0; i < 5; i++ {
		e.minute(w)
	}
	a := firing(w, "linux-ci", watch.CondImageAge)
	if a == nil {
		t.Fatalf("no image-age alert for linux-ci; firing %+v", w.Firing())
	}
	if firing(w, "windows-ci", watch.CondImageAge) != nil || firing(w, "gpu-nightly", watch.CondImageAge) != nil {
		t.Errorf("image-age alerts for pools within their age: %+v", w.Firing())
	}
	posts := e.posts("linux-ci: image-age")
	if len(posts) != 1 || !strings.Contains(posts[0].Text, "run an image older than 20d: ubuntu22/versions/1.1.0 (published 2025-12-06, 30 days ago)") ||
		!strings.Contains(string(posts[0].Blocks), `\"args\":[\"linux-ci\",\"image-age\"]`) {
		t.Fatalf("posts %+v", posts)
	}
	if th := e.replies(posts[0].TS); len(th) == 0 || !strings.Contains(th[0].Text, "published 2025-12-06") {
		t.Errorf("thread %+v; want each agent on the old image", th)
	}

	w = e.watcher(maxAge(40 * 24 * time.Hour))
	for i := 0; i < 15; i++ {
		e.minute(w)
	}
	if a := firing(w, "linux-ci", watch.CondImageAge); a != nil {
		t.Fatalf("still firing with 40d allowed: %+v", a)
	}
	ups := e.updates(posts[0].TS)
	if len(ups) == 0 || !strings.Contains(ups[len(ups)-1].Text, "[RESOLVED]") {
		t.Errorf("not resolved in place: %+v", ups)
	}
	if n := len(e.posts("linux-ci: image-age")); n != 1 {
		t.Errorf("%d image-age alerts, want 1", n)
	}
	noDuplicates(t, e)
}

// A new agent whose image bakes in an older agent, and whose self-update
// takes long, raises an agent-update alert once it has been behind the
// pool's others, idle, for longer than agent_update_after (a job restarts
// the count: the night's jobs may take it); it resolves after the agent
// has updated itself. Mutes know both drift conditions.
func TestAgentUpdateAlert(t *testing.T) {
	for _, c := range []string{watch.CondImageAge, watch.CondAgentUpdate} {
		if !slices.Contains(watch.Conditions, c) {
			t.Errorf("watch.Conditions lacks %s: it could not be muted", c)
		}
	}
	e := newEnv(t, sim.Options{})
	e.sim.Advance(time.Hour) // the pools' standby agents are up
	e.sim.MarkImageVersion("ubuntu22", "1.2.0", sim.ImageFault{AgentVersion: "4.248.0", SelfUpdate: 90 * time.Minute})
	img, _ := pool.ParseImage("/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup +
		"/providers/Microsoft.Compute/galleries/" + sim.Gallery + "/images/ubuntu22/versions/1.2.0")
	if _, _, err := e.az.SetImage(e.ctx, "linux-ci", img); err != nil {
		t.Fatal(err)
	}
	p, err := e.az.Get(e.ctx, "linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	var idle []int
	for _, n := range p.Nodes {
		if n.State == pool.NodeIdle {
			idle = append(idle, n.ID)
		}
	}
	if len(idle) == 0 {
		t.Fatal("linux-ci has no idle agent")
	}
	if err := e.az.ReimageNodes(e.ctx, "linux-ci", idle[:1]); err != nil {
		t.Fatal(err)
	}
	w := e.watcher(func(o *watch.Options) { o.Alerts.AgentUpdateAfter = 30 * time.Minute })
	var firedAt time.Time
	start := e.sim.Now()
	for i := 0; i < 120 && firedAt.IsZero(); i++ {
		e.minute(w)
		if firing(w, "linux-ci", watch.CondAgentUpdate) != nil {
			firedAt = e.sim.Now()
		}
	}
	if firedAt.IsZero() {
		t.Fatalf("no agent-update alert within two hours; firing %+v", w.Firing())
	}
	t.Logf("agent-update fired %s after the reimage", firedAt.Sub(start))
	if d := firedAt.Sub(start); d < 30*time.Minute {
		t.Errorf("fired %s after the reimage, before the agent was behind for 30m", d)
	}
	posts := e.posts("linux-ci: agent-update")
	if len(posts) != 1 || !strings.Contains(posts[0].Text, "1 agent of linux-ci on agent 4.248.0 for more than 30m while the newest is "+sim.AgentVersion) {
		t.Fatalf("posts %+v", posts)
	}
	if firing(w, "windows-ci", watch.CondAgentUpdate) != nil {
		t.Errorf("windows-ci, all on one agent, fires: %+v", w.Firing())
	}
	// The agent updates itself between jobs 90 minutes after it came
	// online; the alert resolves once the condition has been clear for a while.
	for i := 0; i < 150 && firing(w, "linux-ci", watch.CondAgentUpdate) != nil; i++ {
		e.minute(w)
	}
	if a := firing(w, "linux-ci", watch.CondAgentUpdate); a != nil {
		t.Fatalf("still firing 150 minutes later: %+v", a)
	}
	ups := e.updates(posts[0].TS)
	if len(ups) == 0 || !strings.Contains(ups[len(ups)-1].Text, "[RESOLVED]") {
		t.Errorf("not resolved in place: %+v", ups)
	}
	noDuplicates(t, e)
}
