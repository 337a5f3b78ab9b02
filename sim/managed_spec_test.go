package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The simulator's Managed DevOps Pools answers against the REST
// specification's examples (testdata/devopsinfrastructure, sources in its
// SOURCES.md): every field of an example's request the simulator must take,
// and every field of its response the simulator must give, with the same
// JSON type.

type example struct {
	Parameters map[string]any            `json:"parameters"`
	Responses  map[string]map[string]any `json:"responses"`
}

func loadExample(t *testing.T, file string) example {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "devopsinfrastructure", file))
	if err != nil {
		t.Fatal(err)
	}
	var ex example
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return ex
}

// shape flattens a JSON value into path → JSON type; array elements share
// the path "[]".
func shape(v any, prefix string, out map[string]string) map[string]string {
	if out == nil {
		out = map[string]string{}
	}
	switch x := v.(type) {
	case map[string]any:
		out[prefix] = "object"
		for k, e := range x {
			shape(e, prefix+"."+k, out)
		}
	case []any:
		out[prefix] = "array"
		for _, e := range x {
			shape(e, prefix+"[]", out)
		}
	case string:
		out[prefix] = "string"
	case float64:
		out[prefix] = "number"
	case bool:
		out[prefix] = "boolean"
	case nil:
		out[prefix] = "null"
	}
	return out
}

// sameShape fails for each field of want that got lacks or types otherwise
// (null in the example matches null or a string: a nextLink).
func sameShape(t *testing.T, file, what string, want, got any) {
	t.Helper()
	w, g := shape(want, "", nil), shape(got, "", nil)
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		gt, ok := g[k]
		switch {
		case !ok:
			t.Errorf("%s %s: field %q missing from the simulator's answer", file, what, k)
		case w[k] == "null" && (gt == "null" || gt == "string"):
		case gt != w[k]:
			t.Errorf("%s %s: field %q is %s in the simulator, %s in the example", file, what, k, gt, w[k])
		}
	}
}

type mdpClient struct {
	t *testing.T
	e *env
}

func (c mdpClient) do(method, path string, body any) (int, http.Header, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.e.arm.URL + path
		if !strings.Contains(path, "api-version") {
			url += "?api-version=2025-01-21"
		}
	}
	req, _ := http.NewRequestWithContext(ctx(c.t), method, url, rd)
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.e.arm.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, resp.Header, out
}

const mdpRG = "/subscriptions/" + Subscription + "/resourceGroups/" + ResourceGroup + "/providers/Microsoft.DevOpsInfrastructure"

