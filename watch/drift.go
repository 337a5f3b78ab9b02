package watch

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// Drift conditions: agents on an image older than the config allows, and
// agents on an older agent than their pool's others for long.
const (
	CondImageAge    = "image-age"
	CondAgentUpdate = "agent-update"
)

// ImageDates tells when an image was published (azure.Client reads a
// compute gallery version's publishing date). Errors: *pool.Error of
// KindNotFound for an image with no such date (a marketplace image, a
// gallery image without a version), which the watcher leaves out. Safe for
// concurrent use.
type ImageDates interface {
	ImagePublished(ctx context.Context, img pool.Image) (time.Time, error)
}

// Drift is read with the pool's full record (each node's image and agent
// version), every driftEvery cycles, every driftHotEvery while an agent is
// behind or a drift alert fires.
const (
	driftEvery    = 15
	driftHotEvery = 3
)

// published caches images' publishing dates: a gallery version does not
// change once published.
type published struct {
	mu    sync.Mutex
	dates map[pool.Image]time.Time // zero: the image has none
}

func (pc *published) get(img pool.Image) (time.Time, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	t, ok := pc.dates[img]
	return t, ok
}

func (pc *published) put(img pool.Image, t time.Time) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dates == nil {
		pc.dates = map[pool.Image]time.Time{}
	}
	pc.dates[img] = t
}

// driftOn reports whether any drift condition is configured for name.
func (w *Watcher) driftOn(name string) bool {
	return w.agentUpdate > 0 || w.o.Images != nil && w.o.Alerts.ImageMaxAgeFor(name) > 0
}

// wantDrift decides whether this cycle reads p's drift.
func (w *Watcher) wantDrift(name string, ps *poolState, tick int) bool {
	if !w.driftOn(name) {
		return false
	}
	hot := len(ps.behind) > 0
	for _, c := range []string{CondImageAge, CondAgentUpdate} {
		if a := w.alerts[name+"/"+c]; a != nil && a.Firing {
			hot = true
		}
	}
	if a := w.alerts[name+"/"+CondAgentUpdate]; !ps.haveDrift && ps.behind == nil && a != nil && a.Firing {
		// After a restart: the agents the firing alert names were behind
		// long enough already, so that it neither resolves nor waits anew.
		ps.behind = map[int]time.Time{}
		for id := range nodeIDs(a.Detail) {
			ps.behind[id] = w.o.Clock.Now().Add(-w.agentUpdate)
		}
	}
	return !ps.haveDrift || tick%driftEvery == 0 || hot && tick%driftHotEvery == 0
}

// fetchDrift reads the pool's nodes with their images and agent versions,
// and the publishing dates of images not yet known. It touches only ps and
// the date cache.
func (w *Watcher) fetchDrift(ctx context.Context, now time.Time, name string, ps *poolState) error {
	p, err := w.o.Service.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("drift: %w", err)
	}
	ps.drift, ps.haveDrift, ps.driftRead = p.Nodes, true, now
	if w.o.Images == nil || w.o.Alerts.ImageMaxAgeFor(name) <= 0 {
		return nil
	}
	var errs []string
	for _, img := range imagesOf(p.Nodes) {
		if _, ok := w.dates.get(img); ok {
			continue
		}
		at, err := w.o.Images.ImagePublished(ctx, img)
		switch {
		case err == nil:
			w.dates.put(img, at)
		case pool.KindOf(err) == pool.KindNotFound:
			w.dates.put(img, time.Time{})
		default:
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("image dates: %s", strings.Join(errs, "; "))
	}
	return nil
}

