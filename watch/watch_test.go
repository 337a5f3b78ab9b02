package watch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/sim"
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
	if p.Channel != "C-ALERTS" || !strings.Contains(p.Text, "failed-nodes") || !strings.Contains(string(p.Blocks), `"value":"mute gpu-nightly failed-nodes for=1h"`) ||
		!strings.Contains(string(p.Blocks), `"value":"node delete gpu-nightly `) || !strings.Contains(string(p.Blocks), "poolId=") {
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
