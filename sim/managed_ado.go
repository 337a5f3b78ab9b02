package sim

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"
)

// A Managed DevOps Pool is also an Azure DevOps agent pool of the same name
// (ids from 100001, apart from any number of elastic pools): the agent pool
// list holds it, and its job requests are the jobs waiting for an agent and
// those its Allocated agents run.

func (s *Sim) managedADORoute(method string, seg []string) (string, handler) {
	if method != http.MethodGet || len(seg) < 3 || !eq(seg[:3], "_apis", "distributedtask", "pools") {
		return "", nil
	}
	rest := seg[3:]
	id := func() int { n, _ := strconv.Atoi(rest[0]); return n }
	switch {
	case len(rest) == 0:
		return "ado.pools.list", s.adoAgentPoolsWithManaged
	case eq(rest, "*") && s.managedByADO(id()) != nil:
		return "ado.pools.get", func(w http.ResponseWriter, r *http.Request) { s.adoManagedPool(w, id()) }
	case eq(rest, "*", "jobrequests") && s.managedByADO(id()) != nil:
		return "ado.jobrequests", func(w http.ResponseWriter, r *http.Request) { s.adoManagedJobs(w, id()) }
	}
	return "", nil
}

func (s *Sim) managedByADO(id int) *mpool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.managed == nil {
		return nil
	}
	for _, p := range s.managed.pools {
		if p.adoID == id {
			return p
		}
	}
	return nil
}

func (s *Sim) managedAgentPool(p *mpool) taskagent.TaskAgentPool {
	return taskagent.TaskAgentPool{Id: ptr(p.adoID), Name: ptr(p.name), IsHosted: ptr(false), IsLegacy: ptr(false),
		PoolType: ptr(taskagent.TaskAgentPoolTypeValues.Automation), Options: ptr(taskagent.TaskAgentPoolOptionsValues.None),
		Size: ptr(len(p.agents)), AutoProvision: ptr(false), AutoUpdate: ptr(true)}
}

func (s *Sim) adoAgentPoolsWithManaged(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("poolName")
	s.mu.Lock()
	var out []taskagent.TaskAgentPool
	for _, b := range builtinPools {
		if name == "" || strings.EqualFold(name, *b.Name) {
			out = append(out, b)
		}
	}
	for _, p := range s.pools {
		if name == "" || strings.EqualFold(name, p.name) {
			out = append(out, s.agentPool(p))
		}
	}
	var ms []*mpool
	if s.managed != nil {
		for _, p := range s.managed.pools {
			ms = append(ms, p)
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].adoID < ms[j].adoID })
	for _, p := range ms {
		if name == "" || strings.EqualFold(name, p.name) {
			out = append(out, s.managedAgentPool(p))
		}
	}
	s.mu.Unlock()
	collection(w, out)
}

func (s *Sim) adoManagedPool(w http.ResponseWriter, id int) {
	p := s.managedByADO(id)
	s.mu.Lock()
	a := s.managedAgentPool(p)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, a)
}

func (s *Sim) adoManagedJobs(w http.ResponseWriter, id int) {
	p := s.managedByADO(id)
	s.mu.Lock()
	var out []taskagent.TaskAgentJobRequest
	for i := 0; i < p.waiting; i++ {
		out = append(out, taskagent.TaskAgentJobRequest{RequestId: ptr(uint64(900000 + i)), PoolId: ptr(id),
			JobName: ptr("Build"), PlanType: ptr("Build"), QueueTime: adoTime(s.now)})
	}
	for i, a := range p.agents {
		if a.status == "Allocated" {
			out = append(out, taskagent.TaskAgentJobRequest{RequestId: ptr(uint64(800000 + i)), PoolId: ptr(id),
				JobName: ptr("Build"), PlanType: ptr("Build"), QueueTime: adoTime(a.since), AssignTime: adoTime(a.since),
				ReservedAgent: &taskagent.TaskAgentReference{Name: ptr(a.name), Enabled: ptr(true), Status: ptr(taskagent.TaskAgentStatusValues.Online)}})
		}
	}
	s.mu.Unlock()
	collection(w, out)
}
