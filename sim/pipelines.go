package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/pipelines"

	"github.com/poolbot/poolbot/pool"
)

// LocPipelineRuns is the location id of Azure Pipelines' runs route, which
// the SDK's pipelines client calls to queue (POST) and read (GET) a run.
const LocPipelineRuns = "7859261e-d2e9-4a68-b820-a5d84cc5bb3d"

func init() {
	locations = append(locations, location{LocPipelineRuns, "pipelines", "runs",
		"{project}/_apis/{area}/{pipelineId}/{resource}/{runId}", 1, "6.0", "7.2", "7.1"})
}

// Pipeline is an image pipeline the simulator runs: a run takes Duration on
// the simulator's clock and, unless Fail is set, publishes the next version
// of the gallery image Image (1.2.0 → 1.3.0), which `latest` then resolves to.
type Pipeline struct {
	Project  string
	ID       int
	Name     string
	Image    string        // gallery image name, e.g. ubuntu22
	Duration time.Duration // default 40 minutes
	Fail     bool          // runs fail at the end, publishing nothing
}

// DemoPipeline is the seeded image pipeline of linux-ci's image.
var DemoPipeline = Pipeline{Project: "platform", ID: 7, Name: "ubuntu22-image", Image: "ubuntu22", Duration: 40 * time.Minute}

// ImageFault makes the agents of a gallery image version misbehave.
type ImageFault struct {
	NeverOnline bool // the agent never comes online; the VM is deleted after 10 minutes
	FailJobs    bool // every job run on it fails
	// AgentVersion is an agent baked into the image older than the
	// organization's (AgentVersion): its agents come online with it and
	// update themselves, between jobs, SelfUpdate (default 10 minutes) later.
	AgentVersion string
	SelfUpdate   time.Duration
}

// AgentVersion is the version of the Azure Pipelines agent the simulated
// organization hands out, until SetAgentVersion changes it.
const AgentVersion = "4.258.1"

// defaultSelfUpdate is how long an agent older than the organization's
// takes to update itself.
const defaultSelfUpdate = 10 * time.Minute

// SetAgentVersion makes v the organization's agent version: agents on an
// older one update themselves, between jobs, after their image's
// SelfUpdate (default 10 minutes).
func (s *Sim) SetAgentVersion(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agentVersion = v
	for _, p := range s.pools {
		for _, n := range p.nodes {
			if hasAgent(n) && n.version() != v && n.updateAt.IsZero() {
				n.updateAt = s.now.Add(s.selfUpdate(n))
			}
		}
	}
}

// agentOnline gives node n's agent, coming online at at, its version: the
// one baked into its image, if older than the organization's, to be updated
// later (under mu).
func (s *Sim) agentOnline(n *node, at time.Time) {
	n.agentVersion, n.updateAt = s.agentVersion, time.Time{}
	if v := s.imageFault(n).AgentVersion; v != "" && v != s.agentVersion {
		n.agentVersion, n.updateAt = v, at.Add(s.selfUpdate(n))
	}
}

func (s *Sim) selfUpdate(n *node) time.Duration {
	if d := s.imageFault(n).SelfUpdate; d > 0 {
		return d
	}
	return defaultSelfUpdate
}

// updateAgent updates node n's agent to the organization's version once its
// time has come and it runs no job (under mu).
func (s *Sim) updateAgent(p *spool, n *node) {
	if n.updateAt.IsZero() || s.now.Before(n.updateAt) || n.job != nil || n.state != pool.NodeIdle {
		return
	}
	from := n.version()
	n.agentVersion, n.updateAt = s.agentVersion, time.Time{}
	s.logf(p, "info", "configurationJob", "Agent %s updated itself from %s to %s.", n.name, from, n.agentVersion)
}

type pipelineRun struct {
	id       int
	def      Pipeline
	created  time.Time
	finished time.Time // zero while it runs
	result   string    // succeeded or failed, once finished
	version  string    // what a successful run published
}

// pipelineState is the simulator's Azure Pipelines and image faults, made
// on first use (under Sim.mu).
type pipelineState struct {
	defs    map[string]Pipeline // by "project/id", lower-cased
	runs    map[int]*pipelineRun
	nextRun int
	bad     map[string]ImageFault // by lower-cased "image/version"
}

func (s *Sim) pipes() *pipelineState {
	if s.pipelines == nil {
		s.pipelines = &pipelineState{defs: map[string]Pipeline{}, runs: map[int]*pipelineRun{}, nextRun: firstRun,
			bad: map[string]ImageFault{}}
		s.pipelines.defs[pipeKey(DemoPipeline.Project, DemoPipeline.ID)] = DemoPipeline
	}
	return s.pipelines
}

const firstRun = 100

func pipeKey(project string, id int) string { return strings.ToLower(project) + "/" + strconv.Itoa(id) }

