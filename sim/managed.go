package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Managed DevOps Pools (Microsoft.DevOpsInfrastructure/pools), api-version
// 2025-01-21 shapes: the pool resource is kept as the JSON it was given, so
// that fields the simulator does not model round-trip as Azure keeps them.

// ManagedSpec describes a seeded Managed DevOps Pool.
type ManagedSpec struct {
	Name    string
	Region  string // default Region
	SKU     string // default Standard_D2ads_v5
	Max     int    // maximumConcurrency; default 4
	Standby int    // a Manual all-week scheme holding this many agents
	Image   string // wellKnownImageName; default ubuntu-22.04/latest
	// JobsPerHour is the arrival rate during weekday working hours
	// (08:00–18:00 Europe/Paris); 0 picks 2×Max.
	JobsPerHour float64
}

// ManagedFaults are the service's error codes, as faults of a pool.
const (
	CodeExceedingQuota       = "ExceedingQuota"
	CodeImageNotFound        = "ImageNotFound"
	CodeSkuNotAvailable      = "SkuNotAvailable"
	CodeClusterOutOfCapacity = "ClusterOutOfCapacity"
)

// mdpPage is the most resource details one answer holds; the rest follow nextLink.
const mdpPage = 20

type mpool struct {
	name    string
	adoID   int            // its Azure DevOps agent pool id
	res     map[string]any // the resource as ARM holds it, without id/name/type
	agents  []*magent
	nextID  int
	jobs    float64 // arrivals per hour at the busy hours
	queue   []*mjob // jobs queued for an agent, oldest first
	history []*mjob // finished jobs, in id order (bounded)
	nextJob uint64
	fault   string // a provisioning fault: agents fail with this code
	errors  map[string]int
	fails   []mfail // provisioning failures, for the Count metric by ErrorCode
	// costByDay is what its agents cost by UTC date, for Cost Management.
	costByDay map[string]float64
	rnd       uint64
}

type mfail struct {
	at   time.Time
	code string
}

// mjob is a managed pool's job request.
type mjob struct {
	id                         uint64
	queued, assigned, finished time.Time
	agent                      string
}

// maxManagedHistory bounds the finished jobs kept per managed pool.
const maxManagedHistory = 50_000

type magent struct {
	job     *mjob // when Allocated
	name    string
	status  string // Provisioning, Ready, Allocated, NotReady, PendingReturn
	since   time.Time
	until   time.Time // when Allocated: the job's end
	image   string
	version string
}

type mop struct {
	id     string
	pool   string
	polls  int
	failed map[string]any // the error when the operation failed
}

type managedState struct {
	pools map[string]*mpool // lower-cased name
	ops   map[string]*mop
	next  int
	ado   int            // the last agent pool id given
	quota map[string]int // region/family → vCPU limit
}

func (s *Sim) mdp() *managedState {
	if s.managed == nil {
		s.managed = &managedState{pools: map[string]*mpool{}, ops: map[string]*mop{}, quota: map[string]int{
			"westeurope/standardDSv5Family":   80,
			"westeurope/standardDADSv5Family": 80,
			"westeurope/standardDASv5Family":  40,
			"westeurope/standardDDSv5Family":  40,
			"eastus/standardDADSv5Family":     212,
			"eastus/standardDSv5Family":       80,
		}}
	}
	return s.managed
}

// mdpSKUs are the sizes the service offers; others answer SkuNotAvailable.
var mdpSKUs = map[string]int{
	"standard_d2as_v5": 2, "standard_d4as_v5": 4,
	"standard_d2ads_v5": 2, "standard_d4ads_v5": 4, "standard_d8ads_v5": 8,
	"standard_d2s_v5": 2, "standard_d4s_v5": 4, "standard_d2ds_v5": 2, "standard_d4ds_v5": 4,
	"standard_nc4as_t4_v3": 4,
}

func mdpFamily(sku string) (string, int) {
	cores := mdpSKUs[strings.ToLower(sku)]
	switch strings.ToLower(sku) {
	case "standard_d2ads_v5", "standard_d4ads_v5", "standard_d8ads_v5":
		return "standardDADSv5Family", cores
	case "standard_d2ds_v5", "standard_d4ds_v5":
		return "standardDDSv5Family", cores
	case "standard_d2as_v5", "standard_d4as_v5":
		return "standardDASv5Family", cores
	}
	return skuFamily(sku)
}

// wellKnownImages are the images Managed DevOps Pools offers by name.
var wellKnownImages = map[string]string{
	"ubuntu-22.04": "linux", "ubuntu-24.04": "linux", "windows-2022": "windows", "windows-2019": "windows",
}

