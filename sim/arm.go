package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/google/uuid"
	"github.com/poolbot/poolbot/pool"
)

// operation is an ARM long-running operation; the simulator applies the
// change when the request arrives, so the operation has succeeded by the
// first poll.
type operation struct {
	id      string
	started time.Time
}

const vmPage = 50

func (s *Sim) armRoute(method string, seg []string) (string, handler) {
	get := method == http.MethodGet
	if len(seg) < 2 {
		return "arm.unknown", nil
	}
	if !strings.EqualFold(seg[1], Subscription) {
		return "arm.subscription", func(w http.ResponseWriter, r *http.Request) {
			armError(w, http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", seg[1]))
		}
	}
	rest := seg[2:]
	if name, h := s.managedRoute(method, rest); name != "" {
		return name, h
	}
	// Subscription scope.
	switch {
	case eq(rest, "providers", "Microsoft.Compute", "locations", "*", "operations", "*") && get:
		return "arm.operation", func(w http.ResponseWriter, r *http.Request) { s.armOperation(w, r, rest[5]) }
	case eq(rest, "providers", "Microsoft.CostManagement", "query") && method == http.MethodPost:
		return "cost.query", s.costQuery
	}
	if len(rest) < 2 || !strings.EqualFold(rest[0], "resourceGroups") {
		return "arm.unknown", nil
	}
	if !strings.EqualFold(rest[1], ResourceGroup) {
		return "arm.resourcegroup", func(w http.ResponseWriter, r *http.Request) {
			armError(w, http.StatusNotFound, "ResourceGroupNotFound", fmt.Sprintf("Resource group '%s' could not be found.", rest[1]))
		}
	}
	rest = rest[2:]
	if eq(rest, "providers", "Microsoft.CostManagement", "query") && method == http.MethodPost {
		return "cost.query", s.costQuery
	}
	if len(rest) < 2 || !eq(rest[:2], "providers", "Microsoft.Compute") {
		return "arm.unknown", nil
	}
	rest = rest[2:]
	switch {
	case eq(rest, "virtualMachineScaleSets") && get:
		return "arm.vmss.list", s.armListScaleSets
	case eq(rest, "virtualMachineScaleSets", "*") && get:
		return "arm.vmss.get", func(w http.ResponseWriter, r *http.Request) { s.armGetScaleSet(w, r, rest[1]) }
	case eq(rest, "virtualMachineScaleSets", "*") && method == http.MethodPut:
		return "arm.vmss.put", func(w http.ResponseWriter, r *http.Request) { s.armPutScaleSet(w, r, rest[1]) }
	case eq(rest, "virtualMachineScaleSets", "*") && method == http.MethodPatch:
		return "arm.vmss.patch", func(w http.ResponseWriter, r *http.Request) { s.armPatchScaleSet(w, r, rest[1]) }
	case eq(rest, "virtualMachineScaleSets", "*", "reimage") && method == http.MethodPost:
		return "arm.vmss.reimage", func(w http.ResponseWriter, r *http.Request) { s.armInstances(w, r, rest[1], nil, true) }
	case eq(rest, "virtualMachineScaleSets", "*", "delete") && method == http.MethodPost:
		return "arm.vmss.deleteinstances", func(w http.ResponseWriter, r *http.Request) { s.armInstances(w, r, rest[1], nil, false) }
	case eq(rest, "virtualMachineScaleSets", "*", "virtualMachines") && get:
		return "arm.vms.list", func(w http.ResponseWriter, r *http.Request) { s.armListVMs(w, r, rest[1], "") }
	case eq(rest, "virtualMachineScaleSets", "*", "virtualMachines", "*") && get:
		return "arm.vm.get", func(w http.ResponseWriter, r *http.Request) { s.armListVMs(w, r, rest[1], rest[3]) }
	case eq(rest, "virtualMachineScaleSets", "*", "virtualMachines", "*") && method == http.MethodDelete:
		return "arm.vm.delete", func(w http.ResponseWriter, r *http.Request) { s.armInstances(w, r, rest[1], []string{rest[3]}, false) }
	case eq(rest, "virtualMachineScaleSets", "*", "virtualMachines", "*", "reimage") && method == http.MethodPost:
		return "arm.vm.reimage", func(w http.ResponseWriter, r *http.Request) { s.armInstances(w, r, rest[1], []string{rest[3]}, true) }
	case eq(rest, "galleries", "*", "images", "*") && get:
		return "arm.gallery.image", func(w http.ResponseWriter, r *http.Request) { s.armGalleryImage(w, r, rest[1], rest[3]) }
	case eq(rest, "galleries", "*", "images", "*", "versions") && get:
		return "arm.gallery.versions", func(w http.ResponseWriter, r *http.Request) { s.armGalleryVersions(w, r, rest[1], rest[3], "") }
	case eq(rest, "galleries", "*", "images", "*", "versions", "*") && get:
		return "arm.gallery.version", func(w http.ResponseWriter, r *http.Request) { s.armGalleryVersions(w, r, rest[1], rest[3], rest[5]) }
	}
	return "arm.unknown", nil
}

func scaleSetNotFound(w http.ResponseWriter, name string) {
	armError(w, http.StatusNotFound, "ResourceNotFound",
		fmt.Sprintf("The Resource 'Microsoft.Compute/virtualMachineScaleSets/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", name, ResourceGroup))
}

func toRef(r *armcompute.ImageReference) imageRef {
	if r == nil {
		return imageRef{}
	}
	return imageRef{ID: deref(r.ID, ""), Publisher: deref(r.Publisher, ""), Offer: deref(r.Offer, ""), SKU: deref(r.SKU, ""), Version: deref(r.Version, "")}
}

func fromRef(r imageRef) *armcompute.ImageReference {
	if r.ID != "" {
		return &armcompute.ImageReference{ID: ptr(r.ID)}
	}
	return &armcompute.ImageReference{Publisher: ptr(r.Publisher), Offer: ptr(r.Offer), SKU: ptr(r.SKU), Version: ptr(r.Version)}
}

func (s *Sim) vmss(ss *scaleSet, state string) armcompute.VirtualMachineScaleSet {
	tags := map[string]*string{}
	for k, v := range ss.tags {
		tags[k] = ptr(v)
	}
	osType := armcompute.OperatingSystemTypesLinux
	osProfile := &armcompute.VirtualMachineScaleSetOSProfile{ComputerNamePrefix: ptr(ss.prefix), AdminUsername: ptr(ss.adminUser)}
	if ss.os == pool.Windows {
		osType = armcompute.OperatingSystemTypesWindows
		osProfile.WindowsConfiguration = &armcompute.WindowsConfiguration{ProvisionVMAgent: ptr(true), EnableAutomaticUpdates: ptr(false)}
	} else {
		osProfile.LinuxConfiguration = &armcompute.LinuxConfiguration{DisablePasswordAuthentication: ptr(true), ProvisionVMAgent: ptr(true)}
	}
	osDisk := &armcompute.VirtualMachineScaleSetOSDisk{CreateOption: ptr(armcompute.DiskCreateOptionTypesFromImage), OSType: &osType,
		Caching: ptr(armcompute.CachingTypesReadWrite)}
	if ss.ephemeral {
		osDisk.Caching = ptr(armcompute.CachingTypesReadOnly)
		osDisk.DiffDiskSettings = &armcompute.DiffDiskSettings{Option: ptr(armcompute.DiffDiskOptionsLocal), Placement: ptr(armcompute.DiffDiskPlacementResourceDisk)}
	}
	v := armcompute.VirtualMachineScaleSet{
		ID: ptr(scaleSetID(ss.name)), Name: ptr(ss.name), Type: ptr("Microsoft.Compute/virtualMachineScaleSets"),
		Location: ptr(ss.region), Tags: tags,
		SKU: &armcompute.SKU{Name: ptr(ss.sku), Tier: ptr("Standard"), Capacity: ptr(int64(len(ss.instances)))},
		Properties: &armcompute.VirtualMachineScaleSetProperties{
			OrchestrationMode:        ptr(armcompute.OrchestrationMode(ss.orchestration)),
			Overprovision:            ss.overprovision,
			SinglePlacementGroup:     ss.singlePG,
			PlatformFaultDomainCount: ss.faultDomains,
			UpgradePolicy:            &armcompute.UpgradePolicy{Mode: ptr(armcompute.UpgradeMode(orDefault(ss.upgradeMode, "Manual")))},
			ProvisioningState:        ptr(state),
			UniqueID:                 ptr(ss.uniqueID),
			TimeCreated:              ptr(ss.created.UTC()),
			VirtualMachineProfile: &armcompute.VirtualMachineScaleSetVMProfile{
				StorageProfile: &armcompute.VirtualMachineScaleSetStorageProfile{ImageReference: fromRef(ss.image), OSDisk: osDisk},
				OSProfile:      osProfile,
			},
		},
	}
	if ss.subnetID != "" {
		v.Properties.VirtualMachineProfile.NetworkProfile = &armcompute.VirtualMachineScaleSetNetworkProfile{
			NetworkInterfaceConfigurations: []*armcompute.VirtualMachineScaleSetNetworkConfiguration{{
				Name: ptr(ss.name + "-nic"),
				Properties: &armcompute.VirtualMachineScaleSetNetworkConfigurationProperties{
					Primary: ptr(true),
					IPConfigurations: []*armcompute.VirtualMachineScaleSetIPConfiguration{{
						Name:       ptr(ss.name + "-ipconfig"),
						Properties: &armcompute.VirtualMachineScaleSetIPConfigurationProperties{Subnet: &armcompute.APIEntityReference{ID: ptr(ss.subnetID)}},
					}},
				},
			}},
		}
	}
	return v
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (s *Sim) armListScaleSets(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	names := make([]string, 0, len(s.scaleSets))
	for k := range s.scaleSets {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]armcompute.VirtualMachineScaleSet, len(names))
	for i, k := range names {
		out[i] = s.vmss(s.scaleSets[k], "Succeeded")
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (s *Sim) armGetScaleSet(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	ss := s.scaleSets[strings.ToLower(name)]
	var v armcompute.VirtualMachineScaleSet
	if ss != nil {
		v = s.vmss(ss, "Succeeded")
	}
	s.mu.Unlock()
	if ss == nil {
		scaleSetNotFound(w, name)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// lro answers a long-running operation's first response.
func (s *Sim) lro(w http.ResponseWriter, r *http.Request, status int, region string, body any) {
	s.nextOp++
	id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(strconv.Itoa(s.nextOp))).String()
	s.ops[id] = &operation{id: id, started: s.now}
	op := fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/operations/%s?api-version=%s",
		baseURL(r), Subscription, region, id, url.QueryEscape(r.URL.Query().Get("api-version")))
	w.Header().Set("Azure-AsyncOperation", op)
	if r.Method == http.MethodPost || r.Method == http.MethodDelete {
		w.Header().Set("Location", op+"&monitor=true")
	}
	w.Header().Set("Retry-After", "0")
	if body == nil {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

func (s *Sim) armOperation(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	op := s.ops[id]
	now := s.now
	s.mu.Unlock()
	if op == nil {
		armError(w, http.StatusNotFound, "NotFound", "The operation "+id+" was not found.")
		return
	}
	if r.URL.Query().Get("monitor") == "true" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name": id, "status": "Succeeded",
		"startTime": op.started.UTC().Format(time.RFC3339Nano), "endTime": now.UTC().Format(time.RFC3339Nano),
	})
}

// quotaCores is each SKU family's regional vCPU quota.
var quotaCores = map[string]int{"standardNCASv3_T4Family": 8}

func quotaError(sku, region string, usedVMs, addVMs int) string {
	fam, cores := skuFamily(sku)
	limit, ok := quotaCores[fam]
	if !ok || (usedVMs+addVMs)*cores <= limit {
		return ""
	}
	return fmt.Sprintf("Operation could not be completed as it results in exceeding approved %s Cores quota. Additional details - Deployment Model: Resource Manager, Location: %s, Current Limit: %d, Current Usage: %d, Additional Required: %d, (Minimum) New Limit Required: %d. Submit a request for Quota increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView/Parameters/%%7B%%22subscriptionId%%22:%%22%s%%22%%7D by specifying parameters listed in the 'Details' section for deployment to succeed.",
		fam, region, limit, usedVMs*cores, addVMs*cores, (usedVMs+addVMs)*cores, Subscription)
}

func (s *Sim) armPutScaleSet(w http.ResponseWriter, r *http.Request, name string) {
	var in armcompute.VirtualMachineScaleSet
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		armError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "+err.Error())
		return
	}
	if in.Location == nil || *in.Location == "" {
		armError(w, http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
		return
	}
	if in.SKU == nil || in.SKU.Name == nil {
		armError(w, http.StatusBadRequest, "InvalidParameter", "Required parameter 'sku.name' is missing (null).")
		return
	}
	p := in.Properties
	if p == nil {
		p = &armcompute.VirtualMachineScaleSetProperties{}
	}
	var img imageRef
	if vp := p.VirtualMachineProfile; vp != nil && vp.StorageProfile != nil {
		img = toRef(vp.StorageProfile.ImageReference)
	}
	if img == (imageRef{}) {
		armError(w, http.StatusBadRequest, "InvalidParameter", "Required parameter 'imageReference' is missing (null).")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkImage(img, *in.Location); err != nil {
		armError(w, http.StatusNotFound, "GalleryImageNotFound", err.Error())
		return
	}
	key := strings.ToLower(name)
	old := s.scaleSets[key]
	capacity := int(deref(in.SKU.Capacity, 0))
	used := 0
	if old != nil {
		used = len(old.instances)
	}
	if old == nil || old.pool == nil {
		if msg := quotaError(*in.SKU.Name, *in.Location, 0, capacity); msg != "" && capacity > used {
			armError(w, http.StatusConflict, "OperationNotAllowed", msg)
			return
		}
	}
	os := pool.Linux
	ss := old
	if ss == nil {
		ss = newScaleSet(name, *in.Location, *in.SKU.Name, os, s.now)
		ss.overprovision, ss.singlePG, ss.faultDomains, ss.upgradeMode = nil, nil, nil, ""
		ss.uniqueID = uuid.NewString()
	}
	ss.sku = *in.SKU.Name
	ss.image = img
	ss.orchestration = "Uniform"
	if p.OrchestrationMode != nil {
		ss.orchestration = string(*p.OrchestrationMode)
	}
	ss.overprovision, ss.singlePG, ss.faultDomains = p.Overprovision, p.SinglePlacementGroup, p.PlatformFaultDomainCount
	ss.upgradeMode = ""
	if p.UpgradePolicy != nil && p.UpgradePolicy.Mode != nil {
		ss.upgradeMode = string(*p.UpgradePolicy.Mode)
	}
	ss.loadBalancer, ss.ephemeral = false, false
	if vp := p.VirtualMachineProfile; vp != nil {
		if op := vp.OSProfile; op != nil {
			if op.WindowsConfiguration != nil {
				ss.os = pool.Windows
			} else {
				ss.os = pool.Linux
			}
			if op.ComputerNamePrefix != nil && *op.ComputerNamePrefix != "" {
				ss.prefix = *op.ComputerNamePrefix
			}
			if op.AdminUsername != nil {
				ss.adminUser = *op.AdminUsername
			}
		}
		if sp := vp.StorageProfile; sp != nil && sp.OSDisk != nil && sp.OSDisk.DiffDiskSettings != nil {
			ss.ephemeral = true
		}
		if np := vp.NetworkProfile; np != nil {
			for _, nic := range np.NetworkInterfaceConfigurations {
				if nic == nil || nic.Properties == nil {
					continue
				}
				for _, ipc := range nic.Properties.IPConfigurations {
					if ipc == nil || ipc.Properties == nil {
						continue
					}
					if len(ipc.Properties.LoadBalancerBackendAddressPools) > 0 || len(ipc.Properties.LoadBalancerInboundNatPools) > 0 {
						ss.loadBalancer = true
					}
					if ipc.Properties.Subnet != nil && ipc.Properties.Subnet.ID != nil {
						ss.subnetID = *ipc.Properties.Subnet.ID
					}
				}
			}
		}
	}
	ss.tags = map[string]string{}
	for k, v := range in.Tags {
		if v != nil {
			ss.tags[k] = *v
		}
	}
	if ss.pool != nil {
		// The service's own tags survive a PUT in the simulator.
		ss.tags["_AzureDevOpsElasticPool"] = fmt.Sprintf("%s/%d", s.org, ss.pool.id)
	} else {
		for len(ss.instances) < capacity {
			s.addInstance(ss)
		}
		for len(ss.instances) > capacity {
			ss.instances = ss.instances[:len(ss.instances)-1]
		}
	}
	status, state := http.StatusOK, "Updating"
	if old == nil {
		status, state = http.StatusCreated, "Creating"
		s.scaleSets[key] = ss
	}
	s.lro(w, r, status, ss.region, s.vmss(ss, state))
}

func (s *Sim) armPatchScaleSet(w http.ResponseWriter, r *http.Request, name string) {
	var in armcompute.VirtualMachineScaleSetUpdate
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		armError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.scaleSets[strings.ToLower(name)]
	if ss == nil {
		scaleSetNotFound(w, name)
		return
	}
	var img *imageRef
	if p := in.Properties; p != nil && p.VirtualMachineProfile != nil && p.VirtualMachineProfile.StorageProfile != nil &&
		p.VirtualMachineProfile.StorageProfile.ImageReference != nil {
		ref := toRef(p.VirtualMachineProfile.StorageProfile.ImageReference)
		if err := s.checkImage(ref, ss.region); err != nil {
			armError(w, http.StatusNotFound, "GalleryImageNotFound", err.Error())
			return
		}
		img = &ref
	}
	if in.SKU != nil && in.SKU.Capacity != nil && ss.pool == nil {
		c := int(*in.SKU.Capacity)
		if msg := quotaError(ss.sku, ss.region, len(ss.instances), c-len(ss.instances)); msg != "" && c > len(ss.instances) {
			armError(w, http.StatusConflict, "OperationNotAllowed", msg)
			return
		}
		for len(ss.instances) < c {
			s.addInstance(ss)
		}
		for len(ss.instances) > c {
			ss.instances = ss.instances[:len(ss.instances)-1]
		}
	}
	if img != nil {
		ss.image = *img
	}
	if in.SKU != nil && in.SKU.Name != nil {
		ss.sku = *in.SKU.Name
	}
	for k, v := range in.Tags {
		if v == nil {
			delete(ss.tags, k)
		} else {
			ss.tags[k] = *v
		}
	}
	if p := in.Properties; p != nil {
		if p.Overprovision != nil {
			ss.overprovision = p.Overprovision
		}
		if p.SinglePlacementGroup != nil {
			ss.singlePG = p.SinglePlacementGroup
		}
		if p.UpgradePolicy != nil && p.UpgradePolicy.Mode != nil {
			ss.upgradeMode = string(*p.UpgradePolicy.Mode)
		}
	}
	s.lro(w, r, http.StatusOK, ss.region, s.vmss(ss, "Updating"))
}

func (s *Sim) vm(ss *scaleSet, inst *instance) armcompute.VirtualMachineScaleSetVM {
	state := "Succeeded"
	if n := inst.node; n != nil {
		switch n.state {
		case pool.NodeNew, pool.NodeCreatingCompute:
			state = "Creating"
		case pool.NodeDeletingCompute:
			state = "Deleting"
		case pool.NodeFailedVMPendingDelete:
			state = "Failed"
		}
	}
	ref := fromRef(inst.image)
	if inst.image.ID != "" {
		if _, _, v, ok := parseGalleryID(inst.image.ID); ok {
			ref.ExactVersion = ptr(v)
		}
	} else {
		ref.ExactVersion = ptr(orDefault(strings.TrimPrefix(inst.image.Version, "latest"), "22.04.202601010"))
	}
	return armcompute.VirtualMachineScaleSetVM{
		ID:         ptr(scaleSetID(ss.name) + "/virtualMachines/" + strconv.Itoa(inst.id)),
		Name:       ptr(ss.name + "_" + strconv.Itoa(inst.id)),
		InstanceID: ptr(strconv.Itoa(inst.id)),
		Type:       ptr("Microsoft.Compute/virtualMachineScaleSets/virtualMachines"),
		Location:   ptr(ss.region),
		SKU:        &armcompute.SKU{Name: ptr(ss.sku), Tier: ptr("Standard")},
		Properties: &armcompute.VirtualMachineScaleSetVMProperties{
			LatestModelApplied: ptr(inst.image == s.resolve(ss.image)),
			ProvisioningState:  ptr(state),
			VMID:               ptr(uuid.NewSHA1(uuid.NameSpaceOID, []byte(ss.uniqueID+inst.name)).String()),
			TimeCreated:        ptr(inst.created.UTC()),
			OSProfile:          &armcompute.OSProfile{ComputerName: ptr(inst.name), AdminUsername: ptr(ss.adminUser)},
			StorageProfile:     &armcompute.StorageProfile{ImageReference: ref},
		},
	}
}

func (s *Sim) armListVMs(w http.ResponseWriter, r *http.Request, name, instanceID string) {
	skip, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
	s.mu.Lock()
	ss := s.scaleSets[strings.ToLower(name)]
	var out []armcompute.VirtualMachineScaleSetVM
	more := false
	var one *instance
	if ss != nil {
		if instanceID != "" {
			one = ss.instance(instanceID)
			if one != nil {
				out = append(out, s.vm(ss, one))
			}
		} else {
			for k := skip; k < len(ss.instances) && len(out) < vmPage; k++ {
				out = append(out, s.vm(ss, ss.instances[k]))
			}
			more = skip+vmPage < len(ss.instances)
		}
	}
	s.mu.Unlock()
	switch {
	case ss == nil:
		scaleSetNotFound(w, name)
	case instanceID != "" && one == nil:
		armError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("The entity was not found in this Azure location. Instance %s of %s.", instanceID, name))
	case instanceID != "":
		writeJSON(w, http.StatusOK, out[0])
	default:
		body := map[string]any{"value": orEmpty(out)}
		if more {
			q := r.URL.Query()
			q.Set("$skiptoken", strconv.Itoa(skip+vmPage))
			body["nextLink"] = baseURL(r) + r.URL.Path + "?" + q.Encode()
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// armInstances reimages or deletes instances: ids from the path, or the
// body's instanceIds for the scale-set-wide actions.
func (s *Sim) armInstances(w http.ResponseWriter, r *http.Request, name string, ids []string, reimage bool) {
	if ids == nil {
		var in armcompute.VirtualMachineScaleSetVMInstanceIDs
		_ = json.NewDecoder(r.Body).Decode(&in)
		for _, id := range in.InstanceIDs {
			if id != nil {
				ids = append(ids, *id)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.scaleSets[strings.ToLower(name)]
	if ss == nil {
		scaleSetNotFound(w, name)
		return
	}
	var insts []*instance
	if len(ids) == 0 {
		insts = append(insts, ss.instances...)
	}
	for _, id := range ids {
		inst := ss.instance(id)
		if inst == nil {
			armError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("The entity was not found in this Azure location. Instance %s of %s.", id, name))
			return
		}
		insts = append(insts, inst)
	}
	for _, inst := range insts {
		n := inst.node
		switch {
		case n == nil && reimage:
			inst.image, inst.reimaged = s.resolve(ss.image), s.now
		case n == nil:
			s.removeInstance(ss, inst)
		case reimage:
			s.reimage(ss.pool, n)
		default:
			if n.job != nil {
				s.finishJob(ss.pool, n, "failed", s.now)
			}
			s.setState(n, pool.NodeDeletingCompute, "deleting", "none", 2*time.Minute)
		}
	}
	s.lro(w, r, http.StatusAccepted, ss.region, nil)
}

func (s *Sim) armGalleryImage(w http.ResponseWriter, r *http.Request, g, name string) {
	s.mu.Lock()
	img := s.gallery[strings.ToLower(name)]
	s.mu.Unlock()
	if img == nil || !strings.EqualFold(g, Gallery) {
		armError(w, http.StatusNotFound, "ResourceNotFound",
			fmt.Sprintf("The Resource 'Microsoft.Compute/galleries/%s/images/%s' under resource group '%s' was not found.", g, name, ResourceGroup))
		return
	}
	os := armcompute.OperatingSystemTypesLinux
	if img.os == pool.Windows {
		os = armcompute.OperatingSystemTypesWindows
	}
	writeJSON(w, http.StatusOK, armcompute.GalleryImage{
		ID: ptr(galleryImageID(img.name)), Name: ptr(img.name), Location: ptr(Region),
		Type: ptr("Microsoft.Compute/galleries/images"),
		Properties: &armcompute.GalleryImageProperties{
			OSType: &os, OSState: ptr(armcompute.OperatingSystemStateTypesGeneralized),
			HyperVGeneration:  ptr(armcompute.HyperVGenerationV2),
			Identifier:        &armcompute.GalleryImageIdentifier{Publisher: ptr("contoso"), Offer: ptr("agents"), SKU: ptr(img.name)},
			ProvisioningState: ptr(armcompute.GalleryProvisioningStateSucceeded),
		},
	})
}

func (s *Sim) armGalleryVersions(w http.ResponseWriter, r *http.Request, g, name, version string) {
	s.mu.Lock()
	img := s.gallery[strings.ToLower(name)]
	var out []armcompute.GalleryImageVersion
	if img != nil && strings.EqualFold(g, Gallery) {
		for _, v := range sortedVersions(img) {
			if version != "" && v.name != version {
				continue
			}
			out = append(out, armcompute.GalleryImageVersion{
				ID: ptr(galleryImageID(img.name) + "/versions/" + v.name), Name: ptr(v.name), Location: ptr(Region),
				Type: ptr("Microsoft.Compute/galleries/images/versions"),
				Properties: &armcompute.GalleryImageVersionProperties{
					ProvisioningState: ptr(armcompute.GalleryProvisioningStateSucceeded),
					PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{
						PublishedDate: ptr(v.published.UTC()), ExcludeFromLatest: ptr(false),
						TargetRegions: []*armcompute.TargetRegion{{Name: ptr("West Europe")}, {Name: ptr("East US")}},
					},
				},
			})
		}
	}
	s.mu.Unlock()
	switch {
	case img == nil || !strings.EqualFold(g, Gallery):
		armError(w, http.StatusNotFound, "ResourceNotFound",
			fmt.Sprintf("The Resource 'Microsoft.Compute/galleries/%s/images/%s' under resource group '%s' was not found.", g, name, ResourceGroup))
	case version != "" && len(out) == 0:
		armError(w, http.StatusNotFound, "ResourceNotFound",
			fmt.Sprintf("The Resource 'Microsoft.Compute/galleries/%s/images/%s/versions/%s' under resource group '%s' was not found.", g, name, version, ResourceGroup))
	case version != "":
		writeJSON(w, http.StatusOK, out[0])
	default:
		writeJSON(w, http.StatusOK, map[string]any{"value": orEmpty(out)})
	}
}
