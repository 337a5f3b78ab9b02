package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/managed"
	"github.com/poolbot/poolbot/sim"
)

// The same commands on a Managed DevOps Pool, through the Router.
func TestCommandsOnAManagedPool(t *testing.T) {
	s := newStack(t)
	s.sim.AddManagedPool(sim.ManagedSpec{Name: "mdp-linux", Max: 4, Standby: 1})
	mc, err := managed.New(managed.Options{Credential: s.az.ARMCredential(), ARM: s.az.ARMOptions(),
		ResourceGroups: []string{"/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup},
		PollInterval:   time.Millisecond, Now: s.sim.Now})
	if err != nil {
		t.Fatal(err)
	}
	r := managed.NewRouter(s.az, mc)
	s.opts.Service, s.opts.Changer = r, change.New(r, s.store, s.sim, nil)
	s.h = mustNew(t, s.opts)

	if rep := s.run(req("U-viewer", "list")).last(); !strings.Contains(rep.Text, "mdp-linux") || !strings.Contains(rep.Text, "linux-ci") {
		t.Errorf("list lacks a kind:\n%s", rep.Text)
	}
	rep := s.run(req("U-viewer", "status mdp-linux")).last()
	for _, w := range []string{"mdp-linux (Managed DevOps Pool)", "standby 1, max 4", "standby set by poolbot", "managed devops pool mdp-linux", "ubuntu-22.04/latest"} {
		if !strings.Contains(rep.Text, w) {
			t.Errorf("status lacks %q:\n%s", w, rep.Text)
		}
	}
	if rep := s.run(req("U-viewer", "status linux-ci")).last(); !strings.Contains(rep.Text, "linux-ci (elastic pool)") {
		t.Errorf("status of an elastic pool:\n%s", rep.Text)
	}

	s.run(req("U-operator", "standby mdp-linux 2"))
	res, _ := s.sim.ManagedResource("mdp-linux")
	days := res["properties"].(map[string]any)["agentProfile"].(map[string]any)["resourcePredictions"].(map[string]any)["daysData"].([]any)
	if len(days) != 1 || days[0].(map[string]any)["00:00:00"] != 2.0 {
		t.Errorf("standby 2 wrote daysData %v", days)
	}
	if es := s.audit("mdp-linux"); len(es) != 1 || es[0].Result != "ok" {
		t.Errorf("audit %+v", es)
	}

	// image: confirmation, then rollback to the well-known image before.
	gallery := "/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup + "/providers/Microsoft.Compute/galleries/" + sim.Gallery + "/images/ubuntu22"
	ask := s.run(req("U-admin", "image mdp-linux "+gallery)).last()
	if !strings.Contains(ask.Text, "ubuntu-22.04/latest → ubuntu22") {
		t.Errorf("confirmation %q", ask.Text)
	}
	final := s.run(press("U-admin", "confirm", confirmID(t, ask))).last()
	if !strings.Contains(final.Text, "ubuntu-22.04/latest → ubuntu22/versions/1.2.0") {
		t.Errorf("after confirmation: %q", final.Text)
	}
	s.run(press("U-admin", "confirm", confirmID(t, s.run(req("U-admin", "image mdp-linux rollback")).last())))
	p, err := mc.Get(t.Context(), "mdp-linux")
	if err != nil || p.ScaleSet.Image.ID != "ubuntu-22.04/latest" {
		t.Errorf("after rollback: %v, %v", p.ScaleSet.Image, err)
	}
	// A scale set does not take a well-known image.
	ask = s.run(req("U-admin", "image linux-ci ubuntu-22.04/latest")).last()
	if rep := s.run(press("U-admin", "confirm", confirmID(t, ask))).last(); !strings.Contains(rep.Text, "is a Managed DevOps Pools image") {
		t.Errorf("a well-known image on a scale set: %q", rep.Text)
	}
}
