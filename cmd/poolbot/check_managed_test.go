package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/poolbot/poolbot/sim"
)

// check knows the Managed DevOps Pools: schedules may name them, and a
// [[managed]] entry of another resource type is an error naming its line.
func TestCheckManaged(t *testing.T) {
	s := sim.New(sim.Options{})
	s.AddManagedPool(sim.ManagedSpec{Name: "mdp-linux", Max: 4})
	srv := httptest.NewServer(s)
	defer srv.Close()
	sched := strings.Replace(goodSchedules, `["linux-ci", "windows-*"]`, `["linux-ci", "windows-*", "mdp-*"]`, 1)
	for _, tc := range []struct {
		name, extra string
		code        int
		want        string
	}{
		{"a schedule names a managed pool", "\n[[managed]]\npool = \"" + sim.ManagedPoolID("mdp-linux") + "\"\n", 0, "ok (1 schedules; 4 pools in Azure DevOps)"},
		{"by resource group", "\n[[managed]]\nresource_group = \"/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup + "\"\n", 0, "4 pools"},
		{"without it the glob matches nothing", "", 1, `"mdp-*" matches no pool`},
		{"a scale set id", "\n[[managed]]\npool = \"/subscriptions/" + sim.Subscription + "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/linux-ci\"\n", 1,
			":30: key managed[0].pool: \"/subscriptions/" + sim.Subscription + "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/linux-ci\" is a Microsoft.Compute/virtualMachineScaleSets, not a Managed DevOps Pool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, srv.URL, sched+tc.extra)
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"check", "--config", path}, nil, &out, &errb)
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s%s", code, tc.code, tc.want, out.String(), errb.String())
			}
		})
	}
}
