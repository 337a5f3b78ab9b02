package azure

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/elastic"

	"github.com/poolbot/poolbot/pool"
)

func (c *Client) scaleSetsClient(sub string) (*armcompute.VirtualMachineScaleSetsClient, error) {
	if c.opts.ARMCredential == nil {
		return nil, &pool.Error{Kind: pool.KindAuth, Msg: "no Azure credential is configured, so poolbot cannot reach the scale sets ([azure] auth)"}
	}
	c.armMu.Lock()
	defer c.armMu.Unlock()
	if cl, ok := c.vmss[sub]; ok {
		return cl, nil
	}
	cl, err := armcompute.NewVirtualMachineScaleSetsClient(sub, c.opts.ARMCredential, c.armOpts)
	if err != nil {
		return nil, fmt.Errorf("scale set client: %w", err)
	}
	c.vmss[sub] = cl
	return cl, nil
}

func (c *Client) imageVersionsClient(sub string) (*armcompute.GalleryImageVersionsClient, error) {
	if c.opts.ARMCredential == nil {
		return nil, &pool.Error{Kind: pool.KindAuth, Msg: "no Azure credential is configured, so poolbot cannot read the image gallery ([azure] auth)"}
	}
	c.armMu.Lock()
	defer c.armMu.Unlock()
	if cl, ok := c.images[sub]; ok {
		return cl, nil
	}
	cl, err := armcompute.NewGalleryImageVersionsClient(sub, c.opts.ARMCredential, c.armOpts)
	if err != nil {
		return nil, fmt.Errorf("gallery client: %w", err)
	}
	c.images[sub] = cl
	return cl, nil
}

func (c *Client) vmsClient(sub string) (*armcompute.VirtualMachineScaleSetVMsClient, error) {
	if c.opts.ARMCredential == nil {
		return nil, &pool.Error{Kind: pool.KindAuth, Msg: "no Azure credential is configured, so poolbot cannot reach the scale sets ([azure] auth)"}
	}
	c.armMu.Lock()
	defer c.armMu.Unlock()
	if cl, ok := c.vms[sub]; ok {
		return cl, nil
	}
	cl, err := armcompute.NewVirtualMachineScaleSetVMsClient(sub, c.opts.ARMCredential, c.armOpts)
	if err != nil {
		return nil, fmt.Errorf("scale set VM client: %w", err)
	}
	c.vms[sub] = cl
	return cl, nil
}

// instanceImages returns the image each VM of the scale set was made from,
// by instance id, with the exact version it got (a gallery image without
// a version, or "latest", names the one it resolved to).
func (c *Client) instanceImages(ctx context.Context, id string) (map[string]pool.Image, error) {
	rid, err := parseScaleSetID(id)
	if err != nil {
		return nil, err
	}
	cl, err := c.vmsClient(rid.SubscriptionID)
	if err != nil {
		return nil, err
	}
	out := map[string]pool.Image{}
	pager := cl.NewListPager(rid.ResourceGroupName, rid.Name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, vm := range page.Value {
			if vm == nil || vm.InstanceID == nil || vm.Properties == nil || vm.Properties.StorageProfile == nil {
				continue
			}
			ref := vm.Properties.StorageProfile.ImageReference
			if ref == nil {
				continue
			}
			img := fromImageReference(ref)
			if v := deref(ref.ExactVersion); v != "" {
				switch {
				case img.ID != "" && !strings.Contains(strings.ToLower(img.ID), "/versions/"):
					img.ID += "/versions/" + v
				case img.ID == "":
					img.Version = v
				}
			}
			out[*vm.InstanceID] = img
		}
	}
	return out, nil
}

func parseScaleSetID(id string) (*arm.ResourceID, error) {
	rid, err := arm.ParseResourceID(id)
	if err != nil || !strings.EqualFold(rid.ResourceType.String(), "Microsoft.Compute/virtualMachineScaleSets") {
		return nil, &pool.Error{Kind: pool.KindInvalid, Msg: fmt.Sprintf("%q is not a scale set resource id", id), Err: err}
	}
	return rid, nil
}

