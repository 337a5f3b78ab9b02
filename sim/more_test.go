package sim

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/costmanagement/armcostmanagement"
	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/elastic"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"
)

func scaleSetSpec(mutate func(*armcompute.VirtualMachineScaleSet)) armcompute.VirtualMachineScaleSet {
	f, one := false, int32(1)
	img := galleryImageID("ubuntu22") + "/versions/1.2.0"
	v := armcompute.VirtualMachineScaleSet{
		Location: ptr(Region),
		SKU:      &armcompute.SKU{Name: ptr("Standard_D2s_v5"), Tier: ptr("Standard"), Capacity: ptr(int64(0))},
		Properties: &armcompute.VirtualMachineScaleSetProperties{
			OrchestrationMode: ptr(armcompute.OrchestrationModeUniform), Overprovision: &f, SinglePlacementGroup: &f,
			PlatformFaultDomainCount: &one, UpgradePolicy: &armcompute.UpgradePolicy{Mode: ptr(armcompute.UpgradeModeManual)},
			VirtualMachineProfile: &armcompute.VirtualMachineScaleSetVMProfile{
				StorageProfile: &armcompute.VirtualMachineScaleSetStorageProfile{ImageReference: &armcompute.ImageReference{ID: &img}},
				OSProfile: &armcompute.VirtualMachineScaleSetOSProfile{ComputerNamePrefix: ptr("new"), AdminUsername: ptr("azureuser"),
					LinuxConfiguration: &armcompute.LinuxConfiguration{DisablePasswordAuthentication: ptr(true)}},
			},
		},
	}
	if mutate != nil {
		mutate(&v)
	}
	return v
}

