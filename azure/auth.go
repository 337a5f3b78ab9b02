package azure

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// DevOpsScope is the Microsoft Entra ID scope of Azure DevOps.
const DevOpsScope = "499b84ac-1321-427f-aa17-267ca6975798/.default"

// StaticCredential is a credential that always returns token, valid for a
// day from now. It is for the simulator and tests.
func StaticCredential(token string) azcore.TokenCredential { return staticCredential(token) }

type staticCredential string

func (s staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(24 * time.Hour)}, nil
}

// patPolicy authenticates each request with a PAT: Basic with an empty
// user. The header never appears in errors or logs.
type patPolicy struct{ header string }

func newPATPolicy(pat string) patPolicy {
	return patPolicy{header: "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+pat))}
}

func (p patPolicy) Do(req *policy.Request) (*http.Response, error) {
	req.Raw().Header.Set("Authorization", p.header)
	return req.Next()
}

// newTokenPolicy authenticates each request with a Microsoft Entra ID token
// for DevOpsScope from cred: azcore's bearer token policy, which caches the
// token and replaces it before it expires (the SDK's Connection would hold
// one string for the life of the process, and tokens last about an hour).
// A 401 with a challenge, as Azure DevOps answers a revoked token, is sent
// once more with a new token. allowHTTP lets it send a token to a loopback
// simulator over plain http.
func newTokenPolicy(cred azcore.TokenCredential, allowHTTP bool) policy.Policy {
	reauth := func(req *policy.Request, _ *http.Response, authorize func(policy.TokenRequestOptions) error) error {
		return authorize(policy.TokenRequestOptions{Scopes: []string{DevOpsScope}})
	}
	return runtime.NewBearerTokenPolicy(authCredential{cred}, []string{DevOpsScope}, &policy.BearerTokenOptions{
		AuthorizationHandler:            policy.AuthorizationHandler{OnChallenge: reauth},
		InsecureAllowCredentialWithHTTP: allowHTTP,
	})
}

// authCredential marks its credential's failures as *authError, so that
// they are told as a token problem.
type authCredential struct{ cred azcore.TokenCredential }

func (a authCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := a.cred.GetToken(ctx, o)
	if err != nil {
		return tok, &authError{err: err}
	}
	return tok, nil
}

// authError is a failure to get a token from the credential.
type authError struct{ err error }

func (e *authError) Error() string { return fmt.Sprintf("get an Azure DevOps token: %v", e.err) }
func (e *authError) Unwrap() error { return e.err }
