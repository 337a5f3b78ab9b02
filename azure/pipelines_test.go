package azure

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

// An image pipeline run queued through the SDK runs on the simulator's
// clock and publishes the next gallery version; a failing one publishes
// nothing; an unknown pipeline is told in words.
func TestPipelineRunPublishesAnImageVersion(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		fail    bool
		result  string
		version string
	}{
		{"succeeds", false, "succeeded", "1.3.0"},
		{"fails", true, "failed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sim.Faults{})
			p := sim.DemoPipeline
			p.Duration, p.Fail = 30*time.Minute, tc.fail
			e.sim.SetPipeline(p)
			r, err := e.c.RunPipeline(ctx, p.Project, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.ID == 0 || r.Done() || r.State != "inProgress" || !strings.Contains(r.URL, "/_build/results?buildId=") {
				t.Fatalf("queued run %+v", r)
			}
			e.sim.Advance(29 * time.Minute)
			if r, err = e.c.PipelineRun(ctx, p.Project, p.ID, r.ID); err != nil || r.Done() {
				t.Fatalf("run after 29m: %+v, %v; want still running", r, err)
			}
			e.sim.Advance(time.Minute)
			if r, err = e.c.PipelineRun(ctx, p.Project, p.ID, r.ID); err != nil || !r.Done() || r.Result != tc.result || r.Version != tc.version {
				t.Fatalf("run after 30m: %+v, %v; want %s with version %q", r, err, tc.result, tc.version)
			}
			vs := e.sim.GalleryVersions("ubuntu22")
			if newest := vs[len(vs)-1]; (tc.version != "") != (newest == "1.3.0") {
				t.Errorf("gallery versions %v after a run that %s", vs, tc.result)
			}
		})
	}
	e := newEnv(t, sim.Faults{})
	_, err := e.c.RunPipeline(ctx, "platform", 99)
	if pool.KindOf(err) != pool.KindNotFound || !strings.Contains(err.Error(), "99") {
		t.Errorf("unknown pipeline: %v; want a not-found error naming it", err)
	}
}
