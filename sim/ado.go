package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/elastic"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"
	"github.com/poolbot/poolbot/pool"
)

// Location ids the SDK asks for (OPTIONS {org}/_apis).
const (
	LocElasticPools = "dd3c938f-835b-4971-b99a-db75a47aad43"
	LocNodes        = "1b232402-5ff0-42ad-9703-d76497835eb6"
	LocLogs         = "595b1769-61d5-4076-a72a-98a02105ca9a"
	LocPools        = "a8c47e17-4d56-4a56-92bb-de7ea7dc65be"
	LocAgents       = "e298ef32-5878-4cab-993c-043836571f42"
	LocJobRequests  = "fc825784-c92a-4299-9221-998a02d1b54f"
	LocResourceArea = "e81700f7-3be2-46de-8624-2eb35882fcaa"
	// AreaDistributedTask is the resource area id of distributedtask.
	AreaDistributedTask = "a85b8835-c1a1-4aac-ae97-1c3d0ba72dbd"
)

func ptr[T any](v T) *T { return &v }

func adoTime(t time.Time) *azuredevops.Time {
	if t.IsZero() {
		return nil
	}
	return &azuredevops.Time{Time: t.UTC()}
}

type location struct {
	ID              string `json:"id"`
	Area            string `json:"area"`
	ResourceName    string `json:"resourceName"`
	RouteTemplate   string `json:"routeTemplate"`
	ResourceVersion int    `json:"resourceVersion"`
	MinVersion      string `json:"minVersion"`
	MaxVersion      string `json:"maxVersion"`
	ReleasedVersion string `json:"releasedVersion"`
}

var locations = []location{
	{LocElasticPools, "distributedtask", "elasticpools", "_apis/{area}/{resource}/{poolId}", 1, "6.1", "7.2", "0.0"},
	{LocNodes, "distributedtask", "nodes", "_apis/{area}/elasticpools/{poolId}/{resource}/{elasticNodeId}", 1, "6.1", "7.2", "0.0"},
	{LocLogs, "distributedtask", "logs", "_apis/{area}/elasticpools/{poolId}/{resource}", 1, "6.1", "7.2", "0.0"},
	{LocPools, "distributedtask", "pools", "_apis/{area}/{resource}/{poolId}", 1, "3.0", "7.2", "7.1"},
	{LocAgents, "distributedtask", "agents", "_apis/{area}/pools/{poolId}/{resource}/{agentId}", 1, "3.0", "7.2", "7.1"},
	{LocJobRequests, "distributedtask", "jobrequests", "_apis/{area}/pools/{poolId}/{resource}/{requestId}", 1, "3.0", "7.2", "7.1"},
	{LocResourceArea, "Location", "ResourceAreas", "_apis/{resource}/{areaId}", 1, "3.2", "7.2", "0.0"},
}