func TestManagedAnswersMatchSpecExamples(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.AddManagedPool(ManagedSpec{Name: "mdp-seeded", Standby: 1, Max: 4})
	c := mdpClient{t, e}

	// CreateOrUpdatePool.json: the example's request body is taken as it is.
	create := loadExample(t, "CreateOrUpdatePool.json")
	status, h, got := c.do(http.MethodPut, mdpRG+"/pools/pool", create.Parameters["resource"])
	if status != http.StatusCreated {
		t.Fatalf("CreateOrUpdatePool.json: PUT = %d %v, want 201", status, got)
	}
	if h.Get("Azure-AsyncOperation") == "" {
		t.Error("CreateOrUpdatePool.json: 201 without the Azure-AsyncOperation header")
	}
	sameShape(t, "CreateOrUpdatePool.json", "201", create.Responses["201"]["body"], got)
	if ps := got["properties"].(map[string]any)["provisioningState"]; ps != "Provisioning" {
		t.Errorf("provisioningState before the operation ends = %v, want Provisioning", ps)
	}
	op := h.Get("Azure-AsyncOperation")
	_, _, st := c.do(http.MethodGet, op, nil)
	if st["status"] != "InProgress" {
		t.Errorf("first poll = %v, want InProgress", st["status"])
	}
	_, _, st = c.do(http.MethodGet, op, nil)
	if st["status"] != "Succeeded" {
		t.Errorf("second poll = %v, want Succeeded", st["status"])
	}
	status, _, got = c.do(http.MethodPut, mdpRG+"/pools/pool", create.Parameters["resource"])
	if status != http.StatusOK {
		t.Errorf("CreateOrUpdatePool.json: PUT again = %d, want 200", status)
	}
	sameShape(t, "CreateOrUpdatePool.json", "200", create.Responses["200"]["body"], got)

	// GetPool.json.
	get := loadExample(t, "GetPool.json")
	status, _, got = c.do(http.MethodGet, mdpRG+"/pools/pool", nil)
	if status != http.StatusOK {
		t.Fatalf("GetPool.json: GET = %d", status)
	}
	sameShape(t, "GetPool.json", "200", get.Responses["200"]["body"], got)
	if got["id"] != ManagedPoolID("pool") || got["type"] != "Microsoft.DevOpsInfrastructure/pools" {
		t.Errorf("GetPool.json: id %v type %v", got["id"], got["type"])
	}

	// UpdatePool.json: PATCH {"properties":{}} is accepted as an operation.
	upd := loadExample(t, "UpdatePool.json")
	status, h, _ = c.do(http.MethodPatch, mdpRG+"/pools/pool", map[string]any{"properties": upd.Parameters["properties"]})
	if status != http.StatusAccepted || h.Get("Location") == "" {
		t.Errorf("UpdatePool.json: PATCH = %d Location %q, want 202 with a Location", status, h.Get("Location"))
	}
	c.do(http.MethodGet, h.Get("Location"), nil)
	c.do(http.MethodGet, h.Get("Location"), nil)
	_, _, got = c.do(http.MethodGet, mdpRG+"/pools/pool", nil)
	sameShape(t, "UpdatePool.json", "200", upd.Responses["200"]["body"], got)

	// ResourceDetails_ListByPool.json, on the seeded pool once its standby agent is up.
	e.sim.Advance(5 * time.Minute)
	rd := loadExample(t, "ResourceDetails_ListByPool.json")
	status, _, got = c.do(http.MethodGet, mdpRG+"/pools/mdp-seeded/resources", nil)
	if status != http.StatusOK || len(got["value"].([]any)) == 0 {
		t.Fatalf("ResourceDetails_ListByPool.json: GET = %d %v, want agents", status, got)
	}
	sameShape(t, "ResourceDetails_ListByPool.json", "200", rd.Responses["200"]["body"], got)
	statuses := map[string]bool{"Ready": true, "NotReady": true, "Allocated": true, "PendingReturn": true, "Returned": true,
		"Leased": true, "Provisioning": true, "Updating": true, "Starting": true, "PendingReimage": true, "Reimaging": true}
	for _, v := range got["value"].([]any) {
		if s := v.(map[string]any)["properties"].(map[string]any)["status"].(string); !statuses[s] {
			t.Errorf("resource status %q is not one of the specification's", s)
		}
	}

	// SubscriptionUsages_Usages.json.
	us := loadExample(t, "SubscriptionUsages_Usages.json")
	status, _, got = c.do(http.MethodGet, "/subscriptions/"+Subscription+"/providers/Microsoft.DevOpsInfrastructure/locations/westeurope/usages", nil)
	if status != http.StatusOK {
		t.Fatalf("SubscriptionUsages_Usages.json: GET = %d", status)
	}
	sameShape(t, "SubscriptionUsages_Usages.json", "200", us.Responses["200"]["body"], got)

	// ImageVersions_ListByImage.json.
	iv := loadExample(t, "ImageVersions_ListByImage.json")
	status, _, got = c.do(http.MethodGet, mdpRG+"/images/ubuntu22/versions", nil)
	if status != http.StatusOK {
		t.Fatalf("ImageVersions_ListByImage.json: GET = %d", status)
	}
	sameShape(t, "ImageVersions_ListByImage.json", "200", iv.Responses["200"]["body"], got)
}

// A field the simulator does not model is kept through PUT and PATCH.
func TestManagedKeepsUnknownFields(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.AddManagedPool(ManagedSpec{Name: "mdp", Max: 4})
	c := mdpClient{t, e}
	_, _, res := c.do(http.MethodGet, mdpRG+"/pools/mdp", nil)
	res["properties"].(map[string]any)["runtimeConfiguration"] = map[string]any{"workFolder": "D:\\w"}
	if st, _, got := c.do(http.MethodPut, mdpRG+"/pools/mdp", res); st != http.StatusOK {
		t.Fatalf("PUT = %d %v", st, got)
	}
	c.do(http.MethodPatch, mdpRG+"/pools/mdp", map[string]any{"properties": map[string]any{"maximumConcurrency": 3}})
	_, _, got := c.do(http.MethodGet, mdpRG+"/pools/mdp", nil)
	p := got["properties"].(map[string]any)
	if p["maximumConcurrency"] != 3.0 || path(got, "properties", "runtimeConfiguration", "workFolder") != "D:\\w" {
		t.Errorf("after PATCH: max %v runtimeConfiguration %v", p["maximumConcurrency"], p["runtimeConfiguration"])
	}
}