// scaleSet reads the scale set with resource id id.
func (c *Client) scaleSet(ctx context.Context, id string) (*pool.ScaleSet, error) {
	rid, err := parseScaleSetID(id)
	if err != nil {
		return nil, err
	}
	cl, err := c.scaleSetsClient(rid.SubscriptionID)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Get(ctx, rid.ResourceGroupName, rid.Name, nil)
	if err != nil {
		return nil, err
	}
	return toScaleSet(resp.VirtualMachineScaleSet, rid), nil
}

func toScaleSet(v armcompute.VirtualMachineScaleSet, rid *arm.ResourceID) *pool.ScaleSet {
	ss := &pool.ScaleSet{
		ID:            rid.String(),
		Subscription:  rid.SubscriptionID,
		ResourceGroup: rid.ResourceGroupName,
		Name:          rid.Name,
		Region:        deref(v.Location),
		Tags:          map[string]string{},
	}
	if v.ID != nil {
		ss.ID = *v.ID
	}
	if v.SKU != nil {
		ss.SKU = deref(v.SKU.Name)
		ss.Capacity = int(deref(v.SKU.Capacity))
	}
	for k, val := range v.Tags {
		ss.Tags[k] = deref(val)
	}
	if v.Properties != nil && v.Properties.VirtualMachineProfile != nil && v.Properties.VirtualMachineProfile.StorageProfile != nil {
		sp := v.Properties.VirtualMachineProfile.StorageProfile
		ss.Image = fromImageReference(sp.ImageReference)
		if sp.OSDisk != nil && sp.OSDisk.DiffDiskSettings != nil && sp.OSDisk.DiffDiskSettings.Option != nil {
			ss.EphemeralOSDisk = *sp.OSDisk.DiffDiskSettings.Option == armcompute.DiffDiskOptionsLocal
		}
	}
	return ss
}

func fromImageReference(r *armcompute.ImageReference) pool.Image {
	switch {
	case r == nil:
		return pool.Image{}
	case r.ID != nil && *r.ID != "":
		return pool.Image{ID: *r.ID}
	case r.SharedGalleryImageID != nil && *r.SharedGalleryImageID != "":
		return pool.Image{ID: *r.SharedGalleryImageID}
	case r.CommunityGalleryImageID != nil && *r.CommunityGalleryImageID != "":
		return pool.Image{ID: *r.CommunityGalleryImageID}
	}
	return pool.Image{Publisher: deref(r.Publisher), Offer: deref(r.Offer), SKU: deref(r.SKU), Version: deref(r.Version)}
}

func toImageReference(img pool.Image) *armcompute.ImageReference {
	if img.ID != "" {
		return &armcompute.ImageReference{ID: to.Ptr(img.ID)}
	}
	return &armcompute.ImageReference{Publisher: to.Ptr(img.Publisher), Offer: to.Ptr(img.Offer), SKU: to.Ptr(img.SKU), Version: to.Ptr(img.Version)}
}

var galleryImageRE = regexp.MustCompile(`(?i)^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/galleries/([^/]+)/images/([^/]+)(?:/versions/([^/]+))?$`)

