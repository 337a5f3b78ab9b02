package sim

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"

	"github.com/poolbot/poolbot/trace"
)

// Job history, as Azure DevOps pages a pool's job requests: GET
// pools/{poolId}/jobrequests with $top or continuationToken lists every
// request, queued, running and finished, newest first, at most
// MaxJobRequestsPage per answer whatever $top says; when more remain the
// answer carries X-MS-ContinuationToken, which the next call sends back as
// continuationToken.

// MaxJobRequestsPage is the most job requests one answer holds.
const MaxJobRequestsPage = 200

// maxHistory bounds the finished jobs kept per pool.
const maxHistory = 200_000

// HistoryJob is a finished job to seed a pool's history with.
type HistoryJob struct {
	Queued     time.Time
	Assigned   time.Time // zero: canceled while waiting
	Finished   time.Time
	Result     string // default succeeded, or canceled when never assigned
	Definition string
	Demands    []string
}

// jobMeta is what a seeded job carries beyond the model's job.
type jobMeta struct {
	definition string
	demands    []string
}

// keepFinished adds a job that just finished to its pool's history, kept in
// request id order (jobs finish out of it, but seldom far). s.mu is held.
func (s *Sim) keepFinished(p *spool, j *job) {
	if s.history == nil {
		s.history = map[int][]*job{}
	}
	h := s.history[p.id]
	i := len(h)
	for i > 0 && h[i-1].id > j.id {
		i--
	}
	h = append(h, nil)
	copy(h[i+1:], h[i:])
	h[i] = j
	if len(h) > maxHistory {
		h = append(h[:0:0], h[len(h)-maxHistory:]...)
	}
	s.history[p.id] = h
}

// AddJobHistory adds finished jobs to the named pool's history, as if they
// had run before now. Request ids are given in the order of queue time,
// after every id handed out so far.
func (s *Sim) AddJobHistory(name string, jobs []HistoryJob) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[strings.ToLower(name)]
	if p == nil {
		return fmt.Errorf("no pool named %q", name)
	}
	sorted := append([]HistoryJob(nil), jobs...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].Queued.Before(sorted[b].Queued) })
	for i, h := range sorted {
		if h.Queued.IsZero() || h.Finished.Before(h.Queued) || h.Finished.After(s.now) {
			return fmt.Errorf("history job %d: queued %s, finished %s: must be queued, and finished by now (%s)",
				i, h.Queued.Format(time.RFC3339), h.Finished.Format(time.RFC3339), s.now.Format(time.RFC3339))
		}
	}
	if s.jobMeta == nil {
		s.jobMeta = map[uint64]jobMeta{}
	}
	for _, h := range sorted {
		s.nextReq++
		j := &job{id: s.nextReq, name: trace.JobName(s.nextReq), queued: h.Queued, assigned: h.Assigned,
			finish: h.Finished, finished: h.Finished, result: h.Result}
		if j.result == "" {
			j.result = "succeeded"
			if h.Assigned.IsZero() {
				j.result = "canceled"
			}
		}
		if !h.Assigned.IsZero() {
			j.dur = h.Finished.Sub(h.Assigned)
		}
		if h.Definition != "" || h.Demands != nil {
			s.jobMeta[j.id] = jobMeta{definition: h.Definition, demands: append([]string(nil), h.Demands...)}
		}
		s.keepFinished(p, j)
	}
	return nil
}

// demandsOf is what the simulated pipelines ask of an agent.
func demandsOf(p *spool) []string {
	os := "Linux"
	if p.os == "windows" {
		os = "Windows_NT"
	}
	return []string{"Agent.OS -equals " + os, "Agent.Version -gtVersion 2.163.1"}
}

// pagedJobRequest renders j with its definition and demands.
func (s *Sim) pagedJobRequest(p *spool, j *job) taskagent.TaskAgentJobRequest {
	jr := s.jobRequest(p, j)
	demands := demandsOf(p)
	if m, ok := s.jobMeta[j.id]; ok {
		if m.definition != "" {
			jr.Definition.Name = ptr(m.definition)
		}
		if m.demands != nil {
			demands = m.demands
		}
	}
	ds := make([]any, len(demands))
	for i, d := range demands {
		ds[i] = d
	}
	jr.Demands = &ds
	return jr
}

// jobPageQuery reads a paged listing's $top (at most MaxJobRequestsPage,
// whatever it says) and continuationToken (0: from the newest), or answers
// 400 and reports false.
func jobPageQuery(w http.ResponseWriter, q url.Values) (top int, from uint64, ok bool) {
	top = MaxJobRequestsPage
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			adoError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("The value %q of parameter $top is not valid.", v))
			return 0, 0, false
		}
		if n > 0 && n < top {
			top = n
		}
	}
	if v := q.Get("continuationToken"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			adoError(w, http.StatusBadRequest, "InvalidContinuationTokenException", fmt.Sprintf("The continuation token %q is not valid.", v))
			return 0, 0, false
		}
		from = n
	}
	return top, from, true
}

// adoJobRequestPages answers one page of the pool's job requests.
func (s *Sim) adoJobRequestPages(w http.ResponseWriter, r *http.Request, id int) {
	q := r.URL.Query()
	top, from, ok := jobPageQuery(w, q)
	if !ok {
		return
	}
	s.mu.Lock()
	p := s.byID[id]
	if p == nil {
		s.mu.Unlock()
		if isBuiltin(id) {
			collection[taskagent.TaskAgentJobRequest](w, nil)
			return
		}
		poolNotFound(w, id)
		return
	}
	// Newest first: the few live requests merged with the history, which
	// is kept in id order, from the token's id down.
	live := make([]*job, 0, len(p.queue)+len(p.nodes))
	live = append(live, p.queue...)
	for _, n := range p.nodes {
		if n.job != nil {
			live = append(live, n.job)
		}
	}
	sort.Slice(live, func(a, b int) bool { return live[a].id > live[b].id })
	hist := s.history[p.id]
	li, hi := 0, len(hist)-1
	if from > 0 {
		li = sort.Search(len(live), func(k int) bool { return live[k].id <= from })
		hi = sort.Search(len(hist), func(k int) bool { return hist[k].id > from }) - 1
	}
	nextJob := func() *job {
		switch {
		case li < len(live) && (hi < 0 || live[li].id > hist[hi].id):
			li++
			return live[li-1]
		case hi >= 0:
			hi--
			return hist[hi+1]
		}
		return nil
	}
	out := make([]taskagent.TaskAgentJobRequest, 0, top)
	next := ""
	for j := nextJob(); j != nil; j = nextJob() {
		if len(out) == top {
			next = strconv.FormatUint(j.id, 10)
			break
		}
		out = append(out, s.pagedJobRequest(p, j))
	}
	s.mu.Unlock()
	if next != "" {
		w.Header().Set("X-MS-ContinuationToken", next)
	}
	collection(w, out)
}
