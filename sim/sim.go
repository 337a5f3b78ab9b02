package sim

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/trace"
)

const (
	// Subscription is the simulated Azure subscription.
	Subscription = "00000000-0000-0000-0000-000000000000"
	// ResourceGroup holds the seeded scale sets and the image gallery.
	ResourceGroup = "rg-agents"
	// Region is where the seeded scale sets live.
	Region = "westeurope"
	// Gallery is the seeded compute gallery.
	Gallery = "poolbotgallery"
	// RejectedPAT is the one personal access token Azure DevOps answers with 401.
	RejectedPAT = "rejected-pat"
)

// Options configure a simulator.
type Options struct {
	Org    string    // Azure DevOps organization; default "contoso"
	Start  time.Time // first simulated instant; default 2026-01-05T00:00:00Z (a Monday)
	Seed   int64
	Pools  []PoolSpec // nil: linux-ci, windows-ci and gpu-nightly
	Faults Faults
	// CostLag delays the Cost Management query's data, as the real service
	// lags 8–24 h. Zero shows cost up to the current simulated minute.
	CostLag time.Duration
	// CostPageSize is the most rows one Cost Management query answer holds;
	// the rest follow its nextLink, as Azure pages them. Default 1000.
	CostPageSize int
}

// PoolSpec describes a pool and the scale set behind it.
type PoolSpec struct {
	Name         string
	OS           pool.OS
	Max          int
	Standby      int
	TTLMinutes   int
	SKU          string
	Region       string
	Failure      Failure
	ImageVersion string // gallery image version; default 1.1.0
	// JobsPerHour is the arrival rate at the busiest hour; 0 picks 2.4×Max.
	JobsPerHour float64
	// Nightly makes jobs arrive 00:00–05:00 Europe/Paris every day instead
	// of during weekday business hours.
	Nightly bool
}

// Failure switches on a pool's failure modes.
type Failure struct {
	Extension   bool // the VM extension fails: nodes go failedVMPendingDelete
	NeverOnline bool // the agent never comes online: failedToStartPendingDelete after 10 minutes
	Quota       bool // "Failed to increase capacity" quota errors
	// QuotaVMs is how many VMs the quota still allows when Quota is set
	// (0: none, every scale-out fails).
	QuotaVMs int
}

// Faults are injected into Azure DevOps and Azure Resource Manager answers.
type Faults struct {
	Rate429, Rate5xx, RateDrop float64
	Latency                    time.Duration
	RetryAfter                 time.Duration // sent with 429; default 1s
}

// Stats are a pool's accounting since the simulator started.
type Stats struct {
	IdleVMHours  float64
	BusyVMHours  float64
	OtherVMHours float64 // starting, failed, being deleted or reimaged
	Cost         float64 // USD, at the retail price of the SKU
	Jobs         int     // jobs that got an agent
	Completed    int
	Canceled     int // gave up after waiting 6 hours
	Waiting      int // queued now
	JobWaits     []time.Duration
	MaxWait      time.Duration
}

// WaitPercentile returns the p-th percentile (0–100) of the jobs' waits.
func (s Stats) WaitPercentile(p float64) time.Duration {
	if len(s.JobWaits) == 0 {
		return 0
	}
	w := append([]time.Duration(nil), s.JobWaits...)
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	k := int(p / 100 * float64(len(w)-1))
	return w[k]
}