func TestManagedRefusesBadInputWithServiceCodes(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.AddManagedPool(ManagedSpec{Name: "mdp", Max: 4})
	c := mdpClient{t, e}
	_, _, before := c.do(http.MethodGet, mdpRG+"/pools/mdp", nil)
	for _, tc := range []struct {
		name  string
		patch map[string]any
		code  string
	}{
		{"sku", map[string]any{"fabricProfile": map[string]any{"sku": map[string]any{"name": "Standard_X99"}}}, CodeSkuNotAvailable},
		{"image", map[string]any{"fabricProfile": map[string]any{"images": []any{map[string]any{"wellKnownImageName": "plan9"}}}}, CodeImageNotFound},
		{"gallery image", map[string]any{"fabricProfile": map[string]any{"images": []any{map[string]any{"resourceId": galleryImageID("nope")}}}}, CodeImageNotFound},
		{"quota", map[string]any{"maximumConcurrency": 500}, CodeExceedingQuota},
		{"max", map[string]any{"maximumConcurrency": 0}, "InvalidRequestContent"},
		{"daysData", map[string]any{"agentProfile": map[string]any{"resourcePredictions": map[string]any{"daysData": []any{map[string]any{"9am": 1}}}}}, "InvalidRequestContent"},
	} {
		st, _, got := c.do(http.MethodPatch, mdpRG+"/pools/mdp", map[string]any{"properties": tc.patch})
		if st != http.StatusBadRequest || path(got, "error", "code") != tc.code {
			t.Errorf("%s: PATCH = %d %v, want 400 %s", tc.name, st, got, tc.code)
		}
	}
	_, _, after := c.do(http.MethodGet, mdpRG+"/pools/mdp", nil)
	if b, a := shape(before, "", nil), shape(after, "", nil); len(b) != len(a) || path(after, "properties", "maximumConcurrency") != 4.0 {
		t.Errorf("a refused PATCH changed the pool: %v", after)
	}
}

func TestManagedAgentsFollowStandbyAndMax(t *testing.T) {
	// Saturday: no jobs arrive, only standby counts.
	e := newEnv(t, Options{Start: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)})
	e.sim.AddManagedPool(ManagedSpec{Name: "mdp", Max: 3, Standby: 2})
	e.sim.Advance(20 * time.Minute)
	if got, _ := e.sim.ManagedAgents("mdp"); got["Ready"] != 2 {
		t.Errorf("standby 2: agents %v, want 2 Ready", got)
	}
	c := mdpClient{t, e}
	// A seven-day scheme: 5 from 06:00 on Saturdays, capped by max 3.
	days := []any{map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{},
		map[string]any{"00:00:00": 0, "06:00:00": 5}}
	c.do(http.MethodPatch, mdpRG+"/pools/mdp", map[string]any{"properties": map[string]any{"agentProfile": map[string]any{
		"resourcePredictions": map[string]any{"timeZone": "UTC", "daysData": days}}}})
	e.sim.Advance(5*time.Hour + 40*time.Minute) // 06:00
	if got, _ := e.sim.ManagedAgents("mdp"); got["Ready"]+got["Provisioning"] == 0 || len(got) == 0 {
		t.Errorf("at 06:00 the scheme asks for agents, got %v", got)
	}
	e.sim.Advance(30 * time.Minute)
	if got, _ := e.sim.ManagedAgents("mdp"); got["Ready"] != 3 {
		t.Errorf("scheme 5, max 3: agents %v, want 3 Ready", got)
	}
	// A provisioning fault leaves agents NotReady.
	_ = e.sim.SetManagedFault("mdp", CodeClusterOutOfCapacity)
	c.do(http.MethodPatch, mdpRG+"/pools/mdp", map[string]any{"properties": map[string]any{"agentProfile": map[string]any{
		"resourcePredictions": map[string]any{"timeZone": "UTC", "daysData": []any{map[string]any{"00:00:00": 0}}}}}})
	e.sim.Advance(30 * time.Minute)
	if got, _ := e.sim.ManagedAgents("mdp"); got["Ready"] != 0 {
		t.Errorf("standby 0 after 30 min: agents %v, want none Ready", got)
	}
}

func TestManagedResourcesPageWithNextLink(t *testing.T) {
	e := newEnv(t, Options{Start: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)})
	e.sim.AddManagedPool(ManagedSpec{Name: "big", Max: 30, Standby: 30, SKU: "Standard_D2ads_v5"})
	e.sim.Advance(2 * time.Hour)
	c := mdpClient{t, e}
	var names []string
	next := mdpRG + "/pools/big/resources"
	pages := 0
	for next != "" {
		_, _, got := c.do(http.MethodGet, next, nil)
		pages++
		for _, v := range got["value"].([]any) {
			names = append(names, v.(map[string]any)["name"].(string))
		}
		next, _ = got["nextLink"].(string)
	}
	if len(names) != 30 || pages != 2 {
		t.Errorf("got %d agents in %d pages, want 30 in 2", len(names), pages)
	}
}