func (s *Sim) adoRoute(method string, seg []string) (string, handler) {
	if len(seg) > 2 && strings.EqualFold(seg[1], "_apis") && strings.EqualFold(seg[2], "pipelines") {
		return s.pipelineRoute(method, seg[0], seg[3:])
	}
	if len(seg) == 0 || !strings.EqualFold(seg[0], "_apis") {
		return "ado.unknown", nil
	}
	if name, h := s.managedADORoute(method, seg); name != "" {
		return name, h
	}
	rest := seg[1:]
	get, patch, post := method == http.MethodGet, method == http.MethodPatch, method == http.MethodPost
	id := func(k int) int { n, _ := strconv.Atoi(rest[k]); return n }
	switch {
	case len(rest) == 0 && method == http.MethodOptions:
		return "ado.options", s.adoOptions
	case eq(rest, "resourceAreas") && get:
		return "ado.resourceareas", s.adoResourceAreas
	case eq(rest, "distributedtask", "elasticpools") && get:
		return "ado.elasticpools.list", s.adoListPools
	case eq(rest, "distributedtask", "elasticpools") && post:
		return "ado.elasticpools.create", s.adoCreatePool
	case eq(rest, "distributedtask", "elasticpools", "*") && get:
		return "ado.elasticpools.get", func(w http.ResponseWriter, r *http.Request) { s.adoGetPool(w, r, id(2)) }
	case eq(rest, "distributedtask", "elasticpools", "*") && patch:
		return "ado.elasticpools.update", func(w http.ResponseWriter, r *http.Request) { s.adoUpdatePool(w, r, id(2)) }
	case eq(rest, "distributedtask", "elasticpools", "*", "nodes") && get:
		return "ado.nodes.list", func(w http.ResponseWriter, r *http.Request) { s.adoNodes(w, r, id(2)) }
	case eq(rest, "distributedtask", "elasticpools", "*", "nodes", "*") && patch:
		return "ado.nodes.update", func(w http.ResponseWriter, r *http.Request) { s.adoUpdateNode(w, r, id(2), id(4)) }
	case eq(rest, "distributedtask", "elasticpools", "*", "logs") && get:
		return "ado.logs", func(w http.ResponseWriter, r *http.Request) { s.adoLogs(w, r, id(2)) }
	case eq(rest, "distributedtask", "pools") && get:
		return "ado.pools.list", s.adoAgentPools
	case eq(rest, "distributedtask", "pools", "*") && get:
		return "ado.pools.get", func(w http.ResponseWriter, r *http.Request) { s.adoAgentPool(w, r, id(2)) }
	case eq(rest, "distributedtask", "pools", "*", "agents") && get:
		return "ado.agents.list", func(w http.ResponseWriter, r *http.Request) { s.adoAgents(w, r, id(2), 0) }
	case eq(rest, "distributedtask", "pools", "*", "agents", "*") && get:
		return "ado.agents.get", func(w http.ResponseWriter, r *http.Request) { s.adoAgents(w, r, id(2), id(4)) }
	case eq(rest, "distributedtask", "pools", "*", "jobrequests") && get:
		return "ado.jobrequests", func(w http.ResponseWriter, r *http.Request) { s.adoJobRequests(w, r, id(2)) }
	}
	return "ado.unknown", nil
}

func collection[T any](w http.ResponseWriter, v []T) {
	if v == nil {
		v = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(v), "value": v})
}

func (s *Sim) adoOptions(w http.ResponseWriter, r *http.Request) {
	collection(w, locations)
}

func (s *Sim) adoResourceAreas(w http.ResponseWriter, r *http.Request) {
	collection(w, []map[string]string{{
		"id": AreaDistributedTask, "name": "distributedtask", "locationUrl": baseURL(r) + "/" + s.org + "/",
	}})
}

func poolNotFound(w http.ResponseWriter, id int) {
	adoError(w, http.StatusNotFound, "TaskAgentPoolNotFoundException", fmt.Sprintf("Agent pool %d could not be found.", id))
}

func (s *Sim) elasticPool(p *spool) elastic.ElasticPool {
	desired := 0
	for _, n := range p.nodes {
		if n.state != pool.NodeDeletingCompute {
			desired++
		}
	}
	e := elastic.ElasticPool{
		AgentInteractiveUI:  ptr(p.interactiveUI),
		AzureId:             ptr(scaleSetID(p.ss.name)),
		DesiredIdle:         ptr(p.standby),
		DesiredSize:         ptr(desired),
		MaxCapacity:         ptr(p.max),
		MaxSavedNodeCount:   ptr(p.maxSaved),
		OfflineSince:        adoTime(p.offlineSince),
		OrchestrationType:   ptr(elastic.OrchestrationTypeValues.Uniform),
		OsType:              ptr(elastic.OperatingSystemType(p.os)),
		PoolId:              ptr(p.id),
		RecycleAfterEachUse: ptr(p.recycle),
		SizingAttempts:      ptr(p.sizingAttempts),
		State:               ptr(elastic.ElasticPoolState(p.state)),
		TimeToLiveMinutes:   ptr(p.ttl),
	}
	if u, err := uuid.Parse(p.endpointID); err == nil {
		e.ServiceEndpointId = &u
	}
	if u, err := uuid.Parse(p.endpointScope); err == nil {
		e.ServiceEndpointScope = &u
	}
	return e
}