// AddManagedPool adds a Managed DevOps Pool in ResourceGroup.
func (s *Sim) AddManagedPool(spec ManagedSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if spec.Region == "" {
		spec.Region = Region
	}
	if spec.SKU == "" {
		spec.SKU = "Standard_D2ads_v5"
	}
	if spec.Max == 0 {
		spec.Max = 4
	}
	if spec.Image == "" {
		spec.Image = "ubuntu-22.04/latest"
	}
	if spec.JobsPerHour == 0 {
		spec.JobsPerHour = 2 * float64(spec.Max)
	}
	res := map[string]any{
		"location": spec.Region,
		"tags":     map[string]any{},
		"properties": map[string]any{
			"provisioningState":          "Succeeded",
			"maximumConcurrency":         float64(spec.Max),
			"devCenterProjectResourceId": armPrefix() + "/providers/Microsoft.DevCenter/projects/poolbot",
			"organizationProfile": map[string]any{"kind": "AzureDevOps", "organizations": []any{
				map[string]any{"url": "https://dev.azure.com/" + s.org, "parallelism": float64(spec.Max)}}},
			"agentProfile": map[string]any{
				"kind":                       "Stateless",
				"resourcePredictionsProfile": map[string]any{"kind": "Manual"},
				"resourcePredictions": map[string]any{"timeZone": "UTC", "daysData": []any{
					map[string]any{"00:00:00": float64(spec.Standby)}}},
			},
			"fabricProfile": map[string]any{
				"kind":           "Vmss",
				"sku":            map[string]any{"name": spec.SKU},
				"images":         []any{map[string]any{"wellKnownImageName": spec.Image, "buffer": "*"}},
				"osProfile":      map[string]any{"logonType": "Service"},
				"storageProfile": map[string]any{"osDiskStorageAccountType": "Standard"},
			},
		},
	}
	st := s.mdp()
	st.ado++
	st.pools[strings.ToLower(spec.Name)] = &mpool{name: spec.Name, adoID: 100000 + st.ado, res: res, jobs: spec.JobsPerHour,
		errors: map[string]int{}, rnd: uint64(len(spec.Name))*7919 + 1}
}

// SetManagedFault makes a managed pool's agent provisioning fail with code
// (ClusterOutOfCapacity, ExceedingQuota, ImageNotFound, SkuNotAvailable):
// agents stay NotReady, and with ClusterOutOfCapacity the pool's next
// operations fail too. "" clears it.
func (s *Sim) SetManagedFault(name, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mdp().pools[strings.ToLower(name)]
	if p == nil {
		return fmt.Errorf("no managed pool %q", name)
	}
	p.fault = code
	return nil
}

// ClearManagedTag removes a tag from a managed pool, as a tool other than
// poolbot that rewrites the resource would.
func (s *Sim) ClearManagedTag(name, tag string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mdp().pools[strings.ToLower(name)]
	if p == nil {
		return fmt.Errorf("no managed pool %q", name)
	}
	delete(pathMap(p.res, "tags"), tag)
	return nil
}

// SetManagedQuota sets the vCPU limit of a VM family in a region.
func (s *Sim) SetManagedQuota(region, family string, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mdp().quota[strings.ToLower(region)+"/"+family] = limit
}

// ManagedAgents counts a managed pool's agents by status.
func (s *Sim) ManagedAgents(name string) (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mdp().pools[strings.ToLower(name)]
	if p == nil {
		return nil, fmt.Errorf("no managed pool %q", name)
	}
	m := map[string]int{}
	for _, a := range p.agents {
		m[a.status]++
	}
	return m, nil
}

// ManagedResource returns a managed pool's resource as ARM holds it.
func (s *Sim) ManagedResource(name string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mdp().pools[strings.ToLower(name)]
	if p == nil {
		return nil, fmt.Errorf("no managed pool %q", name)
	}
	return clone(p.res), nil
}

// ManagedPoolNames lists the managed pools by name.
func (s *Sim) ManagedPoolNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.mdp().pools {
		out = append(out, p.name)
	}
	sort.Strings(out)
	return out
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// path reads a nested field of a JSON object.
func path(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

func pathMap(m map[string]any, keys ...string) map[string]any {
	o, _ := path(m, keys...).(map[string]any)
	return o
}

func pathString(m map[string]any, keys ...string) string {
	v, _ := path(m, keys...).(string)
	return v
}

func pathInt(m map[string]any, keys ...string) int {
	v, _ := path(m, keys...).(float64)
	return int(v)
}

// merge applies an RFC 7396 merge patch.
func merge(dst, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			d, ok := dst[k].(map[string]any)
			if !ok {
				d = map[string]any{}
				dst[k] = d
			}
			merge(d, pv)
		default:
			dst[k] = v
		}
	}
}

