package azure

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/sim"
)

func TestFromConfig(t *testing.T) {
	s := sim.New(sim.Options{Start: simStart, Seed: 1})
	srv := httptest.NewServer(s)
	defer srv.Close()
	az := config.Azure{ResourceManagerURL: srv.URL, Subscription: sim.Subscription, ResourceGroup: sim.ResourceGroup,
		Auth: "static", StaticToken: config.NewSecret("arm-token")}
	tests := []struct {
		name    string
		d       config.DevOps
		a       config.Azure
		wantErr string
		auth    string // the simulator's count key
	}{
		{"pat", config.DevOps{OrganizationURL: srv.URL + "/contoso", Auth: "pat", PAT: config.NewSecret("x")}, az, "", "auth:pat"},
		{"pat implied", config.DevOps{OrganizationURL: srv.URL + "/contoso", PAT: config.NewSecret("x")}, az, "", "auth:pat"},
		{"static bearer", config.DevOps{OrganizationURL: srv.URL + "/contoso", Auth: "static"}, az, "", "auth:bearer"},
		{"pat missing", config.DevOps{OrganizationURL: srv.URL + "/contoso", Auth: "pat"}, az, "no pat given", ""},
		{"unknown auth", config.DevOps{OrganizationURL: srv.URL + "/contoso", Auth: "kerberos"}, az, `unknown auth "kerberos"`, ""},
		{"client secret incomplete", config.DevOps{OrganizationURL: srv.URL + "/contoso", PAT: config.NewSecret("x")},
			config.Azure{Auth: "client_secret", TenantID: "t"}, "needs [azure] tenant_id, client_id and client_secret", ""},
		{"plain http elsewhere", config.DevOps{OrganizationURL: "http://dev.example.com/org", PAT: config.NewSecret("x")}, az, "only over https", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromConfig(context.Background(), tt.d, tt.a, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s.ResetCalls()
			p, err := c.Get(context.Background(), "linux-ci")
			if err != nil || p.ScaleSet == nil {
				t.Fatalf("Get: %+v, %v", p, err)
			}
			if s.Calls()[tt.auth] == 0 {
				t.Errorf("simulator saw no %s: %v", tt.auth, s.Calls())
			}
		})
	}
}