func (s *Sim) adoListPools(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := make([]elastic.ElasticPool, len(s.pools))
	for i, p := range s.pools {
		out[i] = s.elasticPool(p)
	}
	s.mu.Unlock()
	collection(w, out)
}

func (s *Sim) adoGetPool(w http.ResponseWriter, r *http.Request, id int) {
	s.mu.Lock()
	p := s.byID[id]
	var e elastic.ElasticPool
	if p != nil {
		e = s.elasticPool(p)
	}
	s.mu.Unlock()
	if p == nil {
		poolNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func validSettings(standby, max, ttl int) string {
	switch {
	case max < 1 || max > 1000:
		return fmt.Sprintf("The maximum number of virtual machines (%d) must be between 1 and 1000.", max)
	case standby < 0:
		return fmt.Sprintf("The number of agents to keep on standby (%d) cannot be negative.", standby)
	case standby > max:
		return fmt.Sprintf("The number of agents to keep on standby (%d) cannot be greater than the maximum number of virtual machines (%d).", standby, max)
	case ttl < 0:
		return fmt.Sprintf("The delay in minutes before deleting excess idle agents (%d) cannot be negative.", ttl)
	}
	return ""
}

func (s *Sim) adoUpdatePool(w http.ResponseWriter, r *http.Request, id int) {
	var in elastic.ElasticPoolSettings
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		adoError(w, http.StatusBadRequest, "ArgumentException", "The request body is not a valid ElasticPoolSettings: "+err.Error())
		return
	}
	s.mu.Lock()
	p := s.byID[id]
	if p == nil {
		s.mu.Unlock()
		poolNotFound(w, id)
		return
	}
	standby, mx, ttl := p.standby, p.max, p.ttl
	if in.DesiredIdle != nil {
		standby = *in.DesiredIdle
	}
	if in.MaxCapacity != nil {
		mx = *in.MaxCapacity
	}
	if in.TimeToLiveMinutes != nil {
		ttl = *in.TimeToLiveMinutes
	}
	if msg := validSettings(standby, mx, ttl); msg != "" {
		s.mu.Unlock()
		adoError(w, http.StatusBadRequest, "ArgumentException", msg)
		return
	}
	if in.AzureId != nil && !strings.EqualFold(*in.AzureId, scaleSetID(p.ss.name)) {
		s.mu.Unlock()
		adoError(w, http.StatusBadRequest, "ArgumentException", "The scale set of an elastic pool cannot be changed.")
		return
	}
	p.standby, p.max, p.ttl = standby, mx, ttl
	if in.RecycleAfterEachUse != nil {
		p.recycle = *in.RecycleAfterEachUse
	}
	if in.MaxSavedNodeCount != nil {
		p.maxSaved = *in.MaxSavedNodeCount
	}
	if in.AgentInteractiveUI != nil {
		p.interactiveUI = *in.AgentInteractiveUI
	}
	if in.ServiceEndpointId != nil {
		p.endpointID = in.ServiceEndpointId.String()
	}
	if in.ServiceEndpointScope != nil {
		p.endpointScope = in.ServiceEndpointScope.String()
	}
	e := s.elasticPool(p)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, e)
}

