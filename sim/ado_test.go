package sim

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/elastic"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"
	"github.com/poolbot/poolbot/pool"
)

func TestSDKListsSeededPools(t *testing.T) {
	e := newEnv(t, Options{Seed: 1})
	el, ta := e.adoClients("any-pat")
	ps, err := el.GetElasticPools(ctx(t), elastic.GetElasticPoolsArgs{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id           int
		ss           string
		os           elastic.OperatingSystemType
		standby, max int
	}{
		{10, "linux-ci", "linux", 2, 10},
		{11, "windows-ci", "windows", 1, 6},
		{12, "gpu-nightly", "linux", 0, 2},
	}
	if len(*ps) != len(want) {
		t.Fatalf("got %d pools, want %d", len(*ps), len(want))
	}
	for i, w := range want {
		p := (*ps)[i]
		if *p.PoolId != w.id || *p.OsType != w.os || *p.DesiredIdle != w.standby || *p.MaxCapacity != w.max ||
			*p.TimeToLiveMinutes != 30 || *p.RecycleAfterEachUse || !strings.HasSuffix(*p.AzureId, "/virtualMachineScaleSets/"+w.ss) ||
			!strings.HasPrefix(*p.AzureId, "/subscriptions/"+Subscription+"/resourceGroups/"+ResourceGroup+"/") {
			t.Errorf("pool %d = %+v, want %+v", i, p, w)
		}
	}
	// The agent pool has the elastic pool's id and the name.
	ap, err := ta.GetAgentPool(ctx(t), taskagent.GetAgentPoolArgs{PoolId: ptr(10)})
	if err != nil {
		t.Fatal(err)
	}
	if *ap.Name != "linux-ci" || !strings.Contains(string(*ap.Options), "elasticPool") {
		t.Errorf("agent pool 10 = %s %s", *ap.Name, *ap.Options)
	}
	aps, err := ta.GetAgentPools(ctx(t), taskagent.GetAgentPoolsArgs{PoolName: ptr("windows-ci")})
	if err != nil || len(*aps) != 1 || *(*aps)[0].Id != 11 {
		t.Fatalf("GetAgentPools(windows-ci) = %v, %v", aps, err)
	}
	c := e.sim.Calls()
	if c["ado.options"] != 1 || c["ado.elasticpools.list"] != 1 || c["auth:pat"] != 4 {
		t.Errorf("calls = %v", c)
	}
}

func TestSDKGetAndUpdatePool(t *testing.T) {
	e := newEnv(t, Options{})
	el, _ := e.adoClients("pat")
	tests := []struct {
		name     string
		settings elastic.ElasticPoolSettings
		status   int
		standby  int
	}{
		{"standby to zero", elastic.ElasticPoolSettings{DesiredIdle: ptr(0)}, 0, 0},
		{"standby above max", elastic.ElasticPoolSettings{DesiredIdle: ptr(11)}, 400, 0},
		{"max below standby", elastic.ElasticPoolSettings{DesiredIdle: ptr(3), MaxCapacity: ptr(2)}, 400, 0},
		{"standby and max", elastic.ElasticPoolSettings{DesiredIdle: ptr(4), MaxCapacity: ptr(12), TimeToLiveMinutes: ptr(15)}, 0, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := el.UpdateElasticPool(ctx(t), elastic.UpdateElasticPoolArgs{PoolId: ptr(10), ElasticPoolSettings: &tc.settings})
			if tc.status != 0 {
				var we azuredevops.WrappedError
				if !errors.As(err, &we) || *we.StatusCode != tc.status || we.Message == nil || *we.Message == "" {
					t.Fatalf("err = %v, want a %d WrappedError", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *p.DesiredIdle != tc.standby {
				t.Errorf("standby = %d, want %d", *p.DesiredIdle, tc.standby)
			}
			s, _ := e.sim.Settings("linux-ci")
			if *s.Standby != tc.standby {
				t.Errorf("sim standby = %d", *s.Standby)
			}
		})
	}
	if s, _ := e.sim.Settings("linux-ci"); *s.Max != 12 || *s.TTLMinutes != 15 {
		t.Errorf("settings = %s", s)
	}
	_, err := el.GetElasticPool(ctx(t), elastic.GetElasticPoolArgs{PoolId: ptr(99)})
	var we azuredevops.WrappedError
	if !errors.As(err, &we) || *we.StatusCode != http.StatusNotFound || we.TypeKey == nil {
		t.Fatalf("get 99: %v", err)
	}
}

func TestRejectedPATGets401(t *testing.T) {
	e := newEnv(t, Options{})
	el, _ := e.adoClients(RejectedPAT)
	_, err := el.GetElasticPools(ctx(t), elastic.GetElasticPoolsArgs{})
	var we *azuredevops.WrappedError
	if !errors.As(err, &we) || *we.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err = %#v, want 401", err)
	}
	if c := e.sim.Calls(); c["auth:rejected"] != 1 || c["ado.elasticpools.list"] != 0 {
		t.Errorf("calls = %v", c)
	}
}

func TestNodesWalkToStandbyAndLogs(t *testing.T) {
	e := newEnv(t, Options{Pools: []PoolSpec{{Name: "p", Max: 4, Standby: 2, JobsPerHour: -1}}})
	el, ta := e.adoClients("pat")
	e.sim.Advance(15 * time.Minute)
	nodes, err := el.GetElasticNodes(ctx(t), elastic.GetElasticNodesArgs{PoolId: ptr(10)})
	if err != nil {
		t.Fatal(err)
	}
	if len(*nodes) != 2 {
		t.Fatalf("nodes = %d, want 2", len(*nodes))
	}
	for _, n := range *nodes {
		if *n.State != "idle" || *n.ComputeState != "healthy" || *n.AgentState != "online" || *n.ComputeId == "" || n.StateChangedOn == nil {
			t.Errorf("node %+v", n)
		}
	}
	idle, err := el.GetElasticNodes(ctx(t), elastic.GetElasticNodesArgs{PoolId: ptr(10), State: ptr(elastic.ElasticNodeStateValues.Assigned)})
	if err != nil || len(*idle) != 0 {
		t.Fatalf("assigned nodes = %v, %v", idle, err)
	}
	agents, err := ta.GetAgents(ctx(t), taskagent.GetAgentsArgs{PoolId: ptr(10)})
	if err != nil || len(*agents) != 2 || *(*agents)[0].Status != "online" {
		t.Fatalf("agents = %v, %v", agents, err)
	}
	logs, err := el.GetElasticPoolLogs(ctx(t), elastic.GetElasticPoolLogsArgs{PoolId: ptr(10), Top: ptr(10)})
	if err != nil || len(*logs) == 0 {
		t.Fatalf("logs = %v, %v", logs, err)
	}
	if l := (*logs)[0]; *l.Level != "info" || *l.Operation != "increaseCapacity" || l.Timestamp == nil || *l.PoolId != 10 {
		t.Errorf("log %+v", l)
	}
	// Forcing a node's state.
	n0 := (*nodes)[0]
	got, err := el.UpdateElasticNode(ctx(t), elastic.UpdateElasticNodeArgs{PoolId: ptr(10), ElasticNodeId: n0.Id,
		ElasticNodeSettings: &elastic.ElasticNodeSettings{State: ptr(elastic.ElasticNodeStateValues.PendingDelete)}})
	if err != nil || *got.State != "pendingDelete" {
		t.Fatalf("update node = %v, %v", got, err)
	}
	if _, err := el.UpdateElasticNode(ctx(t), elastic.UpdateElasticNodeArgs{PoolId: ptr(10), ElasticNodeId: n0.Id,
		ElasticNodeSettings: &elastic.ElasticNodeSettings{State: ptr(elastic.ElasticNodeStateValues.Idle)}}); err == nil {
		t.Error("setting a node idle succeeded")
	}
	e.sim.Advance(5 * time.Minute)
	st, _ := e.sim.NodeStates("p")
	if st[pool.NodeDeletingCompute] != 1 {
		t.Errorf("states after pendingDelete = %v", st)
	}
}

// An elastic pool's PATCH is merged over the pool, as Azure DevOps merges
// its nullable ElasticPoolSettings: a field left out keeps its value, and
// the merged settings are checked as a whole.
func TestPatchMergesOverThePool(t *testing.T) {
	e := newEnv(t, Options{Seed: 1})
	el, _ := e.adoClients("any-pat")
	patch := func(s elastic.ElasticPoolSettings) (*elastic.ElasticPool, error) {
		return el.UpdateElasticPool(ctx(t), elastic.UpdateElasticPoolArgs{PoolId: ptr(10), ElasticPoolSettings: &s})
	}
	tests := []struct {
		name    string
		s       elastic.ElasticPoolSettings
		standby int
		max     int
		ttl     int
		recycle bool
		refused string
	}{
		{"standby alone", elastic.ElasticPoolSettings{DesiredIdle: ptr(3)}, 3, 10, 30, false, ""},
		{"max alone", elastic.ElasticPoolSettings{MaxCapacity: ptr(4)}, 3, 4, 30, false, ""},
		{"ttl and recycle", elastic.ElasticPoolSettings{TimeToLiveMinutes: ptr(15), RecycleAfterEachUse: ptr(true)}, 3, 4, 15, true, ""},
		{"standby over the max it keeps", elastic.ElasticPoolSettings{DesiredIdle: ptr(5)}, 3, 4, 15, true, "cannot be greater than the maximum"},
		{"max under the standby it keeps", elastic.ElasticPoolSettings{MaxCapacity: ptr(2)}, 3, 4, 15, true, "cannot be greater than the maximum"},
		{"nothing", elastic.ElasticPoolSettings{}, 3, 4, 15, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := patch(tt.s)
			if tt.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tt.refused) {
					t.Errorf("err = %v, want %q", err, tt.refused)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if *got.DesiredIdle != tt.standby || *got.MaxCapacity != tt.max {
				t.Errorf("answer: standby %d max %d, want %d and %d", *got.DesiredIdle, *got.MaxCapacity, tt.standby, tt.max)
			}
			s, _ := e.sim.Settings("linux-ci")
			if *s.Standby != tt.standby || *s.Max != tt.max || *s.TTLMinutes != tt.ttl || *s.Recycle != tt.recycle {
				t.Errorf("pool has %s, want standby=%d max=%d ttl=%d recycle=%t", s, tt.standby, tt.max, tt.ttl, tt.recycle)
			}
		})
	}
}
