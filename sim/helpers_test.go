package sim

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/elastic"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"
)

// env is a simulator behind two loopback servers: plain HTTP for Azure
// DevOps (as `poolbot sim` serves it) and TLS for ARM (azcore refuses to send
// a bearer token over plain HTTP).
type env struct {
	sim *Sim
	ado *httptest.Server
	arm *httptest.Server
}

func newEnv(t testing.TB, o Options) *env {
	t.Helper()
	s := New(o)
	e := &env{sim: s, ado: httptest.NewServer(s), arm: httptest.NewTLSServer(s)}
	t.Cleanup(e.ado.Close)
	t.Cleanup(e.arm.Close)
	return e
}

func (e *env) orgURL() string { return e.ado.URL + "/contoso" }

// adoClients builds the SDK's clients the way the pool layer does.
func (e *env) adoClients(pat string) (*elastic.ClientImpl, *taskagent.ClientImpl) {
	conn := azuredevops.NewPatConnection(e.orgURL(), pat)
	c := azuredevops.NewClientWithOptions(conn, e.orgURL(), azuredevops.WithHTTPClient(e.ado.Client()))
	return &elastic.ClientImpl{Client: *c}, &taskagent.ClientImpl{Client: *c}
}

func (e *env) armOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: "https://login.invalid/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: e.arm.URL, Audience: "https://management.core.windows.net/"},
			},
		},
		Transport: e.arm.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}}
}

func (e *env) compute(t *testing.T) *armcompute.ClientFactory {
	t.Helper()
	f, err := armcompute.NewClientFactory(Subscription, &azfake.TokenCredential{}, e.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var fastPoll = &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}

var _ azcore.TokenCredential = &azfake.TokenCredential{}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func poolID(t *testing.T, c *elastic.ClientImpl, name string) int {
	t.Helper()
	ps, err := c.GetElasticPools(ctx(t), elastic.GetElasticPoolsArgs{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range *ps {
		if ss := *p.AzureId; len(ss) > len(name) && ss[len(ss)-len(name)-1:] == "/"+name {
			return *p.PoolId
		}
	}
	t.Fatalf("no pool %s", name)
	return 0
}
