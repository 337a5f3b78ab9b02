package sim

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/trace"
)

// spool is an elastic pool and its agent pool (same id and name).
type spool struct {
	id             int
	name           string
	os             pool.OS
	state          pool.State
	standby, max   int
	ttl            int
	recycle        bool
	maxSaved       int
	sizingAttempts int
	interactiveUI  bool
	endpointID     string
	endpointScope  string
	offlineSince   time.Time
	createdOn      time.Time
	ss             *scaleSet
	nodes          []*node
	failure        Failure
	logs           []logEntry
	queue          []*job
	done           []*job // last completed, newest last
	arrived        []*job // every job since the start, for Jobs
	// The SKU's price per minute, for the SKU and region it was read for.
	priceSKU, priceRegion string
	pricePerMin           float64
	nightly               bool
	jobsPerHour           float64

	idleMin, busyMin, otherMin int64
	cost                       float64
	costByDay                  map[string]float64 // UTC date → USD
	stats                      Stats
}

type node struct {
	id           int
	agentID      int
	inst         *instance
	name         string
	state        pool.NodeState
	computeState string
	agentState   string
	desired      pool.NodeState
	changed      time.Time
	due          time.Time // when the current transitional state ends
	startedAgent time.Time
	idleSince    time.Time
	agentCreated time.Time
	job          *job
	lastReq      uint64
	agentVersion string    // as it came online; empty: the organization's (seeded agents)
	updateAt     time.Time // when its agent updates itself to the organization's version; zero: not due
}

// version is the agent version n reports.
func (n *node) version() string {
	if n.agentVersion == "" {
		return AgentVersion
	}
	return n.agentVersion
}

type job struct {
	id       uint64
	name     string
	queued   time.Time
	assigned time.Time
	finish   time.Time // set when assigned
	finished time.Time
	dur      time.Duration
	node     *node
	agentID  int
	result   string
}

type logEntry struct {
	id        uint64
	level     string
	operation string
	message   string
	at        time.Time
}

const (
	maxLogs      = 1000
	maxDone      = 50
	sampleEvery  = 5 // minutes
	cancelAfter  = 6 * time.Hour
	neverOnline  = 10 * time.Minute
	failedLinger = 5 * time.Minute
)

func (s *Sim) logf(p *spool, level, op, format string, a ...any) {
	p.logs = append(p.logs, logEntry{id: s.nextLog, level: level, operation: op, message: fmt.Sprintf(format, a...), at: s.now})
	s.nextLog++
	// The newest maxLogs are kept (and served); older ones are dropped in
	// batches, so that a busy pool does not copy its logs at every line.
	if len(p.logs) > 2*maxLogs {
		p.logs = append(p.logs[:0:0], p.logs[len(p.logs)-maxLogs:]...)
	}
}

func (s *Sim) setState(n *node, st pool.NodeState, compute, agent string, due time.Duration) {
	s.setStateAt(n, st, compute, agent, s.now, due)
}

// setStateAt changes n's state as of at (at most now): the model runs once
// a minute, but what it finds has happened since its previous run keeps the
// instant it happened at, so that state durations and job waits do not
// round up to whole minutes.
func (s *Sim) setStateAt(n *node, st pool.NodeState, compute, agent string, at time.Time, due time.Duration) {
	n.state = st
	n.changed = at
	if compute != "" {
		n.computeState = compute
	}
	if agent != "" {
		n.agentState = agent
	}
	n.due = at.Add(due)
}

// tick runs the model for the minute since its previous run.
func (s *Sim) tick() {
	s.settleRuns()
	sample := (s.now.Unix()/60)%sampleEvery == 0
	for _, p := range s.pools {
		s.tickPool(p, sample)
	}
	s.lastTick = s.now
}