// mdpWindowsZones maps the Windows time zone names daysData schemes use.
var mdpWindowsZones = map[string]string{
	"utc": "UTC", "coordinated universal time": "UTC", "gmt standard time": "Europe/London",
	"central europe standard time": "Europe/Budapest", "w. europe standard time": "Europe/Berlin",
	"romance standard time": "Europe/Paris", "eastern standard time": "America/New_York",
	"pacific standard time": "America/Los_Angeles",
}

func mdpZone(name string) (*time.Location, bool) {
	iana, ok := mdpWindowsZones[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		if l, err := time.LoadLocation(name); err == nil {
			return l, true
		}
		return nil, false
	}
	l, err := time.LoadLocation(iana)
	if err != nil {
		return time.UTC, true
	}
	return l, true
}

// predictionShare is the share of the maximum each Automatic preference
// keeps in standby during working hours.
var predictionShare = map[string]float64{
	"mostcosteffective": 0, "morecosteffective": 0.1, "balanced": 0.2, "moreperformance": 0.35, "bestperformance": 0.5,
}

// standbyNow is the number of standby agents the pool's scheme asks for now.
func (s *Sim) standbyNow(p *mpool) int {
	ap := pathMap(p.res, "properties", "agentProfile")
	max := pathInt(p.res, "properties", "maximumConcurrency")
	if strings.EqualFold(pathString(ap, "resourcePredictionsProfile", "kind"), "Automatic") {
		if !workingHours(s.now) {
			return 0
		}
		share := predictionShare[strings.ToLower(pathString(ap, "resourcePredictionsProfile", "predictionPreference"))]
		return int(math.Ceil(share * float64(max)))
	}
	n, _ := DaysDataAt(path(ap, "resourcePredictions"), s.now)
	return min(n, max)
}

func workingHours(t time.Time) bool {
	l := t.In(paris)
	return l.Weekday() != time.Saturday && l.Weekday() != time.Sunday && l.Hour() >= 8 && l.Hour() < 18
}

// DaysDataAt reads a resourcePredictions object {timeZone, daysData} and
// returns the standby count it holds at t: one day object for all week, or
// seven (Sunday first), each "HH:MM:SS" → count; a count holds until the
// next entry, through empty days. ok is false when the scheme is malformed.
func DaysDataAt(preds any, t time.Time) (n int, ok bool) {
	m, _ := preds.(map[string]any)
	if m == nil {
		return 0, true
	}
	loc := time.UTC
	if z, _ := m["timeZone"].(string); z != "" {
		l, ok := mdpZone(z)
		if !ok {
			return 0, false
		}
		loc = l
	}
	days, _ := m["daysData"].([]any)
	if len(days) != 1 && len(days) != 7 {
		return 0, len(days) == 0
	}
	local := t.In(loc)
	now := local.Hour()*3600 + local.Minute()*60 + local.Second()
	// Walk back from now over up to a week of entries.
	for back := 0; back <= 7; back++ {
		day := 0
		if len(days) == 7 {
			day = (int(local.Weekday()) - back + 7*8) % 7
		}
		entries, _ := days[day].(map[string]any)
		best, found := -1, 0
		for k, v := range entries {
			sec, err := hms(k)
			if err != nil {
				return 0, false
			}
			if back == 0 && sec > now {
				continue
			}
			if sec > best {
				best = sec
				f, _ := v.(float64)
				found = int(f)
			}
		}
		if best >= 0 {
			return found, true
		}
		if len(days) == 1 && back == 1 {
			break
		}
	}
	return 0, true
}

func hms(s string) (int, error) {
	p := strings.Split(s, ":")
	if len(p) != 3 {
		return 0, fmt.Errorf("time %q is not HH:MM:SS", s)
	}
	var out int
	for i, mul := range []int{3600, 60, 1} {
		v, err := strconv.Atoi(p[i])
		if err != nil || v < 0 || (i == 0 && v > 23) || (i > 0 && v > 59) {
			return 0, fmt.Errorf("time %q is not HH:MM:SS", s)
		}
		out += v * mul
	}
	return out, nil
}

// rand is a small deterministic generator per pool, so that managed pools
// do not disturb the elastic pools' random stream.
func (p *mpool) rand() float64 {
	p.rnd ^= p.rnd << 13
	p.rnd ^= p.rnd >> 7
	p.rnd ^= p.rnd << 17
	return float64(p.rnd%1_000_000) / 1_000_000
}

// tickManaged runs the managed pools for one simulated minute: jobs arrive
// in working hours and take a Ready agent, agents provision in 3 minutes,
// a Stateless agent is returned after its job, and the standby scheme keeps
// Ready agents up to maximumConcurrency.
func (s *Sim) tickManaged() {
	if s.managed == nil {
		return
	}
	for _, p := range s.managed.pools {
		s.tickMPool(p)
	}
}