// resolveImage turns a gallery image without a version, or with version
// "latest", into its newest version (leaving out versions excluded from
// latest). Other images are returned as they are.
func (c *Client) resolveImage(ctx context.Context, img pool.Image) (pool.Image, error) {
	if img.ID == "" {
		return img, nil
	}
	m := galleryImageRE.FindStringSubmatch(img.ID)
	if m == nil || (m[5] != "" && !strings.EqualFold(m[5], "latest")) {
		return img, nil
	}
	sub, rg, gallery, image := m[1], m[2], m[3], m[4]
	cl, err := c.imageVersionsClient(sub)
	if err != nil {
		return pool.Image{}, err
	}
	var best *armcompute.GalleryImageVersion
	pager := cl.NewListByGalleryImagePager(rg, gallery, image, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return pool.Image{}, err
		}
		for _, v := range page.Value {
			if v == nil || v.Name == nil {
				continue
			}
			if v.Properties != nil && v.Properties.PublishingProfile != nil && deref(v.Properties.PublishingProfile.ExcludeFromLatest) {
				continue
			}
			if best == nil || newerVersion(*v.Name, *best.Name) {
				best = v
			}
		}
	}
	if best == nil {
		return pool.Image{}, &pool.Error{Kind: pool.KindNotFound, Msg: fmt.Sprintf("gallery image %s/%s has no version to use", gallery, image)}
	}
	base := img.ID
	if i := strings.Index(strings.ToLower(base), "/versions/"); i >= 0 {
		base = base[:i]
	}
	id := base + "/versions/" + *best.Name
	if best.ID != nil && *best.ID != "" {
		id = *best.ID
	}
	return pool.Image{ID: id}, nil
}

// newerVersion compares gallery versions "major.minor.patch" numerically.
func newerVersion(a, b string) bool {
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
			return x > y
		}
	}
	return false
}

// SetImage changes the image reference of the pool's scale set model. Only
// VMs created or reimaged afterwards get it.
func (c *Client) SetImage(ctx context.Context, name string, img pool.Image) (before, after pool.Image, err error) {
	t := target{op: "set image", pool: name, write: true}
	if img.IsZero() {
		return before, after, &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name, Msg: "no image given"}
	}
	if img.WellKnown() {
		return before, after, &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name,
			Msg: fmt.Sprintf("%s is a Managed DevOps Pools image; a scale set takes a gallery image or a marketplace URN", img.ID)}
	}
	p, err := c.pool(ctx, name)
	if err != nil {
		return before, after, translate(t, err)
	}
	if p.ScaleSetID == "" {
		return before, after, &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name, Msg: "the pool has no scale set"}
	}
	rid, err := parseScaleSetID(p.ScaleSetID)
	if err != nil {
		return before, after, translate(t, err)
	}
	t.scaleSet = rid.Name
	ss, err := c.scaleSet(ctx, p.ScaleSetID)
	if err != nil {
		return before, after, translate(t, err)
	}
	t.region, t.sku = ss.Region, ss.SKU
	before = ss.Image
	after, err = c.resolveImage(ctx, img)
	if err != nil {
		return before, pool.Image{}, translate(t, err)
	}
	if after == before {
		return before, after, nil
	}
	cl, err := c.scaleSetsClient(rid.SubscriptionID)
	if err != nil {
		return before, pool.Image{}, translate(t, err)
	}
	upd := armcompute.VirtualMachineScaleSetUpdate{Properties: &armcompute.VirtualMachineScaleSetUpdateProperties{
		VirtualMachineProfile: &armcompute.VirtualMachineScaleSetUpdateVMProfile{
			StorageProfile: &armcompute.VirtualMachineScaleSetUpdateStorageProfile{ImageReference: toImageReference(after)},
		},
	}}
	poller, err := cl.BeginUpdate(ctx, rid.ResourceGroupName, rid.Name, upd, nil)
	if err != nil {
		return before, pool.Image{}, translate(t, err)
	}
	if _, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: c.opts.PollInterval}); err != nil {
		return before, pool.Image{}, translate(t, err)
	}
	c.log.InfoContext(ctx, "scale set image changed", "pool", name, "scale_set", rid.Name, "before", before.String(), "after", after.String())
	return before, after, nil
}

var scaleSetNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func validateSpec(s *pool.CreateSpec) error {
	var errs []string
	if !scaleSetNameRE.MatchString(s.Name) {
		errs = append(errs, fmt.Sprintf("name %q must be 1-63 letters, digits, '.', '_' or '-'", s.Name))
	}
	if s.OS != pool.Linux && s.OS != pool.Windows {
		errs = append(errs, fmt.Sprintf("os must be linux or windows, not %q", s.OS))
	}
	for _, f := range []struct{ v, n string }{{s.Subscription, "subscription"}, {s.ResourceGroup, "resource group"},
		{s.Region, "region"}, {s.SKU, "VM size (sku)"}, {s.SubnetID, "subnet"}, {s.AdminUser, "admin user"}} {
		if f.v == "" {
			errs = append(errs, "no "+f.n+" given")
		}
	}
	if s.Image.IsZero() {
		errs = append(errs, "no image given")
	}
	switch {
	case s.OS == pool.Windows && s.AdminPassword == "":
		errs = append(errs, "a Windows pool needs an admin password")
	case s.OS == pool.Linux && s.SSHPublicKey == "" && s.AdminPassword == "":
		errs = append(errs, "a Linux pool needs an SSH public key or an admin password")
	}
	if _, err := uuid.Parse(s.ServiceEndpointID); err != nil {
		errs = append(errs, "the service connection id must be a GUID")
	}
	if _, err := uuid.Parse(s.ServiceEndpointScope); err != nil {
		errs = append(errs, "the service connection scope (project id) must be a GUID")
	}
	if s.ProjectID != "" {
		if _, err := uuid.Parse(s.ProjectID); err != nil {
			errs = append(errs, "the project id must be a GUID")
		}
	}
	set := pool.Settings{Standby: pool.Int(s.Standby), Max: pool.Int(s.Max), TTLMinutes: pool.Int(s.TTLMinutes)}
	if err := set.Validate(pool.Pool{}); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// scaleSetModel is the scale set Azure DevOps requires of an elastic pool:
// Uniform, no overprovisioning, Manual upgrades, no single placement group,
// one fault domain, no load balancer, capacity 0 (Azure DevOps scales it).
func scaleSetModel(s pool.CreateSpec, img pool.Image) armcompute.VirtualMachineScaleSet {
	tags := map[string]*string{"poolbot-pool": to.Ptr(s.Name)}
	for k, v := range s.Tags {
		tags[k] = to.Ptr(v)
	}
	os := &armcompute.VirtualMachineScaleSetOSProfile{
		ComputerNamePrefix: to.Ptr(computerNamePrefix(s.Name)),
		AdminUsername:      to.Ptr(s.AdminUser),
	}
	if s.AdminPassword != "" {
		os.AdminPassword = to.Ptr(s.AdminPassword)
	}
	if s.OS == pool.Linux {
		lc := &armcompute.LinuxConfiguration{DisablePasswordAuthentication: to.Ptr(s.AdminPassword == "")}
		if s.SSHPublicKey != "" {
			lc.SSH = &armcompute.SSHConfiguration{PublicKeys: []*armcompute.SSHPublicKey{{
				Path:    to.Ptr("/home/" + s.AdminUser + "/.ssh/authorized_keys"),
				KeyData: to.Ptr(s.SSHPublicKey),
			}}}
		}
		os.LinuxConfiguration = lc
	} else {
		os.WindowsConfiguration = &armcompute.WindowsConfiguration{EnableAutomaticUpdates: to.Ptr(false)}
	}
	disk := &armcompute.VirtualMachineScaleSetOSDisk{
		CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage),
		Caching:      to.Ptr(armcompute.CachingTypesReadWrite),
		ManagedDisk:  &armcompute.VirtualMachineScaleSetManagedDiskParameters{StorageAccountType: to.Ptr(armcompute.StorageAccountTypesStandardSSDLRS)},
	}
	if s.EphemeralOSDisk {
		disk.Caching = to.Ptr(armcompute.CachingTypesReadOnly)
		disk.DiffDiskSettings = &armcompute.DiffDiskSettings{Option: to.Ptr(armcompute.DiffDiskOptionsLocal)}
		disk.ManagedDisk = &armcompute.VirtualMachineScaleSetManagedDiskParameters{StorageAccountType: to.Ptr(armcompute.StorageAccountTypesStandardLRS)}
	}
	return armcompute.VirtualMachineScaleSet{
		Location: to.Ptr(s.Region),
		SKU:      &armcompute.SKU{Name: to.Ptr(s.SKU), Tier: to.Ptr("Standard"), Capacity: to.Ptr[int64](0)},
		Tags:     tags,
		Properties: &armcompute.VirtualMachineScaleSetProperties{
			OrchestrationMode:        to.Ptr(armcompute.OrchestrationModeUniform),
			Overprovision:            to.Ptr(false),
			SinglePlacementGroup:     to.Ptr(false),
			PlatformFaultDomainCount: to.Ptr[int32](1),
			UpgradePolicy:            &armcompute.UpgradePolicy{Mode: to.Ptr(armcompute.UpgradeModeManual)},
			VirtualMachineProfile: &armcompute.VirtualMachineScaleSetVMProfile{
				OSProfile:      os,
				StorageProfile: &armcompute.VirtualMachineScaleSetStorageProfile{ImageReference: toImageReference(img), OSDisk: disk},
				NetworkProfile: &armcompute.VirtualMachineScaleSetNetworkProfile{
					NetworkInterfaceConfigurations: []*armcompute.VirtualMachineScaleSetNetworkConfiguration{{
						Name: to.Ptr(s.Name + "-nic"),
						Properties: &armcompute.VirtualMachineScaleSetNetworkConfigurationProperties{
							Primary: to.Ptr(true),
							IPConfigurations: []*armcompute.VirtualMachineScaleSetIPConfiguration{{
								Name: to.Ptr(s.Name + "-ip"),
								Properties: &armcompute.VirtualMachineScaleSetIPConfigurationProperties{
									Primary: to.Ptr(true),
									Subnet:  &armcompute.APIEntityReference{ID: to.Ptr(s.SubnetID)},
								},
							}},
						},
					}},
				},
			},
		},
	}
}

