package watch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/scheduler"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/watch"
)

// TestFailingPoolOneAlert: with gpu-nightly failing, one alert reaches
// Slack, is updated as more nodes fail, and is resolved in place once the
// failure is switched off.
func TestFailingPoolOneAlert(t *testing.T) {
	e := newEnv(t, sim.Options{})
	w := e.watcher(nil)
	var firstAt time.Time
	for i := 0; i < 45; i++ {
		e.minute(w)
		if firstAt.IsZero() && len(e.posts("gpu-nightly")) > 0 {
			firstAt = e.sim.Now()
		}
	}
	posts := e.posts("gpu-nightly")
	if len(posts) != 1 {
		for _, m := range e.stub.Messages() {
			t.Logf("%s %s %q", m.Channel, m.ThreadTS, m.Text)
		}
		t.Fatalf("%d alerts for gpu-nightly, want 1", len(posts))
	}
	p := posts[0]
	if p.Channel != "C-ALERTS" || !strings.Contains(p.Text, "failed-nodes") || !strings.Contains(string(p.Blocks), `\"args\":[\"gpu-nightly\",\"failed-nodes\"],\"opts\":{\"for\":\"1h\"}`) ||
		!strings.Contains(string(p.Blocks), `\"args\":[\"delete\",\"gpu-nightly\",`) || !strings.Contains(string(p.Blocks), "poolId=") {
		t.Errorf("alert message: %s %q\n%s", p.Channel, p.Text, p.Blocks)
	}
	ups := e.updates(p.TS)
	if len(ups) == 0 {
		t.Errorf("the alert was never updated as more nodes failed")
	}
	th := e.replies(p.TS)
	if len(th) == 0 || !strings.Contains(th[0].Text, "failedVMPendingDelete") {
		t.Errorf("thread lacks the failed node: %v", th)
	}
	var sawQuota bool
	for _, m := range th {
		sawQuota = sawQuota || strings.Contains(m.Text, "quota")
	}
	if !sawQuota {
		t.Errorf("the quota errors did not reach the thread")
	}
	if others := len(e.stub.Messages()) - 1 - len(th); others != 0 {
		t.Errorf("%d messages besides the alert and its thread", others)
	}

	if err := e.sim.SetFailure("gpu-nightly", sim.Failure{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		e.minute(w)
	}
	if n := len(e.posts("gpu-nightly: failed-nodes")); n != 1 {
		for _, m := range e.stub.Messages() {
			t.Logf("%s %s %s %q", m.Time.Format("15:04:05"), m.TS, m.ThreadTS, m.Text)
		}
		t.Fatalf("%d failure alerts after the failure ended, want still 1", n)
	}
	ups = e.updates(p.TS)
	last := ups[len(ups)-1]
	if !strings.Contains(last.Text, "[RESOLVED]") || strings.Contains(string(last.Blocks), `"action_id":"run"`) {
		t.Errorf("last update is not a resolution without buttons: %q %s", last.Text, last.Blocks)
	}
	for _, a := range w.Firing() {
		if a.Condition == "failed-nodes" {
			t.Errorf("still firing: %+v", a)
		}
	}
}

// noDuplicates fails when any message text repeats in one thread or a
// top-level alert repeats.
func noDuplicates(t *testing.T, e *env) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range e.stub.Messages() {
		k := m.ThreadTS + "|" + m.Text
		if seen[k] {
			t.Errorf("duplicated message: %q", m.Text)
		}
		seen[k] = true
	}
	if ms, err := e.st.Pending(e.ctx, 100); err != nil || len(ms) != 0 {
		t.Errorf("outbox not empty: %d messages, %v", len(ms), err)
	}
}

