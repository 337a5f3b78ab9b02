package commands

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

// galleryVersion is the simulator's gallery image version id.
func galleryVersion(image, version string) string {
	return "/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup +
		"/providers/Microsoft.Compute/galleries/" + sim.Gallery + "/images/" + image + "/versions/" + version
}

// While a rollout runs, status shows its phase, since when and how many
// agents run the new image, and each node's image and agent version (the
// new image's agents on an older agent until they update themselves);
// list flags the pool's two images. Once done, the flag goes.
func TestStatusAndListShowARolloutAndDrift(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	s.sim.MarkImageVersion("ubuntu22", "1.2.0", sim.ImageFault{AgentVersion: "4.248.0", SelfUpdate: time.Hour})
	img, _ := pool.ParseImage(galleryVersion("ubuntu22", "1.2.0"))
	plan := change.RolloutPlan{Canary: 1, Watch: 30 * time.Minute, MinJobs: 2}
	if _, err := s.ch.StartRollout(ctx, change.Actor{ID: "U-admin", Name: "admin", Source: "slack"}, "image linux-ci 1.2.0 canary=1",
		"linux-ci", img, plan, "C-x", "<@U-admin>"); err != nil {
		t.Fatal(err)
	}
	watched := func() bool {
		r, err := s.ch.Rollout(ctx, "linux-ci")
		return err == nil && r.Phase == change.PhaseWatch && len(r.Online) > 0
	}
	s.stepFor(20*time.Minute, watched)
	if !watched() {
		r, _ := s.ch.Rollout(ctx, "linux-ci")
		t.Fatalf("after 20 minutes the rollout is %s, online %v; want its canary online and watched", r.Phase, r.Online)
	}
	st := plainOf(s.run(req("U-viewer", "status linux-ci")).last())
	for _, want := range []string{"rollout of ubuntu22/versions/1.2.0", "phase watch since", "1 of ", "agents on it now"} {
		if !strings.Contains(st, want) {
			t.Errorf("status lacks %q:\n%s", want, st)
		}
	}
	for _, want := range []string{`ubuntu22/versions/1\.2\.0 +agent 4\.248\.0 `, `ubuntu22/versions/1\.1\.0 +agent ` + regexp.QuoteMeta(sim.AgentVersion) + " "} {
		if !regexp.MustCompile(want).MatchString(st) {
			t.Errorf("status lacks a node line %s:\n%s", want, st)
		}
	}
	ls := plainOf(s.run(req("U-viewer", "list linux-*")).last())
	if !strings.Contains(ls, "2 images") || !strings.Contains(ls, "ubuntu22/versions/1.2.0 ×1") {
		t.Errorf("list does not flag linux-ci's two images:\n%s", ls)
	}
	if other := plainOf(s.run(req("U-viewer", "list windows-*")).last()); strings.Contains(other, "images") {
		t.Errorf("list flags windows-ci, on one image:\n%s", other)
	}

	s.stepFor(8*time.Hour, func() bool { r, _ := s.ch.Rollout(ctx, "linux-ci"); return !r.Active() })
	if r, _ := s.ch.Rollout(ctx, "linux-ci"); r.Phase != change.PhaseDone {
		t.Fatalf("rollout %s (%s)", r.Phase, r.Evidence)
	}
	st = plainOf(s.run(req("U-viewer", "status linux-ci")).last())
	if !strings.Contains(st, "done in") || strings.Contains(st, "agents on it now") {
		t.Errorf("status after the rollout:\n%s", st)
	}
	if ls := plainOf(s.run(req("U-viewer", "list linux-*")).last()); strings.Contains(ls, "images") {
		t.Errorf("list still flags linux-ci after the rollout:\n%s", ls)
	}
}

// The bad input, through the command: each gets a clear error and
// leaves the image and the rollout as they were.
func TestImageBadInputChangesNothing(t *testing.T) {
	s := imageStack(t, "manual", false)
	ctx := context.Background()
	other := strings.Replace(galleryVersion("ubuntu22", "1.2.0"), sim.Gallery, "gallery-eastus", 1)
	confirmRun := func(user, text string) string {
		rec := s.run(req(user, text))
		if ids, _, _, _ := buttons(t, rec.last()); len(ids) > 0 && ids[0] == "confirm" {
			rec = s.run(press(user, "confirm", confirmID(t, rec.last())))
		}
		return plainOf(rec.last())
	}
	for _, tc := range []struct{ name, cmd, want string }{
		{"no pipeline configured", "image windows-ci build", "image pipeline is configured for windows-ci"},
		{"an image in another region", "image linux-ci " + other + " canary=1", "not available in westeurope region"},
		{"canary larger than the pool's max", "image linux-ci latest canary=11", "larger than linux-ci's max of 10"},
		{"canary over 100%", "image linux-ci latest canary=150%", "percentage from 1% to 100%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.image(strings.Fields(tc.cmd)[1])
			if got := confirmRun("U-admin", tc.cmd); !strings.Contains(got, tc.want) {
				t.Errorf("%s: %q; want %q", tc.cmd, got, tc.want)
			}
			if after := s.image(strings.Fields(tc.cmd)[1]); after != before {
				t.Errorf("image %v → %v", before.Short(), after.Short())
			}
			for _, name := range []string{"linux-ci", "windows-ci"} {
				if r, err := s.ch.Rollout(ctx, name); err == nil {
					t.Errorf("a rollout of %s was recorded: %+v", name, r)
				}
			}
		})
	}
	// A rollout already running: the second is refused, the first goes on.
	if got := confirmRun("U-admin", "image linux-ci latest canary=1"); !strings.Contains(got, "started the rollout") {
		t.Fatalf("first rollout: %q", got)
	}
	r, _ := s.ch.Rollout(ctx, "linux-ci")
	img := s.image("linux-ci")
	if got := confirmRun("U-admin", "image linux-ci "+galleryVersion("ubuntu22", "1.0.0")+" canary=1"); !strings.Contains(got, "already running") {
		t.Errorf("a second rollout: %q", got)
	}
	if r2, _ := s.ch.Rollout(ctx, "linux-ci"); r2.Image != r.Image || r2.Started != r.Started || s.image("linux-ci") != img {
		t.Errorf("the refused rollout changed the running one: %+v → %+v", r, r2)
	}
}

// The drift conditions can be muted by name, as the alerts' buttons do.
func TestMuteDriftConditions(t *testing.T) {
	s := newStack(t)
	for _, cond := range []string{"image-age", "agent-update"} {
		if got := plainOf(s.run(req("U-operator", "mute linux-ci "+cond+" for=1h")).last()); !strings.Contains(got, cond) || !strings.Contains(got, "until") {
			t.Errorf("mute %s: %q", cond, got)
		}
	}
	ms, err := s.store.Mutes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var conds []string
	for _, m := range ms {
		conds = append(conds, m.Condition)
	}
	if strings.Join(conds, ",") != "image-age,agent-update" && strings.Join(conds, ",") != "agent-update,image-age" {
		t.Errorf("mutes %v", conds)
	}
}
