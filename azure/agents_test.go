package azure

import (
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

// Agents made from an image with an older agent baked in report that
// version until they have updated themselves; the others the
// organization's. Get reads both; List reads the images when asked.
func TestNodeAgentVersionsAndImages(t *testing.T) {
	e := newEnv(t, sim.Faults{})
	e.sim.MarkImageVersion("ubuntu22", "1.2.0", sim.ImageFault{AgentVersion: "4.248.0", SelfUpdate: 40 * time.Minute})
	newer, _ := pool.ParseImage(galleryImage("ubuntu22") + "/versions/1.2.0")
	if _, _, err := e.c.SetImage(ctx(t), "linux-ci", newer); err != nil {
		t.Fatal(err)
	}
	p, err := e.c.Get(ctx(t), "linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	var idle []int
	for _, n := range p.Nodes {
		if n.AgentID != 0 && n.AgentVersion != sim.AgentVersion {
			t.Errorf("node %s reports agent %q before any reimage, want %s", n.Name, n.AgentVersion, sim.AgentVersion)
		}
		if n.State == pool.NodeIdle {
			idle = append(idle, n.ID)
		}
	}
	if len(idle) == 0 {
		t.Fatal("no idle agent to reimage")
	}
	if err := e.c.ReimageNodes(ctx(t), "linux-ci", idle[:1]); err != nil {
		t.Fatal(err)
	}
	versionOf := func() (string, pool.Image) {
		t.Helper()
		p, err := e.c.Get(ctx(t), "linux-ci")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range p.Nodes {
			if n.ID == idle[0] {
				return n.AgentVersion, n.Image
			}
		}
		t.Fatalf("node %d is gone", idle[0])
		return "", pool.Image{}
	}
	// Reimaged and online within 15 minutes, on the old agent.
	var v string
	var img pool.Image
	for range 15 {
		e.sim.Advance(time.Minute)
		if v, img = versionOf(); img == newer && v != "" && v != sim.AgentVersion {
			break
		}
	}
	if v != "4.248.0" || img != newer {
		t.Fatalf("reimaged node: agent %q image %v; want 4.248.0 on 1.2.0", v, img.Short())
	}
	// It updates itself between jobs, 40 minutes after coming online.
	for range 180 {
		e.sim.Advance(time.Minute)
		if v, _ = versionOf(); v == sim.AgentVersion {
			break
		}
	}
	if v != sim.AgentVersion {
		t.Errorf("agent still %q three hours later; want it updated to %s", v, sim.AgentVersion)
	}

	// List fills the nodes' images only when asked.
	ps, err := e.c.List(ctx(t), pool.ListOptions{Nodes: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range byName(t, ps, "linux-ci").Nodes {
		if !n.Image.IsZero() {
			t.Errorf("a plain list read node %d's image", n.ID)
		}
	}
	ps, err = e.c.List(ctx(t), pool.ListOptions{Nodes: true, Images: true})
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]bool{}
	for _, n := range byName(t, ps, "linux-ci").Nodes {
		if n.ComputeID != "" {
			images[n.Image.Short()] = true
		}
	}
	if !images["ubuntu22/versions/1.2.0"] {
		t.Errorf("listed images %v; want the reimaged node's 1.2.0 among them", images)
	}
}

// ImagePublished reads a gallery version's publishing date; an image that
// is not a gallery version has none.
func TestImagePublished(t *testing.T) {
	e := newEnv(t, sim.Faults{})
	img, _ := pool.ParseImage(galleryImage("ubuntu22") + "/versions/1.1.0")
	at, err := e.c.ImagePublished(ctx(t), img)
	if err != nil {
		t.Fatal(err)
	}
	if want := simStart.Add(-30 * 24 * time.Hour); !at.Equal(want) {
		t.Errorf("published %v, want %v (the simulator's seed)", at, want)
	}
	for _, s := range []string{galleryImage("ubuntu22"), "Canonical:ubuntu:22_04-lts:latest"} {
		img, _ := pool.ParseImage(s)
		if _, err := e.c.ImagePublished(ctx(t), img); pool.KindOf(err) != pool.KindNotFound {
			t.Errorf("%s: %v; want not found", s, err)
		}
	}
	missing, _ := pool.ParseImage(galleryImage("ubuntu22") + "/versions/9.9.9")
	if _, err := e.c.ImagePublished(ctx(t), missing); err == nil || !strings.Contains(err.Error(), "9.9.9") && pool.KindOf(err) != pool.KindNotFound {
		t.Errorf("a missing version: %v", err)
	}
}