// TestRateLimitedSlack: a stub answering 429 delays messages but loses and
// duplicates none: the same messages arrive as without it.
func TestRateLimitedSlack(t *testing.T) {
	run := func(limit bool) (*env, []string) {
		e := newEnv(t, sim.Options{})
		w := e.watcher(nil)
		for i := 0; i < 45; i++ {
			if limit && i%5 == 0 {
				e.stub.RateLimit(2, 3*time.Second)
			}
			e.minute(w)
		}
		var texts []string
		for _, m := range e.stub.Messages() {
			texts = append(texts, m.Text)
		}
		for _, u := range e.stub.Updates() {
			texts = append(texts, "update: "+u.Text)
		}
		return e, texts
	}
	_, want := run(false)
	e, got := run(true)
	if e.stub.Calls("chat.postMessage")+e.stub.Calls("chat.update") <= len(got) {
		t.Fatalf("no call was rate limited")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("with 429s Slack got\n%s\n\nwithout\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	noDuplicates(t, e)
}

// TestRestartPostsNothingTwice: a new watcher (and sender, and store
// handle) on the same store while an alert fires goes on with the same
// message.
func TestRestartPostsNothingTwice(t *testing.T) {
	e := newEnv(t, sim.Options{})
	w := e.watcher(nil)
	for i := 0; i < 30; i++ {
		e.minute(w)
	}
	if len(e.posts("gpu-nightly")) != 1 {
		t.Fatalf("no alert before the restart")
	}
	// Queue work, then "crash" before sending it: the new process sends it.
	if err := w.Cycle(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.st.Close()
	e.st = e.openStore()
	e.sender = e.newSender()
	for _, owner := range []string{"replica-1", "replica-1"} { // restarted twice
		w = e.watcher(func(o *watch.Options) { o.Owner = owner })
		for i := 0; i < 10; i++ {
			e.minute(w)
		}
	}
	if n := len(e.posts("gpu-nightly")); n != 1 {
		t.Errorf("%d alerts for gpu-nightly after restarts, want 1", n)
	}
	noDuplicates(t, e)
}

// TestTwoReplicas: two watchers on one store post each alert once.
func TestTwoReplicas(t *testing.T) {
	e := newFakeEnv(t, fakePools())
	e.st.Put(e.ctx, scheduler.FailureKey("linux-ci"), "update pool linux-ci: throttled")
	a := e.watcher(func(o *watch.Options) { o.Owner = "a" })
	b := e.watcher(func(o *watch.Options) { o.Owner = "b" })
	for i := 0; i < 40; i++ {
		if err := a.Cycle(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.minute(b)
	}
	if n := len(e.posts("linux-ci")); n != 1 {
		t.Errorf("%d alerts for linux-ci from two replicas, want 1", n)
	}
	seen := map[string]bool{}
	for _, m := range e.stub.Messages() {
		if seen[m.ThreadTS+m.Text] {
			t.Errorf("duplicated: %q", m.Text)
		}
		seen[m.ThreadTS+m.Text] = true
	}
}

func TestMuteRouteAndScheduleFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fake    bool // on fakes: the condition needs nothing of Azure's
		setup   func(e *env)
		minutes int
		pool    string
		want    int    // top-level alerts of pool
		channel string // of the first
		cond    string
	}{
		{"muted condition posts nothing", false, func(e *env) {
			e.st.PutMute(e.ctx, pool.Mute{Pool: "gpu-nightly", Condition: "failed-nodes", Until: e.sim.Now().Add(2 * time.Hour)})
		}, 40, "gpu-nightly", 0, "", ""},
		{"muted pool (all conditions) posts nothing", false, func(e *env) {
			e.st.PutMute(e.ctx, pool.Mute{Pool: "gpu-*", Until: e.sim.Now().Add(2 * time.Hour)})
		}, 40, "gpu-nightly", 0, "", ""},
		{"an expired mute lets it post", false, func(e *env) {
			e.st.PutMute(e.ctx, pool.Mute{Pool: "gpu-nightly", Until: e.sim.Now().Add(30 * time.Minute)})
		}, 40, "gpu-nightly", 1, "C-ALERTS", "failed-nodes"},
		{"routed to its channel", false, func(e *env) {
			e.sim.SetFailure("windows-ci", sim.Failure{NeverOnline: true})
		}, 30, "windows-ci", 1, "C-WIN", "failed-nodes"},
		{"schedule failure", true, func(e *env) {
			e.st.Put(e.ctx, scheduler.FailureKey("linux-ci"), "update pool linux-ci: the service did not answer")
		}, 6, "linux-ci", 1, "C-ALERTS", "schedule-failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			if tc.fake {
				e = newFakeEnv(t, fakePools())
			} else {
				e = newEnv(t, sim.Options{})
			}
			tc.setup(e)
			w := e.watcher(nil)
			for i := 0; i < tc.minutes; i++ {
				e.minute(w)
			}
			posts := e.posts(tc.pool)
			if len(posts) != tc.want {
				t.Fatalf("%d alerts for %s, want %d", len(posts), tc.pool, tc.want)
			}
			if tc.want > 0 && (posts[0].Channel != tc.channel || !strings.Contains(posts[0].Text, tc.cond)) {
				t.Errorf("alert %s %q, want channel %s condition %s", posts[0].Channel, posts[0].Text, tc.channel, tc.cond)
			}
		})
	}
}

func TestScheduleFailureResolves(t *testing.T) {
	e := newFakeEnv(t, fakePools())
	e.st.Put(e.ctx, scheduler.FailureKey("linux-ci"), "update pool linux-ci: throttled")
	w := e.watcher(func(o *watch.Options) { o.ResolveAfter = 2 * time.Minute })
	for i := 0; i < 6; i++ {
		e.minute(w)
	}
	e.st.Put(e.ctx, scheduler.FailureKey("linux-ci"), "")
	for i := 0; i < 6; i++ {
		e.minute(w)
	}
	posts := e.posts("linux-ci")
	if len(posts) != 1 {
		t.Fatalf("%d alerts, want 1", len(posts))
	}
	ups := e.updates(posts[0].TS)
	if len(ups) == 0 || !strings.Contains(ups[len(ups)-1].Text, "[RESOLVED]") {
		t.Errorf("not resolved: %+v", ups)
	}
}

// TestRepeat: a long-firing alert is repeated in its thread after the
// repeat interval, not before.
func TestRepeat(t *testing.T) {
	e := newFakeEnv(t, fakePools())
	e.st.Put(e.ctx, scheduler.FailureKey("linux-ci"), "update pool linux-ci: throttled")
	w := e.watcher(func(o *watch.Options) { o.Alerts.RepeatInterval = 20 * time.Minute })
	for i := 0; i < 45; i++ {
		e.minute(w)
	}
	posts := e.posts("linux-ci")
	if len(posts) != 1 {
		t.Fatalf("%d alerts, want 1", len(posts))
	}
	var repeats int
	for _, m := range e.replies(posts[0].TS) {
		if strings.Contains(m.Text, "Still firing") {
			repeats++
		}
	}
	if repeats != 2 {
		t.Errorf("%d repeats in 45 minutes at a 20m repeat interval, want 2", repeats)
	}
}