func (s *Sim) adoCreatePool(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := strings.TrimSpace(q.Get("poolName"))
	var in elastic.ElasticPool
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		adoError(w, http.StatusBadRequest, "ArgumentException", "The request body is not a valid ElasticPool: "+err.Error())
		return
	}
	if name == "" {
		adoError(w, http.StatusBadRequest, "ArgumentNullException", "Value cannot be null.\r\nParameter name: poolName")
		return
	}
	standby, mx, ttl := deref(in.DesiredIdle, 0), deref(in.MaxCapacity, 0), deref(in.TimeToLiveMinutes, 30)
	if msg := validSettings(standby, mx, ttl); msg != "" {
		adoError(w, http.StatusBadRequest, "ArgumentException", msg)
		return
	}
	if in.AzureId == nil || *in.AzureId == "" {
		adoError(w, http.StatusBadRequest, "ArgumentNullException", "Value cannot be null.\r\nParameter name: azureId")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byName[strings.ToLower(name)] != nil || strings.EqualFold(name, "Default") || strings.EqualFold(name, "Azure Pipelines") {
		adoError(w, http.StatusConflict, "AgentPoolExistsException", fmt.Sprintf("Agent pool %s already exists.", name))
		return
	}
	ss := s.scaleSetByID(*in.AzureId)
	if ss == nil {
		adoError(w, http.StatusBadRequest, "ElasticPoolException",
			fmt.Sprintf("The virtual machine scale set %s could not be found. Check that it exists and that the service connection has access to it.", *in.AzureId))
		return
	}
	if ss.pool != nil {
		adoError(w, http.StatusBadRequest, "ElasticPoolException",
			fmt.Sprintf("This virtual machine scale set is already in use by pool %s.", ss.pool.name))
		return
	}
	if why := ss.requirements(); why != "" {
		adoError(w, http.StatusBadRequest, "ElasticPoolException",
			fmt.Sprintf("The virtual machine scale set %s cannot be used for an elastic pool: %s.", ss.name, why))
		return
	}
	os := pool.Linux
	if in.OsType != nil && strings.EqualFold(string(*in.OsType), "windows") {
		os = pool.Windows
	}
	p := s.newPool(name, os, ss)
	p.standby, p.max, p.ttl = standby, mx, ttl
	p.recycle = deref(in.RecycleAfterEachUse, false)
	p.maxSaved = deref(in.MaxSavedNodeCount, 0)
	p.interactiveUI = deref(in.AgentInteractiveUI, false)
	p.jobsPerHour = 2.4 * float64(mx)
	if in.ServiceEndpointId != nil {
		p.endpointID = in.ServiceEndpointId.String()
	}
	if in.ServiceEndpointScope != nil {
		p.endpointScope = in.ServiceEndpointScope.String()
	}
	// The service takes over the scale set: VMs it did not create go.
	if n := len(ss.instances); n > 0 {
		ss.instances = nil
		s.logf(p, "info", "deleteVMs", "Deleting %d virtual machines that are not agents of this pool.", n)
	}
	s.logf(p, "info", "configurationJob", "Elastic pool %s created on virtual machine scale set %s.", name, ss.name)
	res := elastic.ElasticPoolCreationResult{
		AgentPool:   ptr(s.elasticAgentPool(p)),
		ElasticPool: ptr(s.elasticPool(p)),
	}
	if pid := q.Get("projectId"); pid != "" {
		if u, err := uuid.Parse(pid); err == nil {
			res.AgentQueue = &elastic.TaskAgentQueue{Id: ptr(p.id + 1000), Name: ptr(name), ProjectId: &u,
				Pool: &elastic.TaskAgentPoolReference{Id: ptr(p.id), Name: ptr(name)}}
		}
	}
	writeJSON(w, http.StatusOK, res)
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func (s *Sim) scaleSetByID(id string) *scaleSet {
	pre := strings.ToLower(armPrefix() + "/virtualMachineScaleSets/")
	l := strings.ToLower(strings.TrimSuffix(id, "/"))
	if !strings.HasPrefix(l, pre) {
		return nil
	}
	return s.scaleSets[strings.TrimPrefix(l, pre)]
}

func (s *Sim) elasticNode(p *spool, n *node) elastic.ElasticNode {
	e := elastic.ElasticNode{
		Id:             ptr(n.id),
		Name:           ptr(n.name),
		PoolId:         ptr(p.id),
		State:          ptr(elastic.ElasticNodeState(n.state)),
		ComputeState:   ptr(elastic.ElasticComputeState(n.computeState)),
		AgentState:     ptr(elastic.ElasticAgentState(n.agentState)),
		StateChangedOn: adoTime(n.changed),
		DesiredState:   ptr(elastic.ElasticNodeState(orNone(n.desired))),
	}
	if n.inst != nil {
		e.ComputeId = ptr(strconv.Itoa(n.inst.id))
	}
	if !n.agentCreated.IsZero() {
		e.AgentId = ptr(n.agentID)
	}
	if n.lastReq != 0 {
		e.RequestId = ptr(n.lastReq)
	}
	return e
}

func orNone(s pool.NodeState) pool.NodeState {
	if s == "" {
		return pool.NodeNone
	}
	return s
}

func (s *Sim) adoNodes(w http.ResponseWriter, r *http.Request, id int) {
	state := r.URL.Query().Get("$state")
	s.mu.Lock()
	p := s.byID[id]
	var out []elastic.ElasticNode
	if p != nil {
		out = make([]elastic.ElasticNode, 0, len(p.nodes))
		for _, n := range p.nodes {
			if state == "" || strings.EqualFold(state, string(n.state)) {
				out = append(out, s.elasticNode(p, n))
			}
		}
	}
	s.mu.Unlock()
	if p == nil {
		poolNotFound(w, id)
		return
	}
	collection(w, out)
}

func (s *Sim) adoUpdateNode(w http.ResponseWriter, r *http.Request, id, nodeID int) {
	var in elastic.ElasticNodeSettings
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.State == nil {
		adoError(w, http.StatusBadRequest, "ArgumentException", "The request body must be an ElasticNodeSettings with a state.")
		return
	}
	want := pool.NodeState(*in.State)
	switch want {
	case pool.NodePendingReimage, pool.NodePendingDelete, pool.NodeSaved:
	default:
		adoError(w, http.StatusBadRequest, "ArgumentException",
			fmt.Sprintf("A node's state can be set to pendingReimage, pendingDelete or saved, not %s.", want))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byID[id]
	if p == nil {
		poolNotFound(w, id)
		return
	}
	var n *node
	for _, x := range p.nodes {
		if x.id == nodeID {
			n = x
		}
	}
	if n == nil {
		adoError(w, http.StatusNotFound, "ElasticNodeNotFoundException", fmt.Sprintf("Elastic node %d could not be found in pool %d.", nodeID, id))
		return
	}
	switch {
	case n.state == pool.NodeDeletingCompute:
		// Already going.
	case n.job != nil:
		n.desired = want
		if want == pool.NodePendingDelete {
			s.setState(n, pool.NodeAssignedPendingDelete, "", "", 0)
		}
	default:
		n.desired = ""
		s.setState(n, want, "", "", 0)
	}
	writeJSON(w, http.StatusOK, s.elasticNode(p, n))
}

func (s *Sim) adoLogs(w http.ResponseWriter, r *http.Request, id int) {
	top := 200
	if v, err := strconv.Atoi(r.URL.Query().Get("$top")); err == nil && v > 0 {
		top = v
	}
	s.mu.Lock()
	p := s.byID[id]
	var out []elastic.ElasticPoolLog
	if p != nil {
		// Newest first, as the Diagnostics tab shows them.
		for k := len(p.logs) - 1; k >= max(0, len(p.logs)-maxLogs) && len(out) < top; k-- {
			l := p.logs[k]
			out = append(out, elastic.ElasticPoolLog{
				Id: ptr(l.id), Level: ptr(elastic.LogLevel(l.level)), Message: ptr(l.message),
				Operation: ptr(elastic.OperationType(l.operation)), PoolId: ptr(p.id), Timestamp: adoTime(l.at),
			})
		}
	}
	s.mu.Unlock()
	if p == nil {
		poolNotFound(w, id)
		return
	}
	collection(w, out)
}

// Non-elastic agent pools every organization has.
var builtinPools = []taskagent.TaskAgentPool{
	{Id: ptr(1), Name: ptr("Default"), IsHosted: ptr(false), IsLegacy: ptr(false), PoolType: ptr(taskagent.TaskAgentPoolTypeValues.Automation),
		Options: ptr(taskagent.TaskAgentPoolOptionsValues.None), Size: ptr(0), AutoProvision: ptr(true), AutoUpdate: ptr(true)},
	{Id: ptr(9), Name: ptr("Azure Pipelines"), IsHosted: ptr(true), IsLegacy: ptr(false), PoolType: ptr(taskagent.TaskAgentPoolTypeValues.Automation),
		Options: ptr(taskagent.TaskAgentPoolOptionsValues.None), Size: ptr(1), AutoProvision: ptr(true), AutoUpdate: ptr(true)},
}

func (s *Sim) agentPool(p *spool) taskagent.TaskAgentPool {
	opts := taskagent.TaskAgentPoolOptionsValues.ElasticPool
	if p.recycle {
		opts += ", " + taskagent.TaskAgentPoolOptionsValues.SingleUseAgents
	}
	size := 0
	for _, n := range p.nodes {
		if hasAgent(n) {
			size++
		}
	}
	return taskagent.TaskAgentPool{
		Id: ptr(p.id), Name: ptr(p.name), IsHosted: ptr(false), IsLegacy: ptr(false),
		PoolType: ptr(taskagent.TaskAgentPoolTypeValues.Automation), Options: ptr(opts), Size: ptr(size),
		AutoProvision: ptr(false), AutoSize: ptr(true), AutoUpdate: ptr(true), CreatedOn: adoTime(p.createdOn),
		AgentCloudId: ptr(p.id),
	}
}

func (s *Sim) elasticAgentPool(p *spool) elastic.TaskAgentPool {
	a := s.agentPool(p)
	return elastic.TaskAgentPool{Id: a.Id, Name: a.Name, IsHosted: a.IsHosted, IsLegacy: a.IsLegacy,
		PoolType: ptr(elastic.TaskAgentPoolType(*a.PoolType)), Options: ptr(elastic.TaskAgentPoolOptions(*a.Options)),
		Size: a.Size, AutoProvision: a.AutoProvision, AutoSize: a.AutoSize, AutoUpdate: a.AutoUpdate, CreatedOn: a.CreatedOn}
}

func (s *Sim) adoAgentPools(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("poolName")
	s.mu.Lock()
	out := make([]taskagent.TaskAgentPool, 0, len(s.pools)+len(builtinPools))
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
	s.mu.Unlock()
	collection(w, out)
}

func (s *Sim) adoAgentPool(w http.ResponseWriter, r *http.Request, id int) {
	for _, b := range builtinPools {
		if *b.Id == id {
			writeJSON(w, http.StatusOK, b)
			return
		}
	}
	s.mu.Lock()
	p := s.byID[id]
	var a taskagent.TaskAgentPool
	if p != nil {
		a = s.agentPool(p)
	}
	s.mu.Unlock()
	if p == nil {
		poolNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func hasAgent(n *node) bool {
	return !n.agentCreated.IsZero() && n.state != pool.NodeDeletingCompute
}

func (s *Sim) agent(p *spool, n *node, withRequest bool) taskagent.TaskAgent {
	status := taskagent.TaskAgentStatusValues.Offline
	switch n.state {
	case pool.NodeIdle, pool.NodeAssigned, pool.NodeAssignedPendingDelete, pool.NodePendingReimage, pool.NodePendingDelete:
		status = taskagent.TaskAgentStatusValues.Online
	}
	osd := "Linux 5.15.0-1075-azure #84-Ubuntu SMP"
	if p.os == pool.Windows {
		osd = "Microsoft Windows 10.0.20348"
	}
	a := taskagent.TaskAgent{
		Id: ptr(n.agentID), Name: ptr(n.name), Enabled: ptr(n.state != pool.NodeSaved), Status: ptr(status),
		Version: ptr(n.version()), OsDescription: ptr(osd), ProvisioningState: ptr("Provisioned"),
		CreatedOn: adoTime(n.agentCreated), StatusChangedOn: adoTime(n.changed), MaxParallelism: ptr(1),
	}
	if withRequest && n.job != nil {
		a.AssignedRequest = ptr(s.jobRequest(p, n.job))
	}
	return a
}

func (s *Sim) adoAgents(w http.ResponseWriter, r *http.Request, id, agentID int) {
	q := r.URL.Query()
	withReq := strings.EqualFold(q.Get("includeAssignedRequest"), "true")
	name := q.Get("agentName")
	s.mu.Lock()
	p := s.byID[id]
	var out []taskagent.TaskAgent
	if p != nil {
		for _, n := range p.nodes {
			if hasAgent(n) && (agentID == 0 || n.agentID == agentID) && (name == "" || strings.EqualFold(name, n.name)) {
				out = append(out, s.agent(p, n, withReq))
			}
		}
	}
	s.mu.Unlock()
	switch {
	case p == nil && !isBuiltin(id):
		poolNotFound(w, id)
	case agentID != 0 && len(out) == 0:
		adoError(w, http.StatusNotFound, "TaskAgentNotFoundException", fmt.Sprintf("No agent found in pool %d with ID %d.", id, agentID))
	case agentID != 0:
		writeJSON(w, http.StatusOK, out[0])
	default:
		collection(w, out)
	}
}

func isBuiltin(id int) bool {
	for _, b := range builtinPools {
		if *b.Id == id {
			return true
		}
	}
	return false
}

func (s *Sim) jobRequest(p *spool, j *job) taskagent.TaskAgentJobRequest {
	jr := taskagent.TaskAgentJobRequest{
		RequestId: ptr(j.id), PoolId: ptr(p.id), QueueId: ptr(p.id + 1000), JobName: ptr(j.name),
		JobId:    ptr(uuid.NewSHA1(uuid.NameSpaceOID, []byte(strconv.FormatUint(j.id, 10)))),
		PlanType: ptr("Build"), QueueTime: adoTime(j.queued), MatchesAllAgentsInPool: ptr(true),
		Definition: &taskagent.TaskOrchestrationOwner{Id: ptr(int(j.id%7) + 1), Name: ptr("contoso-app-" + strings.ToLower(strings.Fields(j.name)[0]))},
		Owner:      &taskagent.TaskOrchestrationOwner{Id: ptr(int(j.id)), Name: ptr(fmt.Sprintf("20260105.%d", j.id))},
	}
	if !j.assigned.IsZero() {
		jr.AssignTime, jr.ReceiveTime = adoTime(j.assigned), adoTime(j.assigned)
		jr.ReservedAgent = &taskagent.TaskAgentReference{Id: ptr(j.agentID), Name: ptr(j.nodeName()),
			Enabled: ptr(true), Status: ptr(taskagent.TaskAgentStatusValues.Online)}
		jr.LockedUntil = adoTime(s.now.Add(5 * time.Minute))
	}
	if !j.finished.IsZero() {
		jr.FinishTime = adoTime(j.finished)
		jr.Result = ptr(taskagent.TaskResult(j.result))
		jr.LockedUntil = nil
	}
	return jr
}

func (j *job) nodeName() string {
	if j.node == nil {
		return ""
	}
	return j.node.name
}

// adoJobRequests lists the pool's queued and running requests, then its
// last completedRequestCount finished ones (default none); with $top or
// continuationToken it pages the whole history instead (jobrequests.go).
func (s *Sim) adoJobRequests(w http.ResponseWriter, r *http.Request, id int) {
	q := r.URL.Query()
	if q.Has("$top") || q.Has("continuationToken") {
		s.adoJobRequestPages(w, r, id)
		return
	}
	done, _ := strconv.Atoi(q.Get("completedRequestCount"))
	agentID, _ := strconv.Atoi(q.Get("agentId"))
	s.mu.Lock()
	p := s.byID[id]
	var out []taskagent.TaskAgentJobRequest
	if p != nil {
		if agentID == 0 {
			for _, j := range p.queue {
				out = append(out, s.jobRequest(p, j))
			}
		}
		var running []*job
		for _, n := range p.nodes {
			if n.job != nil && (agentID == 0 || n.agentID == agentID) {
				running = append(running, n.job)
			}
		}
		sort.Slice(running, func(a, b int) bool { return running[a].id < running[b].id })
		for _, j := range running {
			out = append(out, s.jobRequest(p, j))
		}
		for k := len(p.done) - 1; k >= 0 && done > 0; k-- {
			if j := p.done[k]; agentID == 0 || j.agentID == agentID {
				out = append(out, s.jobRequest(p, j))
				done--
			}
		}
	}
	s.mu.Unlock()
	if p == nil && !isBuiltin(id) {
		poolNotFound(w, id)
		return
	}
	collection(w, out)
}
