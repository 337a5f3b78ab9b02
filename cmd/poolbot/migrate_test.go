package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/poolbot/poolbot/sim"
)

// migrate plan on the three demo pools, against the simulator.
func TestMigratePlan(t *testing.T) {
	tests := []struct {
		name      string
		schedules string
		args      []string
		stdin     string
		quota     int // standardDSv5Family vCPUs in westeurope; 0 keeps the simulator's 80
		code      int
		want      []string // in stdout and stderr
		created   bool
	}{
		{"linux-ci: standby from its schedule", goodSchedules, []string{"--pool", "linux-ci"}, "", 0, 0, []string{
			"pools/linux-ci-managed?api-version=2025-01-21",
			`"maximumConcurrency": 10`, `"timeZone": "Romance Standard Time"`, `"07:00:00": 2`, `"20:00:00": 0`,
			`"kind": "Stateful"`, `"gracePeriodTimeSpan": "00:30:00"`,
			"galleries/poolbotgallery/images/ubuntu22/versions/1.1.0", `"name": "Standard_D4s_v5"`,
			`standby from schedule "office-hours" → a daysData week`, "max 10 VMs → maximumConcurrency 10 agents",
			"keep unhealthy agents for investigation", "VM extensions",
			"Quota: standardDSv5Family in westeurope: 0 of 80 vCPUs in use; the pool needs up to 40 (10 agents × 4).",
			"Nothing was changed"}, false},
		{"windows-ci: an all-week scheme", "", []string{"--pool", "windows-ci"}, "", 0, 0, []string{
			`"maximumConcurrency": 6`, `"00:00:00": 1`, "standby 1 → an all-week scheme of 1 agents", "needs up to 24"}, false},
		{"gpu-nightly: a region without quota for its size", "", []string{"--pool", "gpu-nightly"}, "", 0, 1, []string{
			`"name": "Standard_NC4as_T4_v3"`, "no Managed DevOps Pools quota for standardNCASv3_T4Family in westeurope"}, false},
		{"gpu-nightly --apply: refused, nothing created", "", []string{"--pool", "gpu-nightly", "--apply", "--project", "/p"}, "gpu-nightly\n", 0, 1, []string{
			"no Managed DevOps Pools quota"}, false},
		{"linux-ci: not enough quota", goodSchedules, []string{"--pool", "linux-ci", "--apply", "--project", "/p"}, "linux-ci\n", 20, 1, []string{
			"0 of 20 vCPUs", "not enough Managed DevOps Pools quota for standardDSv5Family in westeurope: 20 vCPUs free, 40 needed"}, false},
		{"linux-ci --apply, confirmed", goodSchedules, []string{"--pool", "linux-ci", "--apply", "--project", "/p"}, "linux-ci-managed\n", 0, 0, []string{
			"Type the pool's name (linux-ci-managed) to create it", "Created linux-ci-managed", "[[managed]]"}, true},
		{"linux-ci --apply, not confirmed", goodSchedules, []string{"--pool", "linux-ci", "--apply", "--project", "/p"}, "yes\n", 0, 1, []string{
			"not confirmed; nothing was changed"}, false},
		{"--apply needs a project", "", []string{"--pool", "linux-ci", "--apply"}, "", 0, 1, []string{"--apply needs --project"}, false},
		{"no such pool", "", []string{"--pool", "mac-ci"}, "", 0, 1, []string{`no pool named "mac-ci"`}, false},
		{"a name Azure DevOps holds", "", []string{"--pool", "linux-ci", "--name", "windows-ci"}, "", 0, 1, []string{
			"Azure DevOps already has an agent pool named windows-ci"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sim.New(sim.Options{})
			if tt.quota > 0 {
				s.SetManagedQuota("westeurope", "standardDSv5Family", tt.quota)
			}
			srv := httptest.NewServer(s)
			defer srv.Close()
			path := writeConfig(t, srv.URL, tt.schedules)
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"migrate", "plan", "--config", path}, tt.args...), strings.NewReader(tt.stdin), &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %s\nstderr %s", code, tt.code, out.String(), errb.String())
			}
			got := out.String() + errb.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			names := s.ManagedPoolNames()
			if tt.created != (len(names) == 1) {
				t.Errorf("managed pools after: %v, want created %t", names, tt.created)
			}
			if tt.created {
				res, _ := s.ManagedResource(names[0])
				days := res["properties"].(map[string]any)["agentProfile"].(map[string]any)["resourcePredictions"].(map[string]any)["daysData"].([]any)
				if len(days) != 7 || res["tags"].(map[string]any)["poolbot-standby"] != "days" {
					t.Errorf("created resource: daysData %v tags %v", days, res["tags"])
				}
				// Applying again finds it there.
				var out2, errb2 bytes.Buffer
				code := run(context.Background(), append([]string{"migrate", "plan", "--config", path}, tt.args...), strings.NewReader(tt.stdin), &out2, &errb2)
				if code != 1 || !strings.Contains(errb2.String(), "already exists") {
					t.Errorf("second --apply: exit %d: %s", code, errb2.String())
				}
			}
		})
	}
}

// The resource migrate --apply sends has every field of the specification's
// CreateOrUpdatePool example request, with the same JSON types (the
// read-only provisioningState aside).
func TestMigrateRequestMatchesSpecExample(t *testing.T) {
	b, err := os.ReadFile("../../sim/testdata/devopsinfrastructure/CreateOrUpdatePool.json")
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		Parameters struct {
			Resource map[string]any `json:"resource"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatal(err)
	}
	s := sim.New(sim.Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	path := writeConfig(t, srv.URL, "")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "plan", "--config", path, "--pool", "windows-ci", "--apply", "--project", "/p"},
		strings.NewReader("windows-ci-managed\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	sent, err := s.ManagedResource("windows-ci-managed")
	if err != nil {
		t.Fatal(err)
	}
	want, got := jsonShape(ex.Parameters.Resource, "", nil), jsonShape(sent, "", nil)
	for k, typ := range want {
		if k == ".properties.provisioningState" {
			continue
		}
		if got[k] != typ {
			t.Errorf("CreateOrUpdatePool.json request field %q is %s; migrate sent %q", k, typ, got[k])
		}
	}
}

func jsonShape(v any, prefix string, out map[string]string) map[string]string {
	if out == nil {
		out = map[string]string{}
	}
	switch x := v.(type) {
	case map[string]any:
		out[prefix] = "object"
		for k, e := range x {
			jsonShape(e, prefix+"."+k, out)
		}
	case []any:
		out[prefix] = "array"
		for _, e := range x {
			jsonShape(e, prefix+"[]", out)
		}
	case string:
		out[prefix] = "string"
	case float64:
		out[prefix] = "number"
	case bool:
		out[prefix] = "boolean"
	}
	return out
}