// Sim is a simulated Azure DevOps organization and Azure subscription.
type Sim struct {
	mu        sync.Mutex
	org       string
	now       time.Time
	model     *trace.Model // the built-in arrivals
	replay    *replay      // arrivals from a trace instead, when set
	lastTick  time.Time    // the model's previous run; arrivals fall after it
	dayOf     time.Time    // the UTC day dayKey names, for cost by day
	dayKey    string
	costLag   time.Duration
	costPage  int // rows per Cost Management query answer
	pools     []*spool
	byID      map[int]*spool
	byName    map[string]*spool // lower-cased
	scaleSets map[string]*scaleSet
	gallery   map[string]*galleryImage // by image name, lower-cased
	ops       map[string]*operation
	managed   *managedState // Managed DevOps Pools, made on first use
	waiters   []waiter
	history   map[int][]*job     // finished jobs by pool id, oldest first (jobrequests.go)
	jobMeta   map[uint64]jobMeta // seeded jobs' definitions and demands
	pipelines *pipelineState     // image pipelines and bad image versions (pipelines.go)
	// agentVersion is the organization's agent version (pipelines.go).
	agentVersion string

	nextPool  int
	nextNode  int
	nextAgent int
	nextReq   uint64
	nextLog   uint64
	nextOp    int

	fmu      sync.Mutex // faults and calls, so a faulted request never waits on the model
	faults   Faults
	faultRng *rand.Rand
	calls    map[string]int
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

var paris = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// DefaultPools are the seeded pools.
func DefaultPools() []PoolSpec {
	return []PoolSpec{
		{Name: "linux-ci", OS: pool.Linux, Max: 10, Standby: 2, TTLMinutes: 30, SKU: "Standard_D4s_v5", Region: Region},
		{Name: "windows-ci", OS: pool.Windows, Max: 6, Standby: 1, TTLMinutes: 30, SKU: "Standard_D4s_v5", Region: Region},
		{Name: "gpu-nightly", OS: pool.Linux, Max: 2, Standby: 0, TTLMinutes: 30, SKU: "Standard_NC4as_T4_v3", Region: Region,
			Failure: Failure{Extension: true, Quota: true, QuotaVMs: 1}, Nightly: true, JobsPerHour: 6},
	}
}

// New returns a simulator at o.Start with o.Pools seeded.
func New(o Options) *Sim {
	if o.Org == "" {
		o.Org = "contoso"
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	if o.Pools == nil {
		o.Pools = DefaultPools()
	}
	s := &Sim{
		org:       o.Org,
		now:       o.Start,
		model:     trace.NewModel(o.Seed),
		lastTick:  o.Start,
		costLag:   o.CostLag,
		costPage:  o.CostPageSize,
		byID:      map[int]*spool{},
		byName:    map[string]*spool{},
		scaleSets: map[string]*scaleSet{},
		gallery:   seedGallery(o.Start),
		ops:       map[string]*operation{},
		nextPool:  10,
		nextNode:  1,
		nextAgent: 1,
		nextReq:   1000,
		nextLog:   1,
		faultRng:  rand.New(rand.NewSource(o.Seed + 1)),
		calls:     map[string]int{},

		agentVersion: AgentVersion,
	}
	s.setFaultsLocked(o.Faults)
	for _, p := range o.Pools {
		s.seedPool(p)
	}
	return s
}

func (s *Sim) seedPool(spec PoolSpec) *spool {
	if spec.OS == "" {
		spec.OS = pool.Linux
	}
	if spec.SKU == "" {
		spec.SKU = "Standard_D2s_v5"
	}
	if spec.Region == "" {
		spec.Region = Region
	}
	if spec.Max == 0 {
		spec.Max = 1
	}
	if spec.TTLMinutes == 0 {
		spec.TTLMinutes = 30
	}
	if spec.ImageVersion == "" {
		spec.ImageVersion = "1.1.0"
	}
	img := "ubuntu22"
	if spec.OS == pool.Windows {
		img = "win2022"
	}
	ss := newScaleSet(spec.Name, spec.Region, spec.SKU, spec.OS, s.now)
	ss.image = imageRef{ID: galleryImageID(img) + "/versions/" + spec.ImageVersion}
	s.scaleSets[strings.ToLower(ss.name)] = ss
	p := s.newPool(spec.Name, spec.OS, ss)
	p.standby, p.max, p.ttl = spec.Standby, spec.Max, spec.TTLMinutes
	p.failure = spec.Failure
	p.state = pool.StateOnline
	p.nightly = spec.Nightly
	p.jobsPerHour = spec.JobsPerHour
	if p.jobsPerHour == 0 {
		p.jobsPerHour = 2.4 * float64(spec.Max)
	}
	return p
}

func (s *Sim) newPool(name string, os pool.OS, ss *scaleSet) *spool {
	p := &spool{
		id:          s.nextPool,
		name:        name,
		os:          os,
		state:       pool.StateNew,
		ss:          ss,
		ttl:         30,
		createdOn:   s.now,
		costByDay:   map[string]float64{},
		jobsPerHour: 0,
	}
	s.nextPool++
	ss.pool = p
	ss.tags["_AzureDevOpsElasticPool"] = fmt.Sprintf("%s/%d", s.org, p.id)
	ss.tags["_AzureDevOpsElasticPoolTimeStamp"] = s.now.Format(time.RFC3339)
	s.pools = append(s.pools, p)
	s.byID[p.id] = p
	s.byName[strings.ToLower(name)] = p
	return p
}

// AddPools adds n pools named spec.Name-0001…, each with its scale set.
func (s *Sim) AddPools(n int, spec PoolSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	base := spec.Name
	if base == "" {
		base = "pool"
	}
	for i := 1; i <= n; i++ {
		sp := spec
		sp.Name = fmt.Sprintf("%s-%04d", base, i)
		for s.byName[strings.ToLower(sp.Name)] != nil {
			sp.Name += "x"
		}
		s.seedPool(sp)
	}
}

// Now is the simulated time.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// After sends the simulated time once d of it has passed.
func (s *Sim) After(d time.Duration) <-chan time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- s.now
		return ch
	}
	s.waiters = append(s.waiters, waiter{at: s.now.Add(d), ch: ch})
	return ch
}

// Waiters is the number of pending After calls.
func (s *Sim) Waiters() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiters)
}

