package azure_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/pool/servicetest"
	"github.com/poolbot/poolbot/sim"
)

// The scale-set side passes the same conformance suite as managed pools.
func TestConformance(t *testing.T) {
	servicetest.Run(t, func(t *testing.T) servicetest.Env {
		s := sim.New(sim.Options{Start: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC), Seed: 1})
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		c, err := azure.New(context.Background(), azure.Options{
			OrganizationURL: srv.URL + "/contoso", PAT: "pat", ResourceManagerURL: srv.URL,
			ARMCredential: azure.StaticCredential("arm-token"),
			Retry:         azure.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxAttempts: 6},
			PollInterval:  time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		gallery := "/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup + "/providers/Microsoft.Compute/galleries/" + sim.Gallery + "/images/"
		return servicetest.Env{Service: c, Pool: "linux-ci", Advance: s.Advance,
			Image:   pool.Image{ID: gallery + "ubuntu22/versions/1.2.0"},
			Missing: pool.Image{ID: gallery + "nope/versions/1.0.0"}}
	})
}
