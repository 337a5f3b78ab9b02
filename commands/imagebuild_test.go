package commands

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

func imageStack(t *testing.T, rollout string, fail bool) *stack {
	s := newStack(t, func(o *Options) {
		// As app gives it: config's defaults applied.
		o.Images = []Image{{Pool: "linux-ci", Project: "platform", Pipeline: 7, Rollout: rollout, Canary: "1", Batch: 2,
			OnlineWithin: 15 * time.Minute, Watch: 30 * time.Minute, MaxFailureIncrease: 0.2, MinJobs: 2}}
	})
	s.opts.Pipelines = s.az
	s.h = mustNew(t, s.opts)
	p := sim.DemoPipeline
	p.Duration, p.Fail = 30*time.Minute, fail
	s.sim.SetPipeline(p)
	return s
}

// channelMessages returns the outbox messages whose key starts with prefix.
func (s *stack) channelMessages(prefix string) []pool.OutboxMessage {
	s.t.Helper()
	ms, err := s.store.Pending(context.Background(), 0)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []pool.OutboxMessage
	for _, m := range ms {
		if strings.HasPrefix(m.Key, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// stepFor advances the simulator a minute at a time for d, stepping images.
func (s *stack) stepFor(d time.Duration, until func() bool) time.Duration {
	s.t.Helper()
	start := s.clk.Now()
	for s.clk.Now().Sub(start) < d {
		s.clk.Advance(time.Minute)
		if err := s.h.StepImages(context.Background()); err != nil {
			s.t.Fatal(err)
		}
		if until != nil && until() {
			break
		}
	}
	return s.clk.Now().Sub(start)
}

// Build, offered rollout, pressed, rolled out: the whole flow on the
// simulator, and its time from `build` to every agent on the new image.
func TestImageBuildOffersARolloutThatReachesEveryAgent(t *testing.T) {
	s := imageStack(t, "manual", false)
	ctx := context.Background()
	before := s.image("linux-ci")
	rec := s.run(req("U-admin", "image linux-ci build"))
	if !strings.Contains(rec.last().Text, "Queued run") {
		t.Fatalf("reply %q", rec.texts())
	}
	ms := s.channelMessages("build/")
	if len(ms) != 1 || ms[0].Op != "post" || !strings.Contains(ms[0].Text, "is queued") || !strings.Contains(ms[0].Text, "_build/results?buildId=") {
		t.Fatalf("channel %+v; want the build posted with its link", ms)
	}
	if again := s.run(req("U-admin", "image linux-ci build")); !strings.Contains(again.last().Text, "already running") {
		t.Errorf("a second build: %q", again.texts())
	}
	s.stepFor(2*time.Minute, nil)
	if ms = s.channelMessages("build/"); !strings.Contains(ms[len(ms)-1].Text, "is running") {
		t.Errorf("after 2 minutes: %q; want running", ms[len(ms)-1].Text)
	}
	s.stepFor(time.Hour, func() bool { return len(s.channelMessages("build/")) > 2 })
	if s.image("linux-ci") != before {
		t.Fatalf("the build changed the image before anyone confirmed: %v", s.image("linux-ci"))
	}
	ms = s.channelMessages("build/")
	last := ms[len(ms)-1]
	if !strings.Contains(last.Text, "succeeded: version 1.3.0") || !strings.Contains(last.Text, "Roll ubuntu22/versions/1.3.0 out") {
		t.Fatalf("build result %q", last.Text)
	}
	var blocks slack.Blocks
	if err := json.Unmarshal([]byte(last.Blocks), &blocks); err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, b := range blocks.BlockSet {
		if ab, ok := b.(*slack.ActionBlock); ok {
			for _, el := range ab.Elements.ElementSet {
				if btn, ok := el.(*slack.ButtonBlockElement); ok && btn.ActionID == "confirm" {
					id = btn.Value
				}
			}
		}
	}
	if id == "" {
		t.Fatalf("no rollout button in %s", last.Blocks)
	}
	rec = s.run(press("U-admin", "confirm", id))
	if !strings.Contains(rec.last().Text, "started the rollout of") {
		t.Fatalf("pressing roll out: %q", rec.texts())
	}
	took := s.stepFor(8*time.Hour, func() bool {
		r, err := s.ch.Rollout(ctx, "linux-ci")
		return err == nil && !r.Active()
	})
	r, err := s.ch.Rollout(ctx, "linux-ci")
	if err != nil || r.Phase != change.PhaseDone {
		t.Fatalf("rollout %+v, %v", r, err)
	}
	if s.image("linux-ci").Short() != "ubuntu22/versions/1.3.0" {
		t.Errorf("image %v after the rollout", s.image("linux-ci"))
	}
	t.Logf("build to fully rolled out: %s (build 30m, rollout %s, %d agents)", 30*time.Minute+took, r.Ended.Sub(r.Started), len(r.Moved))
}

// A failed run, or no pipeline configured, changes nothing.
func TestImageBuildFailureChangesNothing(t *testing.T) {
	s := imageStack(t, "auto", true)
	ctx := context.Background()
	before := s.image("linux-ci")
	if rec := s.run(req("U-admin", "image windows-ci build")); !strings.Contains(rec.last().Text, "image pipeline is configured for windows-ci") {
		t.Errorf("no pipeline: %q", rec.texts())
	}
	s.run(req("U-admin", "image linux-ci build"))
	s.stepFor(40*time.Minute, nil)
	ms := s.channelMessages("build/")
	if last := ms[len(ms)-1]; !strings.Contains(last.Text, "failed; nothing was changed") || !strings.Contains(last.Text, "buildId=") {
		t.Errorf("build result %q", last.Text)
	}
	if s.image("linux-ci") != before {
		t.Errorf("image %v after a failed build", s.image("linux-ci"))
	}
	if _, err := s.ch.Rollout(ctx, "linux-ci"); err == nil {
		t.Error("a failed build started a rollout")
	}
	if vs := s.sim.GalleryVersions("ubuntu22"); vs[len(vs)-1] != "1.2.0" {
		t.Errorf("gallery %v after a failed build", vs)
	}
}

// rollout = "auto" starts the rollout when the build succeeds; a second
// rollout, a canary over the max and a bad canary are refused.
func TestImageBuildAutoRolloutAndBadInput(t *testing.T) {
	s := imageStack(t, "auto", false)
	ctx := context.Background()
	s.run(req("U-admin", "image linux-ci build"))
	s.stepFor(40*time.Minute, func() bool { r, err := s.ch.Rollout(ctx, "linux-ci"); return err == nil && r.Active() })
	r, err := s.ch.Rollout(ctx, "linux-ci")
	if err != nil || !r.Active() || r.Image.Short() != "ubuntu22/versions/1.3.0" {
		t.Fatalf("rollout %+v, %v; want one started by the build", r, err)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"image linux-ci latest canary=1", "already running"},
		{"image windows-ci latest canary=9", "larger than windows-ci's max of 6"},
		{"image windows-ci latest canary=0", "canary=0"},
		{"image windows-ci latest canary=1 reimage=idle", "do not go together"},
	} {
		if rec := s.run(req("U-admin", tc.cmd)); !strings.Contains(plainOf(rec.last()), tc.want) {
			t.Errorf("%s: %q; want %q", tc.cmd, rec.texts(), tc.want)
		}
	}
	if rec := s.run(req("U-admin", "image linux-ci pause")); !strings.Contains(rec.last().Text, "paused") {
		t.Errorf("pause: %q", rec.texts())
	}
	phase := r.Phase
	s.stepFor(2*time.Hour, nil)
	if r, _ = s.ch.Rollout(ctx, "linux-ci"); r.Phase != phase {
		t.Errorf("a paused rollout moved from %s to %s", phase, r.Phase)
	}
	s.run(req("U-admin", "image linux-ci cancel"))
	s.stepFor(2*time.Hour, func() bool { r, _ := s.ch.Rollout(ctx, "linux-ci"); return !r.Active() })
	if r, _ = s.ch.Rollout(ctx, "linux-ci"); r.Phase != change.PhaseRolledBack || s.image("linux-ci").Short() != "ubuntu22/versions/1.1.0" {
		t.Errorf("cancelled rollout %s, image %v", r.Phase, s.image("linux-ci"))
	}
}

// TestStoredBuildDecodes: a build queued by an earlier poolbot, its image
// written as config.Image was (Go's field names, durations as text), still
// decodes, and a build written now is written the same way.
func TestStoredBuildDecodes(t *testing.T) {
	const old = `{"pool":"linux-ci","run":{"ID":12},"image":{"Pool":"linux-ci","Project":"platform","Pipeline":7,` +
		`"Rollout":"manual","Canary":"20%","Batch":2,"OnlineWithin":"15m0s","Watch":"1h30m0s","MaxFailureIncrease":0.2,"MinJobs":3},` +
		`"channel":"C-ops","key":"build/1","requester":"U-admin","requester_name":"admin","source":"slack","running":true}`
	var b imageBuild
	if err := json.Unmarshal([]byte(old), &b); err != nil {
		t.Fatal(err)
	}
	want := Image{Pool: "linux-ci", Project: "platform", Pipeline: 7, Rollout: "manual", Canary: "20%", Batch: 2,
		OnlineWithin: 15 * time.Minute, Watch: 90 * time.Minute, MaxFailureIncrease: 0.2, MinJobs: 3}
	if b.Image != want || b.Pool != "linux-ci" || b.Run.ID != 12 || !b.Running {
		t.Fatalf("decoded %+v\nwant image %+v", b, want)
	}
	raw, err := json.Marshal(b.Image)
	if err != nil {
		t.Fatal(err)
	}
	const image = `{"Pool":"linux-ci","Project":"platform","Pipeline":7,"Rollout":"manual","Canary":"20%","Batch":2,` +
		`"OnlineWithin":"15m0s","Watch":"1h30m0s","MaxFailureIncrease":0.2,"MinJobs":3}`
	if string(raw) != image {
		t.Errorf("encoded %s\nwant      %s", raw, image)
	}
	if err := json.Unmarshal([]byte(`{"image":{"Watch":"soon"}}`), &b); err == nil {
		t.Error("a build whose watch is not a duration decoded")
	}
}