// noteAgents notes since when each agent read this cycle is behind: on an
// agent version older than the newest any pool's agents run (every pool of
// an organization gets the same agent; a pool whose agents all came from
// one old image has no newer one of its own to compare with).
func (w *Watcher) noteAgents() {
	newest := ""
	for _, ps := range w.pools {
		for _, n := range ps.drift {
			if n.AgentVersion != "" && (newest == "" || olderVersion(newest, n.AgentVersion)) {
				newest = n.AgentVersion
			}
		}
	}
	w.newestAgent = newest
	for _, ps := range w.pools {
		if ps.driftRead.IsZero() {
			continue
		}
		now := ps.driftRead
		behind := map[int]time.Time{}
		for _, n := range ps.drift {
			if n.AgentVersion == "" || n.State.Class() == pool.ClassGoing || !olderVersion(n.AgentVersion, newest) {
				continue
			}
			since, ok := ps.behind[n.ID]
			if !ok || n.State.Class() == pool.ClassBusy {
				// An agent updates itself between jobs: the time a job
				// holds it does not count.
				since = now
			}
			behind[n.ID] = since
		}
		ps.behind, ps.driftRead = behind, time.Time{}
	}
}

// driftFindings are the drift conditions holding for p now.
func (w *Watcher) driftFindings(now time.Time, p *pool.Pool, ps *poolState, out map[string]finding) {
	if !ps.haveDrift {
		return
	}
	if maxAge := w.o.Alerts.ImageMaxAgeFor(p.Name); maxAge > 0 && w.o.Images != nil {
		var old []string
		var detail []string
		agents := 0
		for _, img := range imagesOf(ps.drift) {
			at, ok := w.dates.get(img)
			if !ok || at.IsZero() || now.Sub(at) <= maxAge {
				continue
			}
			k := 0
			for _, n := range ps.drift {
				if n.Image == img && n.State.Class() != pool.ClassGoing {
					k++
					detail = append(detail, fmt.Sprintf("%s (node %d): %s, published %s", nodeName(n), n.ID, img.Short(), at.UTC().Format("2006-01-02")))
				}
			}
			agents += k
			old = append(old, fmt.Sprintf("%s (published %s, %d days ago) on %d", img.Short(), at.UTC().Format("2006-01-02"), int(now.Sub(at).Hours()/24), k))
		}
		if agents > 0 {
			out[CondImageAge] = finding{severity: "warning", count: agents,
				summary: fmt.Sprintf("%s of %s run an image older than %s: %s", plural(agents, "agent"), p.Name, days(maxAge), strings.Join(old, ", ")),
				detail:  detail}
		}
	}
	if w.agentUpdate > 0 {
		var late []pool.Node
		var detail []string
		versions := map[string]bool{}
		for _, n := range ps.drift {
			since, ok := ps.behind[n.ID]
			if !ok || now.Sub(since) < w.agentUpdate {
				continue
			}
			late = append(late, n)
			versions[n.AgentVersion] = true
			detail = append(detail, fmt.Sprintf("%s (node %d): agent %s since %s, %s, image %s", nodeName(n), n.ID, n.AgentVersion, clockTime(since), n.State, n.Image.Short()))
		}
		if len(late) > 0 {
			vs := make([]string, 0, len(versions))
			for v := range versions {
				vs = append(vs, v)
			}
			slices.Sort(vs)
			out[CondAgentUpdate] = finding{severity: "warning", count: len(late),
				summary: fmt.Sprintf("%s of %s on agent %s for more than %s while the newest is %s: their self-update is slow or stuck",
					plural(len(late), "agent"), p.Name, strings.Join(vs, ", "), lasted(w.agentUpdate), w.newestAgent),
				detail: detail, nodes: late}
		}
	}
}

// imagesOf lists the images the nodes run, those going away left out.
func imagesOf(nodes []pool.Node) []pool.Image {
	var out []pool.Image
	for _, n := range nodes {
		if !n.Image.IsZero() && n.State.Class() != pool.ClassGoing && !slices.Contains(out, n.Image) {
			out = append(out, n.Image)
		}
	}
	return out
}

func nodeName(n pool.Node) string {
	if n.Name == "" {
		return fmt.Sprintf("node %d", n.ID)
	}
	return n.Name
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// olderVersion compares agent versions "major.minor.patch" numerically.
func olderVersion(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}
