package sim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/poolbot/poolbot/pool"
)

// scaleSet is a virtual machine scale set as Azure holds it.
type scaleSet struct {
	name          string
	region        string
	sku           string
	os            pool.OS
	image         imageRef // the model's image: new and reimaged VMs get it
	orchestration string
	overprovision *bool
	singlePG      *bool
	faultDomains  *int32
	upgradeMode   string
	ephemeral     bool
	loadBalancer  bool
	prefix        string
	adminUser     string
	subnetID      string
	tags          map[string]string
	created       time.Time
	uniqueID      string
	pool          *spool
	instances     []*instance
	nextInstance  int
}

type instance struct {
	id       int
	name     string
	image    imageRef // resolved: a gallery id carries its version
	created  time.Time
	reimaged time.Time
	node     *node
}

// imageRef is a scale set's or VM's image reference.
type imageRef struct {
	ID, Publisher, Offer, SKU, Version string
}

func (r imageRef) String() string {
	if r.ID != "" {
		return r.ID
	}
	return r.Publisher + ":" + r.Offer + ":" + r.SKU + ":" + r.Version
}

type galleryImage struct {
	name     string
	os       pool.OS
	versions []galleryVersion // ascending
}

type galleryVersion struct {
	name      string
	published time.Time
}

func seedGallery(start time.Time) map[string]*galleryImage {
	day := 24 * time.Hour
	return map[string]*galleryImage{
		"ubuntu22": {name: "ubuntu22", os: pool.Linux, versions: []galleryVersion{
			{"1.0.0", start.Add(-60 * day)}, {"1.1.0", start.Add(-30 * day)}, {"1.2.0", start.Add(-2 * day)}}},
		"win2022": {name: "win2022", os: pool.Windows, versions: []galleryVersion{
			{"1.0.0", start.Add(-45 * day)}, {"1.1.0", start.Add(-10 * day)}}},
	}
}

func armPrefix() string {
	return "/subscriptions/" + Subscription + "/resourceGroups/" + ResourceGroup + "/providers/Microsoft.Compute"
}

func galleryImageID(image string) string {
	return armPrefix() + "/galleries/" + Gallery + "/images/" + image
}

func scaleSetID(name string) string {
	return armPrefix() + "/virtualMachineScaleSets/" + name
}

func newScaleSet(name, region, sku string, os pool.OS, now time.Time) *scaleSet {
	f, t, one := false, false, int32(1)
	_ = t
	prefix := name
	if len(prefix) > 9 {
		prefix = prefix[:9]
	}
	return &scaleSet{
		name: name, region: region, sku: sku, os: os,
		orchestration: "Uniform", overprovision: &f, singlePG: &f, faultDomains: &one, upgradeMode: "Manual",
		prefix: prefix, adminUser: "azureuser", tags: map[string]string{}, created: now,
		uniqueID: uuid.NewSHA1(uuid.NameSpaceURL, []byte(name)).String(),
	}
}

// parseGalleryID splits ".../galleries/{g}/images/{i}[/versions/{v}]".
func parseGalleryID(id string) (gallery, image, version string, ok bool) {
	p := strings.Split(strings.Trim(id, "/"), "/")
	for k := 0; k+3 < len(p); k++ {
		if strings.EqualFold(p[k], "galleries") && strings.EqualFold(p[k+2], "images") {
			gallery, image = p[k+1], p[k+3]
			if k+5 < len(p) && strings.EqualFold(p[k+4], "versions") {
				version = p[k+5]
			}
			return gallery, image, version, true
		}
	}
	return "", "", "", false
}

// checkImage reports an image reference that names a missing gallery image
// or version, as Azure does.
func (s *Sim) checkImage(r imageRef, region string) error {
	if r.ID == "" {
		return nil
	}
	g, i, v, ok := parseGalleryID(r.ID)
	if !ok {
		return nil
	}
	img := s.gallery[strings.ToLower(i)]
	found := strings.EqualFold(g, Gallery) && img != nil
	if found && v != "" && !strings.EqualFold(v, "latest") {
		found = false
		for _, gv := range img.versions {
			if gv.name == v {
				found = true
			}
		}
	}
	if !found {
		return fmt.Errorf("The gallery image %s is not available in %s region. Please contact image owner to replicate to this region, or change your requested region.", r.ID, region)
	}
	return nil
}

// resolve pins a gallery image without version (or "latest") to its newest version.
func (s *Sim) resolve(r imageRef) imageRef {
	if r.ID == "" {
		return r
	}
	_, i, v, ok := parseGalleryID(r.ID)
	if !ok || (v != "" && !strings.EqualFold(v, "latest")) {
		return r
	}
	img := s.gallery[strings.ToLower(i)]
	if img == nil || len(img.versions) == 0 {
		return r
	}
	newest := img.versions[len(img.versions)-1].name
	return imageRef{ID: galleryImageID(img.name) + "/versions/" + newest}
}

func (s *Sim) addInstance(ss *scaleSet) *instance {
	inst := &instance{id: ss.nextInstance, created: s.now, image: s.resolve(ss.image)}
	inst.name = ss.prefix + base36(ss.nextInstance)
	ss.nextInstance++
	ss.instances = append(ss.instances, inst)
	return inst
}

func (s *Sim) removeInstance(ss *scaleSet, inst *instance) {
	if inst == nil {
		return
	}
	for k, x := range ss.instances {
		if x == inst {
			ss.instances = append(ss.instances[:k], ss.instances[k+1:]...)
			return
		}
	}
}

func (ss *scaleSet) instance(id string) *instance {
	n, err := strconv.Atoi(id)
	if err != nil {
		return nil
	}
	for _, x := range ss.instances {
		if x.id == n {
			return x
		}
	}
	return nil
}

// requirements returns why Azure DevOps cannot use the scale set, or "".
func (ss *scaleSet) requirements() string {
	var bad []string
	if !strings.EqualFold(ss.orchestration, "Uniform") {
		bad = append(bad, "orchestration mode must be Uniform")
	}
	if ss.overprovision == nil || *ss.overprovision {
		bad = append(bad, "overprovisioning must be disabled")
	}
	if ss.upgradeMode != "" && !strings.EqualFold(ss.upgradeMode, "Manual") {
		bad = append(bad, "upgrade policy must be Manual")
	}
	if ss.singlePG == nil || *ss.singlePG {
		bad = append(bad, "single placement group must be disabled")
	}
	if ss.faultDomains == nil || *ss.faultDomains != 1 {
		bad = append(bad, "platform fault domain count must be 1")
	}
	if ss.loadBalancer {
		bad = append(bad, "the scale set must not use a load balancer")
	}
	return strings.Join(bad, "; ")
}

// prices are USD per hour, retail, pay as you go, in westeurope and eastus.
var prices = map[string]float64{
	"standard_d4s_v5|linux":        0.192,
	"standard_d4s_v5|windows":      0.376,
	"standard_nc4as_t4_v3|linux":   0.526,
	"standard_nc4as_t4_v3|windows": 0.710,
	"standard_d2s_v5|linux":        0.096,
	"standard_d2s_v5|windows":      0.188,
}

// defaultPrice is charged for a SKU missing from the table.
const defaultPrice = 0.10

func priceOf(sku, region string, os pool.OS) float64 {
	if p, ok := prices[strings.ToLower(sku)+"|"+string(os)]; ok {
		return p
	}
	return defaultPrice
}

func sortedVersions(img *galleryImage) []galleryVersion {
	v := append([]galleryVersion(nil), img.versions...)
	sort.Slice(v, func(i, j int) bool { return v[i].published.Before(v[j].published) })
	return v
}
