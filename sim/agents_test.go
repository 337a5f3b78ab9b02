package sim

import (
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"
)

// A new agent version for the organization reaches every agent by its own
// update, between jobs, some minutes later; until then they report the old one.
func TestAgentsUpdateThemselves(t *testing.T) {
	e := newEnv(t, Options{Start: time.Date(2026, 1, 5, 1, 0, 0, 0, time.UTC)})
	e.sim.Advance(time.Hour)
	el, ta := e.adoClients("pat")
	id := poolID(t, el, "linux-ci")
	versions := func() map[string]int {
		t.Helper()
		as, err := ta.GetAgents(ctx(t), taskagent.GetAgentsArgs{PoolId: &id})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, a := range *as {
			out[*a.Version]++
		}
		return out
	}
	if v := versions(); len(v) != 1 || v[AgentVersion] == 0 {
		t.Fatalf("agents report %v; want all on %s", v, AgentVersion)
	}
	e.sim.SetAgentVersion("4.260.0")
	if v := versions(); v["4.260.0"] != 0 {
		t.Errorf("agents updated at once: %v", v)
	}
	e.sim.Advance(defaultSelfUpdate + 2*time.Minute)
	if v := versions(); len(v) != 1 || v["4.260.0"] == 0 {
		t.Errorf("after %s agents report %v; want all on 4.260.0 (idle at night)", defaultSelfUpdate, v)
	}
}