func (s *Sim) tickPool(p *spool, sample bool) {
	// Jobs that finished free their agents.
	for _, n := range p.nodes {
		if n.job != nil && !n.job.finish.After(s.now) {
			result := "succeeded"
			if s.imageFault(n).FailJobs {
				result = "failed"
			}
			s.finishJob(p, n, result, n.job.finish)
		}
	}
	// Nodes walk through their states.
	kept := p.nodes[:0]
	for _, n := range p.nodes {
		if s.advanceNode(p, n) {
			kept = append(kept, n)
			s.updateAgent(p, n)
		}
	}
	for i := len(kept); i < len(p.nodes); i++ {
		p.nodes[i] = nil
	}
	p.nodes = kept
	s.arrivals(p)
	if sample {
		s.sample(p)
	}
	s.assign(p)
	s.accrue(p)
	// Jobs do not wait for ever.
	for len(p.queue) > 0 && s.now.Sub(p.queue[0].queued) >= cancelAfter {
		j := p.queue[0]
		p.queue = p.queue[1:]
		j.result, j.finished = "canceled", j.queued.Add(cancelAfter)
		p.stats.Canceled++
		s.remember(p, j)
	}
}

func (s *Sim) remember(p *spool, j *job) {
	s.keepFinished(p, j)
	p.done = append(p.done, j)
	if len(p.done) > maxDone {
		p.done = append(p.done[:0:0], p.done[len(p.done)-maxDone:]...)
	}
}

// finishJob ends n's job at the instant at (at most now).
func (s *Sim) finishJob(p *spool, n *node, result string, at time.Time) {
	j := n.job
	n.job = nil
	j.finished, j.result = at, result
	s.remember(p, j)
	if result == "succeeded" {
		p.stats.Completed++
	}
	if n.state != pool.NodeAssigned && n.state != pool.NodeAssignedPendingDelete {
		return
	}
	switch {
	case n.desired == pool.NodePendingDelete || n.state == pool.NodeAssignedPendingDelete:
		s.setStateAt(n, pool.NodePendingDelete, "", "enabled", at, 0)
	case n.desired == pool.NodePendingReimage || p.recycle:
		s.setStateAt(n, pool.NodePendingReimage, "", "enabled", at, 0)
	case n.desired == pool.NodeSaved:
		s.setStateAt(n, pool.NodeSaved, "", "enabled", at, 0)
	default:
		s.setStateAt(n, pool.NodeIdle, "", "online", at, 0)
		n.idleSince = at
	}
	n.desired = ""
}

// advanceNode moves n on when its current state is due; false removes it.
func (s *Sim) advanceNode(p *spool, n *node) bool {
	if s.now.Before(n.due) {
		return true
	}
	at := n.due // the instant the state ended, since the previous run
	switch n.state {
	case pool.NodeNew:
		s.setStateAt(n, pool.NodeCreatingCompute, "creating", "none", at, 2*time.Minute)
	case pool.NodeCreatingCompute:
		if p.failure.Extension {
			s.setStateAt(n, pool.NodeFailedVMPendingDelete, "failed", "none", at, failedLinger)
			s.logf(p, "error", "configurationJob",
				"Failed to provision VM %s: the VM extension Microsoft.Azure.DevOps.Pipelines.Agent failed with exit code 1 (enableagent: failed to download the agent). The VM will be deleted.", n.name)
			return true
		}
		s.setStateAt(n, pool.NodeStartingAgent, "healthy", "enabled", at, 2*time.Minute)
		n.startedAgent, n.agentCreated = at, at
	case pool.NodeStartingAgent:
		if p.failure.NeverOnline || s.imageFault(n).NeverOnline {
			if s.now.Sub(n.startedAgent) >= neverOnline {
				s.setState(n, pool.NodeFailedToStartPendingDelete, "healthy", "enabled", failedLinger)
				s.logf(p, "error", "configurationJob",
					"Agent %s did not come online within 10 minutes of its VM starting; the VM is unhealthy and will be deleted.", n.name)
			}
			return true
		}
		s.setStateAt(n, pool.NodeIdle, "", "online", at, 0)
		n.idleSince = at
		s.agentOnline(n, at)
	case pool.NodeReimagingCompute:
		s.setStateAt(n, pool.NodeStartingAgent, "healthy", "enabled", at, 2*time.Minute)
		n.startedAgent = at
	case pool.NodeDeletingCompute:
		s.removeInstance(p.ss, n.inst)
		return false
	}
	return true
}