// Advance moves simulated time forward by d, running the model at every
// whole minute on the way and waking After waiters in order of their
// instants. The lock is released between steps so requests interleave.
func (s *Sim) Advance(d time.Duration) {
	s.mu.Lock()
	target := s.now.Add(d)
	s.mu.Unlock()
	for {
		s.mu.Lock()
		if !s.now.Before(target) {
			s.mu.Unlock()
			return
		}
		next := s.now.Truncate(time.Minute).Add(time.Minute)
		if next.After(target) {
			next = target
		}
		for _, w := range s.waiters {
			if w.at.Before(next) {
				next = w.at
			}
		}
		if next.Before(s.now) {
			next = s.now
		}
		s.now = next
		if s.now.Truncate(time.Minute).Equal(s.now) {
			s.tick()
			s.tickManaged()
		}
		s.wake()
		s.mu.Unlock()
	}
}

func (s *Sim) wake() {
	if len(s.waiters) == 0 {
		return
	}
	sort.SliceStable(s.waiters, func(i, j int) bool { return s.waiters[i].at.Before(s.waiters[j].at) })
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if !w.at.After(s.now) {
			w.ch <- s.now
			continue
		}
		kept = append(kept, w)
	}
	s.waiters = kept
}

// Run advances simulated time with the wall clock, speed simulated seconds
// per real second, until ctx ends.
func (s *Sim) Run(ctx context.Context, speed float64) error {
	if speed <= 0 {
		speed = 1
	}
	start := time.Now()
	sim0 := s.Now()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			want := sim0.Add(time.Duration(float64(time.Since(start)) * speed))
			if d := want.Sub(s.Now()); d > 0 {
				s.Advance(d)
			}
		}
	}
}

// SetFailure switches a pool's failure modes.
func (s *Sim) SetFailure(name string, f Failure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[strings.ToLower(name)]
	if p == nil {
		return fmt.Errorf("no pool %q", name)
	}
	p.failure = f
	return nil
}

// SetFaults changes the injected HTTP faults.
func (s *Sim) SetFaults(f Faults) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.setFaultsLocked(f)
}

func (s *Sim) setFaultsLocked(f Faults) {
	if f.RetryAfter == 0 {
		f.RetryAfter = time.Second
	}
	s.faults = f
}

// Stats returns a pool's accounting.
func (s *Sim) Stats(name string) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[strings.ToLower(name)]
	if p == nil {
		return Stats{}, fmt.Errorf("no pool %q", name)
	}
	st := p.stats
	st.IdleVMHours = float64(p.idleMin) / 60
	st.BusyVMHours = float64(p.busyMin) / 60
	st.OtherVMHours = float64(p.otherMin) / 60
	st.Waiting = len(p.queue)
	st.JobWaits = append([]time.Duration(nil), p.stats.JobWaits...)
	return st, nil
}

// Settings returns a pool's current settings, every field set.
func (s *Sim) Settings(name string) (pool.Settings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[strings.ToLower(name)]
	if p == nil {
		return pool.Settings{}, fmt.Errorf("no pool %q", name)
	}
	return pool.Settings{Standby: pool.Int(p.standby), Max: pool.Int(p.max), TTLMinutes: pool.Int(p.ttl), Recycle: pool.Bool(p.recycle)}, nil
}

// PoolNames lists the pools in id order.
func (s *Sim) PoolNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.pools))
	for i, p := range s.pools {
		out[i] = p.name
	}
	return out
}

// NodeStates counts a pool's nodes by state.
func (s *Sim) NodeStates(name string) (map[pool.NodeState]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[strings.ToLower(name)]
	if p == nil {
		return nil, fmt.Errorf("no pool %q", name)
	}
	m := map[pool.NodeState]int{}
	for _, n := range p.nodes {
		m[n.state]++
	}
	return m, nil
}

// AgentImages returns the image each of a pool's agents runs, by agent
// name, as its VM's image reference names it (a gallery image's id carries
// its version): what a test watching a rollout reads without a round trip.
func (s *Sim) AgentImages(name string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[strings.ToLower(name)]
	if p == nil {
		return nil, fmt.Errorf("no pool %q", name)
	}
	m := make(map[string]string, len(p.nodes))
	for _, n := range p.nodes {
		if n.inst != nil {
			m[n.name] = n.inst.image.String()
		}
	}
	return m, nil
}

// Calls returns how many requests were received per route name (see doc.go),
// per authentication kind ("auth:pat", "auth:bearer", "auth:none",
// "auth:rejected") and per injected fault ("fault:429", …).
func (s *Sim) Calls() map[string]int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	m := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		m[k] = v
	}
	return m
}

// ResetCalls zeroes the counters.
func (s *Sim) ResetCalls() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.calls = map[string]int{}
}

func (s *Sim) count(keys ...string) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	for _, k := range keys {
		s.calls[k]++
	}
}
