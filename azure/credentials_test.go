package azure

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/poolbot/poolbot/sim"
)

func TestNewWithAuth(t *testing.T) {
	s := sim.New(sim.Options{Start: simStart, Seed: 1})
	srv := httptest.NewServer(s)
	defer srv.Close()
	o := Options{OrganizationURL: srv.URL + "/contoso", ResourceManagerURL: srv.URL, Subscription: sim.Subscription,
		ResourceGroup: sim.ResourceGroup}
	plain := o
	plain.OrganizationURL = "http://dev.example.com/org"
	tests := []struct {
		name    string
		o       Options
		a       Auth
		wantErr string
		auth    string // the simulator's count key
	}{
		{"pat", o, Auth{DevOps: "pat", PAT: "x", ARM: "static", StaticToken: "arm-token"}, "", "auth:pat"},
		{"pat implied", o, Auth{PAT: "x", ARM: "static", StaticToken: "arm-token"}, "", "auth:pat"},
		{"static bearer", o, Auth{DevOps: "static", ARM: "static", StaticToken: "arm-token"}, "", "auth:bearer"},
		{"pat missing", o, Auth{DevOps: "pat", ARM: "static", StaticToken: "arm-token"}, "no pat given", ""},
		{"unknown auth", o, Auth{DevOps: "kerberos", ARM: "static", StaticToken: "arm-token"}, `unknown auth "kerberos"`, ""},
		{"client secret incomplete", o, Auth{PAT: "x", ARM: "client_secret", TenantID: "t"},
			"needs [azure] tenant_id, client_id and client_secret", ""},
		{"plain http elsewhere", plain, Auth{PAT: "x", ARM: "static", StaticToken: "arm-token"}, "only over https", ""},
	}
	a := Auth{PAT: "pat-secret", ARM: "client_secret", ClientSecret: "client-secret", StaticToken: "token-secret"}
	if s := fmt.Sprintf("%v %+v %#v %s", a, a, a, a); strings.Contains(s, "secret\"") || strings.Contains(s, "-secret") {
		t.Errorf("Auth prints its secrets: %s", s)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewWithAuth(context.Background(), tt.o, tt.a)
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