// managedCosts lists the managed pools in name order; s.mu is held.
func (s *Sim) managedCosts() []*mpool {
	if s.managed == nil {
		return nil
	}
	out := make([]*mpool, 0, len(s.managed.pools))
	for _, p := range s.managed.pools {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (s *Sim) tickMPool(p *mpool) {
	max := pathInt(p.res, "properties", "maximumConcurrency")
	// The agents of the minute that ends now are charged.
	if p.costByDay == nil {
		p.costByDay = map[string]float64{}
	}
	price := priceOf(pathString(p.res, "properties", "fabricProfile", "sku", "name"), pathString(p.res, "location"), "linux") / 60
	p.costByDay[s.now.Add(-time.Minute).UTC().Format("2006-01-02")] += price * float64(len(p.agents))
	if pathString(p.res, "properties", "provisioningState") == "Failed" {
		return
	}
	kept := p.agents[:0]
	for _, a := range p.agents {
		switch a.status {
		case "Allocated":
			if !a.until.After(s.now) {
				a.status, a.since = "PendingReturn", s.now
				if j := a.job; j != nil {
					j.finished, a.job = a.until, nil
					p.history = append(p.history, j)
					if len(p.history) > 2*maxManagedHistory {
						p.history = append(p.history[:0:0], p.history[len(p.history)-maxManagedHistory:]...)
					}
				}
			}
		case "PendingReturn":
			continue // returned: Stateless agents are not reused
		case "Provisioning":
			if s.now.Sub(a.since) >= 3*time.Minute {
				if p.fault != "" {
					p.errors[p.fault]++
					p.fails = append(p.fails, mfail{at: s.now, code: p.fault})
					if len(p.fails) > 2000 {
						p.fails = p.fails[len(p.fails)-1000:]
					}
					a.status, a.since = "NotReady", s.now
				} else {
					a.status, a.since = "Ready", s.now
				}
			}
		case "NotReady":
			if s.now.Sub(a.since) >= 10*time.Minute {
				continue
			}
		}
		kept = append(kept, a)
	}
	p.agents = kept
	// Arrivals.
	rate := 0.0
	if workingHours(s.now) {
		rate = p.jobs / 60
	}
	for r := rate; r > 0; r-- {
		if p.rand() < math.Min(r, 1) {
			// Request ids of a managed pool are its agent pool id's
			// millions, apart from the elastic pools' requests.
			p.nextJob++
			p.queue = append(p.queue, &mjob{id: uint64(p.adoID)*1_000_000 + p.nextJob, queued: s.now})
		}
	}
	// Waiting jobs take Ready agents.
	for _, a := range p.agents {
		if len(p.queue) == 0 {
			break
		}
		if a.status == "Ready" {
			a.status, a.since = "Allocated", s.now
			a.until = s.now.Add(time.Duration(10+int(p.rand()*20)) * time.Minute)
			a.job, p.queue = p.queue[0], p.queue[1:]
			a.job.assigned, a.job.agent = s.now, a.name
		}
	}
	// Scale out one agent at a time for waiting jobs and standby.
	ready, starting := 0, 0
	for _, a := range p.agents {
		switch a.status {
		case "Ready":
			ready++
		case "Provisioning":
			starting++
		}
	}
	want := s.standbyNow(p) + len(p.queue)
	if ready+starting < want && len(p.agents) < max {
		s.provision(p)
	}
	// Surplus Ready agents beyond standby go back.
	surplus := ready - s.standbyNow(p)
	if surplus > 0 && len(p.queue) == 0 {
		kept := p.agents[:0]
		for _, a := range p.agents {
			if surplus > 0 && a.status == "Ready" && s.now.Sub(a.since) >= 15*time.Minute {
				surplus--
				continue
			}
			kept = append(kept, a)
		}
		p.agents = kept
	}
}

func (s *Sim) provision(p *mpool) {
	p.nextID++
	img, version := "", ""
	if imgs, _ := path(p.res, "properties", "fabricProfile", "images").([]any); len(imgs) > 0 {
		im, _ := imgs[0].(map[string]any)
		if id := pathString(im, "resourceId"); id != "" {
			img = id
			if _, gi, v, ok := parseGalleryID(id); ok {
				img, version = galleryImageID(gi), v
				if g := s.gallery[strings.ToLower(gi)]; g != nil && (version == "" || version == "latest") && len(g.versions) > 0 {
					version = sortedVersions(g)[len(g.versions)-1].name
				}
			}
		} else {
			img, version, _ = strings.Cut(pathString(im, "wellKnownImageName"), "/")
		}
		if version == "" || version == "latest" {
			version = "2026.0105.1"
		}
	}
	p.agents = append(p.agents, &magent{
		name:   fmt.Sprintf("%s%06d", strings.ReplaceAll(uuid.NewSHA1(uuid.NameSpaceOID, []byte(p.name)).String()[:9], "-", ""), p.nextID),
		status: "Provisioning", since: s.now, image: img, version: version,
	})
}