func (s *Sim) arrivals(p *spool) {
	if s.replay != nil {
		s.replayArrivals(p)
		return
	}
	d := trace.CIDurations
	if p.nightly {
		d = trace.NightlyDurations
	}
	for _, a := range s.model.Draw(s.now, s.now.Sub(s.lastTick), p.jobsPerHour/60*s.demand(p), d) {
		s.nextReq++
		p.queue = append(p.queue, s.arrive(p, &job{id: s.nextReq, name: trace.JobName(s.nextReq), dur: a.Duration, queued: a.Queued}))
	}
}

// demand is the share of the peak arrival rate at the current time.
func (s *Sim) demand(p *spool) float64 {
	if p.nightly {
		return trace.Nightly(s.now)
	}
	return office(s.now)
}

var office = trace.Office(paris)

// sample is what the service does every 5 minutes.
func (s *Sim) sample(p *spool) {
	if p.state == pool.StateNew {
		p.state = pool.StateOnline
	}
	unhealthy := false
	var idle, starting, busy, alive int
	var idleNodes []*node
	for _, n := range p.nodes {
		switch n.state {
		case pool.NodeFailedVMPendingDelete, pool.NodeFailedToStartPendingDelete, pool.NodeFailedToRestartPendingDelete:
			unhealthy = true
			if !s.now.Before(n.due) {
				s.setState(n, pool.NodeDeletingCompute, "deleting", "none", 2*time.Minute)
			}
		case pool.NodePendingDelete:
			s.setState(n, pool.NodeDeletingCompute, "deleting", "none", 2*time.Minute)
			s.logf(p, "info", "deleteVMs", "Deleting VM %s as requested.", n.name)
		case pool.NodePendingReimage:
			s.reimage(p, n)
		}
		switch n.state.Class() {
		case pool.ClassIdle:
			idle++
			idleNodes = append(idleNodes, n)
		case pool.ClassStarting:
			starting++
		case pool.ClassBusy:
			busy++
		}
		if n.state != pool.NodeDeletingCompute {
			alive++
		}
	}
	waiting := len(p.queue)
	need := p.standby + waiting - idle - starting
	p.sizingAttempts = 0
	switch {
	case need > 0 && alive < p.max:
		step := int(math.Ceil(float64(p.max) * 0.25))
		add := min(need, step, p.max-alive)
		if p.failure.Quota {
			vms := 0
			for _, n := range p.nodes {
				if n.inst != nil {
					vms++
				}
			}
			allowed := max(p.failure.QuotaVMs-vms, 0)
			if allowed < add {
				fam, cores := skuFamily(p.ss.sku)
				limit := p.failure.QuotaVMs * cores
				s.logf(p, "error", "increaseCapacity",
					"Failed to increase capacity. Operation could not be completed as it results in exceeding approved %s Cores quota. Additional details - Deployment Model: Resource Manager, Location: %s, Current Limit: %d, Current Usage: %d, Additional Required: %d, (Minimum) New Limit Required: %d.",
					fam, p.ss.region, limit, vms*cores, (add-allowed)*cores, (vms+add)*cores)
				p.sizingAttempts = 1
				unhealthy = true
				add = allowed
			}
		}
		if add > 0 {
			for i := 0; i < add; i++ {
				s.addNode(p)
			}
			s.logf(p, "info", "increaseCapacity", "Increasing capacity by %d to %d (%d idle, %d busy, %d starting, %d jobs waiting, standby %d, max %d).",
				add, alive+add, idle, busy, starting, waiting, p.standby, p.max)
		}
	case alive > p.max && idle > 0:
		// max was lowered: idle VMs above it go at once.
		removed := 0
		for _, n := range idleNodes {
			if removed == alive-p.max {
				break
			}
			s.setState(n, pool.NodeDeletingCompute, "deleting", "none", 2*time.Minute)
			removed++
		}
		s.logf(p, "info", "deleteVMs", "Deleting %d idle VMs above the maximum of %d.", removed, p.max)
	case waiting == 0 && idle > p.standby:
		sort.Slice(idleNodes, func(i, j int) bool { return idleNodes[i].idleSince.Before(idleNodes[j].idleSince) })
		surplus, removed := idle-p.standby, 0
		for _, n := range idleNodes {
			if removed == surplus || s.now.Sub(n.idleSince) < time.Duration(p.ttl)*time.Minute {
				break
			}
			s.setState(n, pool.NodeDeletingCompute, "deleting", "none", 2*time.Minute)
			removed++
		}
		if removed > 0 {
			s.logf(p, "info", "deleteVMs", "Deleting %d idle VMs above the standby count of %d after %d minutes idle.", removed, p.standby, p.ttl)
		}
	}
	if unhealthy {
		p.state = pool.StateUnhealthy
	} else if p.state == pool.StateUnhealthy {
		p.state = pool.StateOnline
	}
}