// computerNamePrefix is the pool name's letters and digits, at most 9 so
// that Windows names (15 characters with the 6-character suffix) fit.
func computerNamePrefix(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
		if b.Len() == 9 {
			break
		}
	}
	if b.Len() == 0 {
		return "agent"
	}
	return b.String()
}

// Create makes the scale set and then the elastic pool on it. If the pool
// request fails without a clear refusal, Create looks the pool up before
// sending it again, so that a pool is never created twice.
func (c *Client) Create(ctx context.Context, spec pool.CreateSpec) (pool.Pool, error) {
	if spec.Subscription == "" {
		spec.Subscription = c.opts.Subscription
	}
	if spec.ResourceGroup == "" {
		spec.ResourceGroup = c.opts.ResourceGroup
	}
	t := target{op: "create pool", pool: spec.Name, write: true, scaleSet: spec.Name, region: spec.Region, sku: spec.SKU}
	if err := validateSpec(&spec); err != nil {
		return pool.Pool{}, &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: spec.Name, Msg: err.Error(), Err: err}
	}
	switch _, err := c.poolID(ctx, spec.Name); {
	case err == nil:
		return pool.Pool{}, &pool.Error{Kind: pool.KindConflict, Op: t.op, Pool: spec.Name, Msg: fmt.Sprintf("a pool named %q already exists", spec.Name)}
	case pool.KindOf(err) != pool.KindNotFound:
		return pool.Pool{}, translate(t, err)
	}
	img, err := c.resolveImage(ctx, spec.Image)
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	cl, err := c.scaleSetsClient(spec.Subscription)
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	// Never overwrite a scale set that is not a leftover of an earlier
	// attempt at this same pool.
	switch got, err := cl.Get(ctx, spec.ResourceGroup, spec.Name, nil); {
	case err == nil:
		tags := got.Tags
		if deref(tags["poolbot-pool"]) != spec.Name || tags["_AzureDevOpsElasticPool"] != nil {
			return pool.Pool{}, &pool.Error{Kind: pool.KindConflict, Op: t.op, Pool: spec.Name,
				Msg: fmt.Sprintf("a scale set named %s already exists in resource group %s", spec.Name, spec.ResourceGroup)}
		}
	case !isNotFound(err):
		return pool.Pool{}, translate(t, err)
	}
	poller, err := cl.BeginCreateOrUpdate(ctx, spec.ResourceGroup, spec.Name, scaleSetModel(spec, img), nil)
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	res, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: c.opts.PollInterval})
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	ssID := deref(res.ID)
	if ssID == "" {
		ssID = fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s",
			spec.Subscription, spec.ResourceGroup, spec.Name)
	}
	c.log.InfoContext(ctx, "scale set created", "pool", spec.Name, "scale_set", ssID)

	ep, err := c.createElastic(ctx, spec, ssID)
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	p := fromElastic(*ep)
	p.Name = spec.Name
	if rid, err := arm.ParseResourceID(ssID); err == nil {
		p.ScaleSet = toScaleSet(res.VirtualMachineScaleSet, rid)
	}
	c.log.InfoContext(ctx, "pool created", "pool", spec.Name, "id", p.ID)
	return p, nil
}

