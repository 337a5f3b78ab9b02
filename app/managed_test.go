package app

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

const mdpID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-agents/providers/Microsoft.DevOpsInfrastructure/pools/mdp-linux"

func managedSim(t *testing.T) (*sim.Sim, string) {
	t.Helper()
	s := sim.New(sim.Options{Seed: 1})
	s.AddManagedPool(sim.ManagedSpec{Name: "mdp-linux", Max: 4, Standby: 1})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// Bad [[managed]] entries are refused with the file, line and key.
func TestManagedConfigErrors(t *testing.T) {
	_, url := managedSim(t)
	sched := `
[[schedules]]
name = "nights"
pools = ["mdp-linux"]
[[schedules.entries]]
cron = "0 20 * * *"
standby = 0
`
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"scale set id", `
[[managed]]
pool = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-agents/providers/Microsoft.Compute/virtualMachineScaleSets/linux-ci"
`, "key managed[0].pool: \"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-agents/providers/Microsoft.Compute/virtualMachineScaleSets/linux-ci\" is a Microsoft.Compute/virtualMachineScaleSets, not a Managed DevOps Pool"},
		{"both", "\n[[managed]]\npool = \"" + mdpID + "\"\nresource_group = \"/subscriptions/x/resourceGroups/y\"\n", "key managed[0]: give pool (a resource id) or resource_group, not both or neither"},
		{"bad standby", "\n[[managed]]\npool = \"" + mdpID + "\"\nstandby = \"service\"\n", "key managed[0].standby: \"service\" is not"},
		{"schedule without one", "\n[[managed]]\npool = \"" + mdpID + "\"\nstandby = \"schedule\"\n", "no [[schedules]] names the pool mdp-linux"},
		{"automatic and a schedule", sched + "\n[[managed]]\npool = \"" + mdpID + "\"\nstandby = \"automatic:Balanced\"\n", "they would fight"},
		{"bad preference", "\n[[managed]]\npool = \"" + mdpID + "\"\nstandby = \"automatic:Cheap\"\n", "\"Cheap\" is not one of automatic:MostCostEffective"},
		{"group handing over", "\n[[managed]]\nresource_group = \"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-agents\"\nstandby = \"automatic:Balanced\"\n", "key managed[0].standby: a resource group's pools keep standby"},
		{"bad group", "\n[[managed]]\nresource_group = \"/subscriptions/00000000-0000-0000-0000-000000000000\"\n", "not a resource group id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, t.TempDir(), url, "http://127.0.0.1:1", tc.extra)
			_, err := New(context.Background(), Options{Config: cfg, NoListen: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "config.toml:") {
				t.Errorf("New = %v, want an error naming the file and %q", err, tc.want)
			}
		})
	}
}

// Both kinds are listed and each pool's calls reach its kind.
func TestManagedBesideElastic(t *testing.T) {
	_, url := managedSim(t)
	cfg := writeConfig(t, t.TempDir(), url, "http://127.0.0.1:1", "\n[[managed]]\npool = \""+mdpID+"\"\n")
	a, err := New(context.Background(), Options{Config: cfg, NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	ps, err := a.service.List(ctx, pool.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, p := range ps {
		kinds[p.Name] = p.Kind
	}
	if len(ps) != 4 || kinds["mdp-linux"] != "managed" || kinds["linux-ci"] != "" {
		t.Errorf("List = %v", kinds)
	}
	if p, err := a.service.Update(ctx, pool.Pool{Name: "mdp-linux"}, pool.Settings{Max: pool.Int(3)}); err != nil || p.Max != 3 || p.Kind != "managed" {
		t.Errorf("Update mdp-linux = %+v, %v", p, err)
	}
	if p, err := a.service.Update(ctx, pool.Pool{Name: "linux-ci"}, pool.Settings{Max: pool.Int(9)}); err != nil || p.Max != 9 || p.Kind != "" {
		t.Errorf("Update linux-ci = max %d kind %q, %v", p.Max, p.Kind, err)
	}
}

// standby = "schedule" hands the pool's standby to the service as a
// daysData week made from its schedule.
func TestManagedStandbyHandedToTheService(t *testing.T) {
	s, url := managedSim(t)
	cfg := writeConfig(t, t.TempDir(), url, "http://127.0.0.1:1", `
[[schedules]]
name = "office"
pools = ["mdp-*"]
timezone = "Europe/Paris"
[[schedules.entries]]
cron = "0 8 * * 1-5"
standby = 2
[[schedules.entries]]
cron = "0 19 * * 1-5"
standby = 0

[[managed]]
pool = "`+mdpID+`"
standby = "schedule"
`)
	a, err := New(context.Background(), Options{Config: cfg, NoListen: true, Clock: s})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var hand task
	for _, tk := range a.parts.leader {
		if tk.name == "managed-standby" {
			hand = tk
		}
	}
	if hand.run == nil {
		t.Fatal("no managed-standby leader task")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hand.run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.Waiters() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	res, _ := s.ManagedResource("mdp-linux")
	preds := res["properties"].(map[string]any)["agentProfile"].(map[string]any)["resourcePredictions"].(map[string]any)
	days := preds["daysData"].([]any)
	if preds["timeZone"] != "Romance Standard Time" || len(days) != 7 || days[1].(map[string]any)["08:00:00"] != 2.0 {
		t.Errorf("resourcePredictions = %v", preds)
	}
	p, err := a.service.Get(context.Background(), "mdp-linux")
	if err != nil || !strings.Contains(p.StandbyBy, "poolbot's schedule") {
		t.Errorf("Get = standby by %q, %v", p.StandbyBy, err)
	}
}

// A managed pool's finished jobs are read through the same job history as
// an elastic pool's, so its digest counts and waits are not empty.
func TestManagedJobHistory(t *testing.T) {
	s, url := managedSim(t)
	cfg := writeConfig(t, t.TempDir(), url, "http://127.0.0.1:1", "\n[[managed]]\npool = \""+mdpID+"\"\n")
	a, err := New(context.Background(), Options{Config: cfg, NoListen: true, Clock: s})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	start := s.Now()
	s.Advance(20 * time.Hour) // Monday's working day in Paris
	page, err := a.service.JobHistory(context.Background(), "mdp-linux", pool.JobQuery{Since: start})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) < 20 || page.Token != "" {
		t.Fatalf("%d finished jobs (token %q), want a working day's", len(page.Jobs), page.Token)
	}
	for _, j := range page.Jobs {
		if j.Assigned.Before(j.Queued) || !j.Finished.After(j.Assigned) || j.Result != "succeeded" {
			t.Fatalf("job %+v", j)
		}
	}
}
