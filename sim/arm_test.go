package sim

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
)

func TestARMGetScaleSet(t *testing.T) {
	e := newEnv(t, Options{})
	f := e.compute(t)
	tests := []struct {
		name, sku, image string
	}{
		{"linux-ci", "Standard_D4s_v5", "ubuntu22/versions/1.1.0"},
		{"windows-ci", "Standard_D4s_v5", "win2022/versions/1.1.0"},
		{"gpu-nightly", "Standard_NC4as_T4_v3", "ubuntu22/versions/1.1.0"},
	}
	for _, tc := range tests {
		r, err := f.NewVirtualMachineScaleSetsClient().Get(ctx(t), ResourceGroup, tc.name, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := r.Properties
		if *r.SKU.Name != tc.sku || *r.Location != Region || *p.OrchestrationMode != armcompute.OrchestrationModeUniform ||
			*p.Overprovision || *p.SinglePlacementGroup || *p.PlatformFaultDomainCount != 1 || *p.UpgradePolicy.Mode != armcompute.UpgradeModeManual ||
			!strings.HasSuffix(*p.VirtualMachineProfile.StorageProfile.ImageReference.ID, "/galleries/"+Gallery+"/images/"+tc.image) {
			t.Errorf("%s: %+v", tc.name, r.VirtualMachineScaleSet)
		}
		if r.Tags["_AzureDevOpsElasticPool"] == nil {
			t.Errorf("%s has no _AzureDevOpsElasticPool tag", tc.name)
		}
	}
	_, err := f.NewVirtualMachineScaleSetsClient().Get(ctx(t), ResourceGroup, "nope", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "ResourceNotFound" {
		t.Fatalf("get nope: %v", err)
	}
}

func TestARMNeedsBearer(t *testing.T) {
	e := newEnv(t, Options{})
	resp, err := e.arm.Client().Get(e.arm.URL + "/subscriptions/" + Subscription + "/resourceGroups/" + ResourceGroup +
		"/providers/Microsoft.Compute/virtualMachineScaleSets/linux-ci?api-version=2025-04-01")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
}

func TestARMImageChangeAppliesToNewVMs(t *testing.T) {
	e := newEnv(t, Options{Pools: []PoolSpec{{Name: "p", Max: 6, Standby: 2, JobsPerHour: -1}}})
	f := e.compute(t)
	e.sim.Advance(15 * time.Minute)
	newImage := galleryImageID("ubuntu22") // no version: newest, 1.2.0
	poller, err := f.NewVirtualMachineScaleSetsClient().BeginUpdate(ctx(t), ResourceGroup, "p", armcompute.VirtualMachineScaleSetUpdate{
		Properties: &armcompute.VirtualMachineScaleSetUpdateProperties{
			VirtualMachineProfile: &armcompute.VirtualMachineScaleSetUpdateVMProfile{
				StorageProfile: &armcompute.VirtualMachineScaleSetUpdateStorageProfile{
					ImageReference: &armcompute.ImageReference{ID: &newImage}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := poller.PollUntilDone(ctx(t), fastPoll)
	if err != nil {
		t.Fatal(err)
	}
	if got := *res.Properties.VirtualMachineProfile.StorageProfile.ImageReference.ID; got != newImage {
		t.Errorf("model image = %s", got)
	}
	if c := e.sim.Calls(); c["arm.vmss.patch"] != 1 || c["arm.operation"] < 1 || c["arm.vmss.get"] != 1 {
		t.Errorf("calls = %v", c)
	}
	versions := func() map[string]int {
		m := map[string]int{}
		pager := f.NewVirtualMachineScaleSetVMsClient().NewListPager(ResourceGroup, "p", nil)
		for pager.More() {
			page, err := pager.NextPage(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, vm := range page.Value {
				m[*vm.Properties.StorageProfile.ImageReference.ExactVersion]++
			}
		}
		return m
	}
	if v := versions(); v["1.1.0"] != 2 || len(v) != 1 {
		t.Fatalf("versions before = %v", v)
	}
	// Reimage one instance: it picks up the new image.
	pager := f.NewVirtualMachineScaleSetVMsClient().NewListPager(ResourceGroup, "p", nil)
	page, err := pager.NextPage(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	id := *page.Value[0].InstanceID
	rp, err := f.NewVirtualMachineScaleSetVMsClient().BeginReimage(ctx(t), ResourceGroup, "p", id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.PollUntilDone(ctx(t), fastPoll); err != nil {
		t.Fatal(err)
	}
	if v := versions(); v["1.1.0"] != 1 || v["1.2.0"] != 1 {
		t.Fatalf("versions after reimage = %v", v)
	}
}