func TestCreatePool(t *testing.T) {
	e := newEnv(t, Options{})
	vmss := e.compute(t).NewVirtualMachineScaleSetsClient()
	el, _ := e.adoClients("pat")
	tests := []struct {
		name    string
		ss      func(*armcompute.VirtualMachineScaleSet)
		standby int
		max     int
		putErr  int    // ARM status
		err     string // Azure DevOps message part
	}{
		{"good", nil, 1, 3, 0, ""},
		{"overprovisioned", func(v *armcompute.VirtualMachineScaleSet) { v.Properties.Overprovision = ptr(true) }, 1, 3, 0, "overprovisioning must be disabled"},
		{"fault domains unset", func(v *armcompute.VirtualMachineScaleSet) { v.Properties.PlatformFaultDomainCount = nil }, 1, 3, 0, "platform fault domain count must be 1"},
		{"flexible", func(v *armcompute.VirtualMachineScaleSet) {
			v.Properties.OrchestrationMode = ptr(armcompute.OrchestrationModeFlexible)
		}, 1, 3, 0, "orchestration mode must be Uniform"},
		{"standby above max", nil, 4, 3, 0, "cannot be greater than the maximum"},
		{"missing image version", func(v *armcompute.VirtualMachineScaleSet) {
			v.Properties.VirtualMachineProfile.StorageProfile.ImageReference.ID = ptr(galleryImageID("ubuntu22") + "/versions/9.9.9")
		}, 1, 3, 404, ""},
		{"gpu quota", func(v *armcompute.VirtualMachineScaleSet) {
			v.SKU.Name, v.SKU.Capacity = ptr("Standard_NC4as_T4_v3"), ptr(int64(3))
		}, 1, 3, 409, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "new-" + strings.ReplaceAll(tc.name, " ", "-")
			p, err := vmss.BeginCreateOrUpdate(ctx(t), ResourceGroup, name, scaleSetSpec(tc.ss), nil)
			if tc.putErr != 0 {
				var re *azcore.ResponseError
				if !errors.As(err, &re) || re.StatusCode != tc.putErr {
					t.Fatalf("PUT err = %v, want %d", err, tc.putErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.PollUntilDone(ctx(t), fastPoll)
			if err != nil {
				t.Fatal(err)
			}
			id := uuid.New()
			created, err := el.CreateElasticPool(ctx(t), elastic.CreateElasticPoolArgs{PoolName: ptr(name), ProjectId: &id,
				ElasticPool: &elastic.ElasticPool{AzureId: res.ID, DesiredIdle: ptr(tc.standby), MaxCapacity: ptr(tc.max),
					OsType: ptr(elastic.OperatingSystemTypeValues.Linux), TimeToLiveMinutes: ptr(30), ServiceEndpointId: &id, ServiceEndpointScope: &id}})
			if tc.err != "" {
				var we azuredevops.WrappedError
				if !errors.As(err, &we) || *we.StatusCode != http.StatusBadRequest || !strings.Contains(*we.Message, tc.err) {
					t.Fatalf("create err = %v, want 400 with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *created.ElasticPool.PoolId != 13 || *created.AgentPool.Name != name || created.AgentQueue == nil {
				t.Errorf("created %+v", created)
			}
			e.sim.Advance(15 * time.Minute)
			if c := counts(t, e.sim, name); c.Idle != tc.standby {
				t.Errorf("idle %d, want %d", c.Idle, tc.standby)
			}
			got, err := vmss.Get(ctx(t), ResourceGroup, name, nil)
			if err != nil || *got.SKU.Capacity != int64(tc.standby) || got.Tags["_AzureDevOpsElasticPool"] == nil {
				t.Errorf("scale set after create: %+v, %v", got.SKU, err)
			}
			// A scale set serves one pool.
			_, err = el.CreateElasticPool(ctx(t), elastic.CreateElasticPoolArgs{PoolName: ptr(name + "-2"),
				ElasticPool: &elastic.ElasticPool{AzureId: res.ID, DesiredIdle: ptr(0), MaxCapacity: ptr(1)}})
			var we azuredevops.WrappedError
			if !errors.As(err, &we) || !strings.Contains(*we.Message, "already in use by pool "+name) {
				t.Errorf("second pool on the scale set: %v", err)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		status int // 0: connection error
		header string
		count  string
	}{
		{"429", Faults{Rate429: 1, RetryAfter: 2 * time.Second}, 429, "2", "fault:429"},
		{"429 under a second", Faults{Rate429: 1, RetryAfter: 50 * time.Millisecond}, 429, "0", "fault:429"},
		{"5xx", Faults{Rate5xx: 1}, 503, "", "fault:5xx"},
		{"drop", Faults{RateDrop: 1}, 0, "", "fault:drop"},
		{"latency", Faults{Latency: 30 * time.Millisecond}, 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{Faults: tc.faults})
			req, _ := http.NewRequest(http.MethodGet, e.orgURL()+"/_apis/distributedtask/elasticpools", nil)
			req.SetBasicAuth("", "pat")
			start := time.Now()
			resp, err := e.ado.Client().Do(req)
			if tc.status == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("status %d, want a dropped connection", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.status || resp.Header.Get("Retry-After") != tc.header {
					t.Fatalf("status %d Retry-After %q, want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), tc.status, tc.header)
				}
			}
			if tc.faults.Latency > 0 && time.Since(start) < tc.faults.Latency {
				t.Errorf("answered in %v, latency %v", time.Since(start), tc.faults.Latency)
			}
			if tc.count != "" && e.sim.Calls()[tc.count] != 1 {
				t.Errorf("calls %v", e.sim.Calls())
			}
			// The SDK sees the same.
			if tc.status == 429 {
				el, _ := e.adoClients("pat")
				_, err := el.GetElasticPools(ctx(t), elastic.GetElasticPoolsArgs{})
				var we azuredevops.WrappedError
				if !errors.As(err, &we) || *we.StatusCode != 429 {
					t.Errorf("SDK err %v", err)
				}
				_, err = e.compute(t).NewVirtualMachineScaleSetsClient().Get(ctx(t), ResourceGroup, "linux-ci", nil)
				var re *azcore.ResponseError
				if !errors.As(err, &re) || re.StatusCode != 429 || re.ErrorCode != "TooManyRequests" {
					t.Errorf("ARM err %v", err)
				}
				// Switched off, the calls go through.
				e.sim.SetFaults(Faults{})
				if _, err := el.GetElasticPools(ctx(t), elastic.GetElasticPoolsArgs{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestJobRequestsRoute(t *testing.T) {
	e := newEnv(t, Options{Seed: 5, Start: time.Date(2026, 1, 5, 7, 0, 0, 0, time.UTC)})
	e.sim.Advance(40 * time.Minute) // 08:40 Paris: the morning rush, agents starting
	conn := azuredevops.NewPatConnection(e.orgURL(), "pat")
	c := azuredevops.NewClientWithOptions(conn, e.orgURL(), azuredevops.WithHTTPClient(e.ado.Client()))
	loc := uuid.MustParse(LocJobRequests)
	resp, err := c.Send(ctx(t), http.MethodGet, loc, "7.1-preview.1", map[string]string{"poolId": "10"},
		url.Values{"completedRequestCount": {"3"}}, nil, "", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []taskagent.TaskAgentJobRequest
	if err := c.UnmarshalCollectionBody(resp, &reqs); err != nil {
		t.Fatal(err)
	}
	queued, running, done := 0, 0, 0
	for _, r := range reqs {
		switch {
		case r.FinishTime != nil:
			done++
		case r.AssignTime == nil && r.ReservedAgent == nil:
			queued++
		default:
			running++
		}
	}
	st, _ := e.sim.Stats("linux-ci")
	cs := counts(t, e.sim, "linux-ci")
	if queued != st.Waiting || running != cs.Busy || done > 3 {
		t.Errorf("queued %d running %d done %d; sim waiting %d busy %d", queued, running, done, st.Waiting, cs.Busy)
	}
	if running == 0 {
		t.Error("no job running at 08:40 on a Monday")
	}
	// Agents carry their assigned request.
	_, ta := e.adoClients("pat")
	agents, err := ta.GetAgents(ctx(t), taskagent.GetAgentsArgs{PoolId: ptr(10), IncludeAssignedRequest: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	withReq := 0
	for _, a := range *agents {
		if a.AssignedRequest != nil {
			withReq++
		}
	}
	if withReq != running {
		t.Errorf("%d agents with a request, %d running", withReq, running)
	}
}

func TestCostQueryMatchesAccrual(t *testing.T) {
	e := newEnv(t, Options{Seed: 4})
	e.sim.Advance(48 * time.Hour)
	st, _ := e.sim.Stats("linux-ci")
	hours := st.IdleVMHours + st.BusyVMHours + st.OtherVMHours
	if math.Abs(st.Cost-hours*0.192) > 1e-6 {
		t.Errorf("cost %.4f for %.2f VM-hours at 0.192", st.Cost, hours)
	}
	qc, err := armcostmanagement.NewQueryClient(&azfake.TokenCredential{}, e.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	id := scaleSetID("linux-ci")
	scope := "subscriptions/" + Subscription + "/resourceGroups/" + ResourceGroup
	res, err := qc.Usage(ctx(t), scope, armcostmanagement.QueryDefinition{
		Type:      ptr(armcostmanagement.ExportTypeActualCost),
		Timeframe: ptr(armcostmanagement.TimeframeTypeMonthToDate),
		Dataset: &armcostmanagement.QueryDataset{
			Granularity: ptr(armcostmanagement.GranularityTypeDaily),
			Aggregation: map[string]*armcostmanagement.QueryAggregation{"totalCost": {Name: ptr("Cost"), Function: ptr(armcostmanagement.FunctionTypeSum)}},
			Filter: &armcostmanagement.QueryFilter{Dimensions: &armcostmanagement.QueryComparisonExpression{
				Name: ptr("ResourceId"), Operator: ptr(armcostmanagement.QueryOperatorTypeIn), Values: []*string{ptr(strings.ToLower(id))}}},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cols := []string{}
	for _, c := range res.Properties.Columns {
		cols = append(cols, *c.Name)
	}
	if strings.Join(cols, ",") != "Cost,UsageDate,Currency" || len(res.Properties.Rows) != 3 {
		t.Fatalf("columns %v rows %v", cols, res.Properties.Rows)
	}
	sum := 0.0
	for _, r := range res.Properties.Rows {
		sum += r[0].(float64)
		if d := r[1].(float64); d < 20260105 || d > 20260107 {
			t.Errorf("UsageDate %v", d)
		}
	}
	if math.Abs(sum-st.Cost) > 1e-6 {
		t.Errorf("query sum %.4f, stats %.4f", sum, st.Cost)
	}
}

func TestRetailPrices(t *testing.T) {
	e := newEnv(t, Options{})
	get := func(u string) (items []priceItem, next string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Items        []priceItem
			NextPageLink *string
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return body.Items, deref(body.NextPageLink, "")
	}
	filter := func(f string) string {
		return PricesURL(e.ado.URL) + "?api-version=2023-01-01-preview&$filter=" + url.QueryEscape(f)
	}
	tests := []struct {
		filter         string
		linux, windows float64
	}{
		{"serviceName eq 'Virtual Machines' and armRegionName eq 'westeurope' and armSkuName eq 'Standard_D4s_v5' and priceType eq 'Consumption'", 0.192, 0.376},
		{"armRegionName eq 'eastus' and armSkuName eq 'Standard_NC4as_T4_v3'", 0.526, 0.710},
		{"armRegionName eq 'westeurope' and armSkuName eq 'Standard_D2s_v5'", 0.096, 0.188},
	}
	for _, tc := range tests {
		items, next := get(filter(tc.filter))
		var linux, windows float64
		for _, it := range items {
			if it.Type != "Consumption" || strings.Contains(it.SkuName, "Spot") || strings.Contains(it.SkuName, "Low Priority") {
				continue
			}
			if it.UnitOfMeasure != "1 Hour" {
				t.Errorf("unit %q", it.UnitOfMeasure)
			}
			if strings.Contains(it.ProductName, "Windows") {
				windows = it.RetailPrice
			} else {
				linux = it.RetailPrice
			}
		}
		if linux != tc.linux || windows != tc.windows || next != "" {
			t.Errorf("%s: linux %v windows %v next %q", tc.filter, linux, windows, next)
		}
	}
	// Case-sensitive values from 2023-01-01-preview.
	if items, _ := get(filter("armSkuName eq 'standard_d4s_v5'")); len(items) != 0 {
		t.Errorf("lower-case SKU matched %d items", len(items))
	}
	// Paging.
	u, total, pages := filter("serviceName eq 'Virtual Machines'"), 0, 0
	for u != "" {
		var items []priceItem
		items, u = get(u)
		if u != "" && len(items) != 100 {
			t.Errorf("page of %d", len(items))
		}
		total += len(items)
		pages++
	}
	if total != len(catalog) || pages < 2 {
		t.Errorf("%d items in %d pages, catalog %d", total, pages, len(catalog))
	}
}

func TestRequestsDuringRun(t *testing.T) {
	e := newEnv(t, Options{})
	c, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = e.sim.Run(c, 3600) }()
	woke := e.sim.After(time.Minute)
	el, _ := e.adoClients("pat")
	for i := 0; i < 20; i++ {
		if _, err := el.GetElasticPools(ctx(t), elastic.GetElasticPoolsArgs{}); err != nil {
			t.Fatal(err)
		}
		if _, err := el.GetElasticNodes(ctx(t), elastic.GetElasticNodesArgs{PoolId: ptr(10)}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-woke:
	case <-time.After(5 * time.Second):
		t.Error("Run did not advance a simulated minute in 5 s at speed 3600")
	}
	cancel()
	wg.Wait()
}