func (s *Sim) reimage(p *spool, n *node) {
	if n.job != nil {
		s.finishJob(p, n, "failed", s.now)
	}
	s.setState(n, pool.NodeReimagingCompute, "reimaging", "none", 3*time.Minute)
	if n.inst != nil {
		n.inst.image = s.resolve(p.ss.image)
		n.inst.reimaged = s.now
	}
}

func (s *Sim) addNode(p *spool) *node {
	inst := s.addInstance(p.ss)
	n := &node{id: s.nextNode, agentID: s.nextAgent, inst: inst, name: inst.name}
	s.nextNode++
	s.nextAgent++
	inst.node = n
	s.setState(n, pool.NodeNew, "none", "none", time.Minute)
	p.nodes = append(p.nodes, n)
	return n
}

// assign gives waiting jobs, oldest first, idle agents. A job starts at the
// later of its arrival and the instant its agent became idle, both since
// the previous run at the latest; of the agents, it takes the one that
// lets it start first (the first listed among those already idle when it
// arrived).
func (s *Sim) assign(p *spool) {
	if len(p.queue) == 0 {
		return
	}
	var idle []*node
	for _, n := range p.nodes {
		if n.state == pool.NodeIdle {
			idle = append(idle, n)
		}
	}
	for len(p.queue) > 0 && len(idle) > 0 {
		j := p.queue[0]
		p.queue = p.queue[1:]
		best, start := 0, time.Time{}
		for i, n := range idle {
			at := j.queued
			if n.idleSince.After(at) {
				at = n.idleSince
			}
			if i == 0 || at.Before(start) {
				best, start = i, at
			}
		}
		n := idle[best]
		idle = append(idle[:best], idle[best+1:]...)
		j.assigned, j.finish, j.node, j.agentID = start, start.Add(j.dur), n, n.agentID
		n.job, n.lastReq = j, j.id
		s.setStateAt(n, pool.NodeAssigned, "", "assigned", start, 0)
		w := start.Sub(j.queued)
		p.stats.Jobs++
		p.stats.JobWaits = append(p.stats.JobWaits, w)
		if w > p.stats.MaxWait {
			p.stats.MaxWait = w
		}
	}
}

func (s *Sim) accrue(p *spool) {
	if p.priceSKU != p.ss.sku || p.priceRegion != p.ss.region {
		p.priceSKU, p.priceRegion, p.pricePerMin = p.ss.sku, p.ss.region, priceOf(p.ss.sku, p.ss.region, p.os)/60
	}
	price := p.pricePerMin
	if d := s.now.UTC().Truncate(24 * time.Hour); !d.Equal(s.dayOf) {
		s.dayOf, s.dayKey = d, d.Format("2006-01-02")
	}
	day := s.dayKey
	for _, n := range p.nodes {
		if n.inst == nil || n.state == pool.NodeNew {
			continue
		}
		switch n.state {
		case pool.NodeIdle:
			p.idleMin++
		case pool.NodeAssigned:
			p.busyMin++
		default:
			p.otherMin++
		}
		p.cost += price
		p.costByDay[day] += price
	}
	p.stats.Cost = p.cost
}

// skuFamily names a SKU's quota family and its vCPU count.
func skuFamily(sku string) (string, int) {
	switch strings.ToLower(sku) {
	case "standard_nc4as_t4_v3":
		return "standardNCASv3_T4Family", 4
	case "standard_d4s_v5":
		return "standardDSv5Family", 4
	case "standard_d2s_v5":
		return "standardDSv5Family", 2
	}
	return "standard" + strings.TrimPrefix(sku, "Standard_") + "Family", 2
}

func base36(n int) string {
	v := strings.ToUpper(strconv.FormatInt(int64(n), 36))
	return strings.Repeat("0", max(0, 6-len(v))) + v
}