func (c *Client) createElastic(ctx context.Context, spec pool.CreateSpec, ssID string) (*elastic.ElasticPool, error) {
	se, _ := uuid.Parse(spec.ServiceEndpointID)
	scope, _ := uuid.Parse(spec.ServiceEndpointScope)
	osType := elastic.OperatingSystemType(spec.OS)
	args := elastic.CreateElasticPoolArgs{
		PoolName:              to.Ptr(spec.Name),
		AuthorizeAllPipelines: to.Ptr(false),
		ElasticPool: &elastic.ElasticPool{
			AgentInteractiveUI:   to.Ptr(false),
			AzureId:              to.Ptr(ssID),
			DesiredIdle:          to.Ptr(spec.Standby),
			MaxCapacity:          to.Ptr(spec.Max),
			MaxSavedNodeCount:    to.Ptr(0),
			OrchestrationType:    to.Ptr(elastic.OrchestrationTypeValues.Uniform),
			OsType:               &osType,
			RecycleAfterEachUse:  to.Ptr(spec.Recycle),
			ServiceEndpointId:    &se,
			ServiceEndpointScope: &scope,
			TimeToLiveMinutes:    to.Ptr(spec.TTLMinutes),
		},
	}
	if spec.ProjectID != "" {
		pid, _ := uuid.Parse(spec.ProjectID)
		args.ProjectId = &pid
	}
	for attempt := 0; ; attempt++ {
		res, err := c.elastic.CreateElasticPool(ctx, args)
		if err == nil {
			if res.AgentPool != nil && res.AgentPool.Id != nil {
				c.namesMu.Lock()
				if c.byName != nil {
					c.byName[strings.ToLower(spec.Name)] = *res.AgentPool.Id
					c.byID[*res.AgentPool.Id] = spec.Name
				}
				c.namesMu.Unlock()
			}
			if res.ElasticPool == nil {
				return nil, errors.New("Azure DevOps returned no elastic pool")
			}
			return res.ElasticPool, nil
		}
		if !uncertain(err) || ctx.Err() != nil {
			return nil, err
		}
		// The request may have reached Azure DevOps: look before sending
		// it again.
		c.log.WarnContext(ctx, "create pool: no clear answer, looking the pool up", "pool", spec.Name, "error", err)
		if rerr := c.refreshNames(ctx); rerr != nil {
			return nil, err
		}
		if id, lerr := c.poolID(ctx, spec.Name); lerr == nil {
			return c.elastic.GetElasticPool(ctx, elastic.GetElasticPoolArgs{PoolId: &id})
		}
		if attempt >= 1 {
			return nil, err
		}
	}
}

func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == 404
}

// uncertain reports whether a failed request may have been carried out:
// no answer, or a server error.
func uncertain(err error) bool {
	var ce *connError
	if errors.As(err, &ce) {
		return true
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.Status >= 500
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode >= 500
	}
	return false
}