// SetPipeline adds or replaces an image pipeline.
func (s *Sim) SetPipeline(p Pipeline) {
	if p.Duration <= 0 {
		p.Duration = 40 * time.Minute
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pipes().defs[pipeKey(p.Project, p.ID)] = p
}

// MarkImageVersion makes agents made from the gallery image version (e.g.
// "ubuntu22", "1.3.0") misbehave as f says; a zero f clears the mark.
func (s *Sim) MarkImageVersion(image, version string, f ImageFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pipes().bad[strings.ToLower(image+"/"+version)] = f
}

// GalleryVersions lists a gallery image's versions, oldest first.
func (s *Sim) GalleryVersions(image string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleRuns()
	img := s.gallery[strings.ToLower(image)]
	if img == nil {
		return nil
	}
	var out []string
	for _, v := range img.versions {
		out = append(out, v.name)
	}
	return out
}

// imageFault is the mark of the image node n's VM runs, if any (under mu).
func (s *Sim) imageFault(n *node) ImageFault {
	if s.pipelines == nil || n.inst == nil {
		return ImageFault{}
	}
	_, img, v, ok := parseGalleryID(n.inst.image.ID)
	if !ok {
		return ImageFault{}
	}
	return s.pipelines.bad[strings.ToLower(img+"/"+v)]
}

// settleRuns ends the runs whose time has come, publishing their versions
// (under mu). Runs are settled when read, and by the model's tick.
func (s *Sim) settleRuns() {
	if s.pipelines == nil {
		return
	}
	for id := firstRun; id < s.pipelines.nextRun; id++ { // in the order they were queued
		r := s.pipelines.runs[id]
		if r == nil || !r.finished.IsZero() || s.now.Before(r.created.Add(r.def.Duration)) {
			continue
		}
		r.finished = r.created.Add(r.def.Duration)
		if r.def.Fail {
			r.result = "failed"
			continue
		}
		r.result = "succeeded"
		img := s.gallery[strings.ToLower(r.def.Image)]
		if img == nil {
			r.result = "failed"
			continue
		}
		r.version = nextVersion(img.versions[len(img.versions)-1].name)
		img.versions = append(img.versions, galleryVersion{r.version, r.finished})
	}
}

// nextVersion bumps a version's minor part: 1.2.0 → 1.3.0.
func nextVersion(v string) string {
	p := strings.Split(v, ".")
	if len(p) < 2 {
		return v + ".1"
	}
	n, _ := strconv.Atoi(p[1])
	p[1] = strconv.Itoa(n + 1)
	for i := 2; i < len(p); i++ {
		p[i] = "0"
	}
	return strings.Join(p, ".")
}

// pipelineRoute serves {org}/{project}/_apis/pipelines/{id}/runs[/{runId}].
func (s *Sim) pipelineRoute(method, project string, rest []string) (string, handler) {
	id := func(k int) int { n, _ := strconv.Atoi(rest[k]); return n }
	switch {
	case eq(rest, "*", "runs") && method == http.MethodPost:
		return "ado.pipelines.run", func(w http.ResponseWriter, r *http.Request) { s.runPipeline(w, r, project, id(0)) }
	case eq(rest, "*", "runs", "*") && method == http.MethodGet:
		return "ado.pipelines.getrun", func(w http.ResponseWriter, r *http.Request) { s.getRun(w, r, project, id(0), id(2)) }
	}
	return "ado.unknown", nil
}

func (s *Sim) runPipeline(w http.ResponseWriter, r *http.Request, project string, pid int) {
	var in pipelines.RunPipelineParameters
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		adoError(w, http.StatusBadRequest, "ArgumentException", "The request body is not valid RunPipelineParameters: "+err.Error())
		return
	}
	s.mu.Lock()
	ps := s.pipes()
	def, ok := ps.defs[pipeKey(project, pid)]
	var run *pipelineRun
	if ok {
		run = &pipelineRun{id: ps.nextRun, def: def, created: s.now}
		ps.runs[run.id] = run
		ps.nextRun++
	}
	var out pipelines.Run
	if ok {
		out = s.runJSON(r, run)
	}
	s.mu.Unlock()
	if !ok {
		pipelineNotFound(w, project, pid)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) getRun(w http.ResponseWriter, r *http.Request, project string, pid, rid int) {
	s.mu.Lock()
	s.settleRuns()
	_, ok := s.pipes().defs[pipeKey(project, pid)]
	run := s.pipes().runs[rid]
	var out pipelines.Run
	if ok && run != nil && run.def.ID == pid {
		out = s.runJSON(r, run)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		pipelineNotFound(w, project, pid)
	case run == nil || run.def.ID != pid:
		adoError(w, http.StatusNotFound, "PipelineRunNotFoundException", fmt.Sprintf("Run %d of pipeline %d could not be found.", rid, pid))
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

func pipelineNotFound(w http.ResponseWriter, project string, pid int) {
	adoError(w, http.StatusNotFound, "PipelineNotFoundException",
		fmt.Sprintf("Pipeline with id %d not found in project %s.", pid, project))
}

// runJSON is a run as Azure Pipelines answers it (under mu). A finished
// run's name carries the version it published, as image pipelines commonly
// name their runs.
func (s *Sim) runJSON(r *http.Request, run *pipelineRun) pipelines.Run {
	web := fmt.Sprintf("%s/%s/%s/_build/results?buildId=%d", baseURL(r), s.org, run.def.Project, run.id)
	api := fmt.Sprintf("%s/%s/%s/_apis/pipelines/%d/runs/%d", baseURL(r), s.org, run.def.Project, run.def.ID, run.id)
	name := run.created.Format("20060102") + "." + strconv.Itoa(run.id)
	state := pipelines.RunStateValues.InProgress
	out := pipelines.Run{Id: ptr(run.id), CreatedDate: adoTime(run.created), State: &state, Url: &api,
		Links:    map[string]any{"web": map[string]string{"href": web}, "self": map[string]string{"href": api}},
		Pipeline: &pipelines.PipelineReference{Id: ptr(run.def.ID), Name: ptr(run.def.Name), Folder: ptr(`\`)}}
	if !run.finished.IsZero() {
		state = pipelines.RunStateValues.Completed
		res := pipelines.RunResult(run.result)
		out.Result, out.FinishedDate = &res, adoTime(run.finished)
		if run.version != "" {
			name = run.def.Image + "-" + run.version
			out.TemplateParameters = &map[string]any{"imageVersion": run.version}
		}
	}
	out.Name = &name
	return out
}