func TestDaysDataAt(t *testing.T) {
	sat := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC) // a Saturday
	week := []any{map[string]any{"08:00:00": 4.0}, map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{},
		map[string]any{"18:00:00": 1.0}, map[string]any{}}
	for _, tc := range []struct {
		name  string
		preds any
		at    time.Time
		want  int
		ok    bool
	}{
		{"none", nil, sat, 0, true},
		{"all week", map[string]any{"daysData": []any{map[string]any{"09:00:00": 2.0, "17:00:00": 0.0}}}, sat, 2, true},
		{"all week before first entry holds yesterday's last", map[string]any{"daysData": []any{map[string]any{"09:00:00": 2.0, "17:00:00": 0.0}}}, sat.Add(-5 * time.Hour), 0, true},
		{"Friday's entry holds through Saturday", map[string]any{"daysData": week}, sat, 1, true},
		{"Sunday's entry", map[string]any{"daysData": week}, sat.Add(21 * time.Hour), 4, true},
		{"zone", map[string]any{"timeZone": "Pacific Standard Time", "daysData": []any{map[string]any{"05:00:00": 3.0}}}, sat.Add(-6 * time.Hour), 3, true},
		{"bad time", map[string]any{"daysData": []any{map[string]any{"25:00:00": 1.0}}}, sat, 0, false},
		{"bad zone", map[string]any{"timeZone": "Mars", "daysData": []any{map[string]any{"05:00:00": 3.0}}}, sat, 0, false},
		{"three days", map[string]any{"daysData": []any{map[string]any{}, map[string]any{}, map[string]any{}}}, sat, 0, false},
	} {
		got, ok := DaysDataAt(tc.preds, tc.at)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: = %d, %t, want %d, %t", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// Cost Management answers a managed pool's cost by its resource id.
func TestManagedCostByResourceID(t *testing.T) {
	e := newEnv(t, Options{Pools: []PoolSpec{}})
	e.sim.AddManagedPool(ManagedSpec{Name: "mdp", Max: 2, Standby: 2, SKU: "Standard_D2as_v5"})
	e.sim.Advance(3 * time.Hour)
	c := mdpClient{t, e}
	st, _, got := c.do(http.MethodPost, "/subscriptions/"+Subscription+"/providers/Microsoft.CostManagement/query?api-version=2023-03-01", map[string]any{
		"type": "ActualCost", "timeframe": "MonthToDate",
		"dataset": map[string]any{"granularity": "Daily", "aggregation": map[string]any{"totalCost": map[string]any{"name": "Cost", "function": "Sum"}},
			"grouping": []any{map[string]any{"type": "Dimension", "name": "ResourceId"}}},
	})
	if st != http.StatusOK {
		t.Fatalf("query = %d %v", st, got)
	}
	rows := path(got, "properties", "rows").([]any)
	total := 0.0
	for _, r := range rows {
		row := r.([]any)
		for _, v := range row {
			if v == strings.ToLower(ManagedPoolID("mdp")) {
				total += row[0].(float64)
			}
		}
	}
	// Two agents for most of three hours at the default price of 0.10/h.
	if total < 0.5 || total > 0.6 {
		t.Errorf("managed pool cost = %v, want about 0.57 (rows %v)", total, rows)
	}
}

// Automatic standby: the service keeps a share of max by preference in
// working hours, none at the weekend.
func TestManagedAutomaticStandby(t *testing.T) {
	e := newEnv(t, Options{Pools: []PoolSpec{}, Start: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}) // Saturday
	e.sim.AddManagedPool(ManagedSpec{Name: "mdp", Max: 10, JobsPerHour: 0.01})
	c := mdpClient{t, e}
	if st, _, got := c.do(http.MethodPatch, mdpRG+"/pools/mdp", map[string]any{"properties": map[string]any{"agentProfile": map[string]any{
		"resourcePredictionsProfile": map[string]any{"kind": "Automatic", "predictionPreference": "BestPerformance"}}}}); st != http.StatusAccepted {
		t.Fatalf("PATCH = %d %v", st, got)
	}
	e.sim.Advance(30 * time.Minute)
	if got, _ := e.sim.ManagedAgents("mdp"); got["Ready"] != 0 {
		t.Errorf("Saturday: %v, want no standby", got)
	}
	e.sim.Advance(48 * time.Hour) // Monday 10:30 in Paris
	if got, _ := e.sim.ManagedAgents("mdp"); got["Ready"]+got["Allocated"] < 5 {
		t.Errorf("Monday, BestPerformance of 10: %v, want 5 up", got)
	}
}
