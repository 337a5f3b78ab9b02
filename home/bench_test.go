package home

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
)

// A tab holds what Slack allows (100 blocks): the pools it has room for,
// whose nodes are the only ones read, and a line for the rest.
func TestViewManyPools(t *testing.T) {
	r := newRig(t)
	r.sim.AddPools(497, sim.PoolSpec{Name: "bench", OS: pool.Linux, Max: 10, Standby: 2, SKU: "Standard_D2s_v5"})
	r.sim.ResetCalls()
	v := r.h.View(context.Background(), commands.Request{UserID: "UO"})
	if n := len(v.Blocks.BlockSet); n > maxBlocks {
		t.Fatalf("%d blocks, Slack takes %d", n, maxBlocks)
	}
	pools, buttons := summary(t, viewJSON(t, v))
	if len(pools) < 30 || len(buttons) == 0 {
		t.Errorf("%d pools shown, %d buttons", len(pools), len(buttons))
	}
	calls := r.sim.Calls()
	if calls["ado.elasticpools.list"] != 1 || calls["ado.nodes.list"] != len(pools) {
		t.Errorf("%d pool lists and %d node lists for %d pools shown, want 1 and %d", calls["ado.elasticpools.list"],
			calls["ado.nodes.list"], len(pools), len(pools))
	}
	if !strings.Contains(string(viewJSON(t, v).JSON), "more: see them with") {
		t.Error("the pools left out are not mentioned")
	}
}

// BenchmarkHomeView500 builds an operator's Home tab on the simulator with
// 500 pools, and as the baseline in the same run lists them with their
// nodes, as /pool list does. It reports Azure DevOps calls per tab.
//
//	go test -run '^$' -bench HomeView500 -benchtime 20x ./home
func BenchmarkHomeView500(b *testing.B) {
	r := newRig(b)
	r.sim.AddPools(497, sim.PoolSpec{Name: "bench", OS: pool.Linux, Max: 10, Standby: 2, SKU: "Standard_D2s_v5"})
	r.sim.Advance(time.Hour)
	ctx := context.Background()
	who := commands.Request{UserID: "UO"}
	r.h.View(ctx, who) // route discovery, once
	b.Run("home-tab", func(b *testing.B) {
		r.sim.ResetCalls()
		b.ResetTimer()
		for range b.N {
			if v := r.h.View(ctx, who); len(v.Blocks.BlockSet) < 90 {
				b.Fatalf("%d blocks", len(v.Blocks.BlockSet))
			}
		}
		b.ReportMetric(float64(total(r.sim.Calls()))/float64(b.N), "calls/op")
	})
	b.Run("baseline-list-with-nodes", func(b *testing.B) {
		r.sim.ResetCalls()
		b.ResetTimer()
		for range b.N {
			if ps, err := r.h.o.Service.List(ctx, pool.ListOptions{Nodes: true}); err != nil || len(ps) != 500 {
				b.Fatalf("%d pools: %v", len(ps), err)
			}
		}
		b.ReportMetric(float64(total(r.sim.Calls()))/float64(b.N), "calls/op")
	})
}

// viewJSON is v as the stub records a published view.
func viewJSON(t *testing.T, v slack.HomeTabViewRequest) slackstub.View {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return slackstub.View{Type: "home", JSON: b}
}

func total(m map[string]int) int {
	n := 0
	for k, v := range m {
		if strings.HasPrefix(k, "ado.") {
			n += v
		}
	}
	return n
}
