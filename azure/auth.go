package azure

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/poolbot/poolbot/clock"
)

// DevOpsScope is the Microsoft Entra ID scope of Azure DevOps.
const DevOpsScope = "499b84ac-1321-427f-aa17-267ca6975798/.default"

// refreshMargin is how long before expiry a token is replaced, so that no
// request leaves with a token that dies on the way.
const refreshMargin = 5 * time.Minute

// StaticCredential is a credential that always returns token, valid for a
// day from now. It is for the simulator and tests.
func StaticCredential(token string) azcore.TokenCredential { return staticCredential(token) }

type staticCredential string

func (s staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(24 * time.Hour)}, nil
}

// authorizer produces the Authorization header of each Azure DevOps request:
// Basic with an empty user for a PAT, or a Bearer token from a credential,
// cached and replaced before it expires. The SDK's Connection would hold one
// string for the life of the process, and Entra ID tokens last about an hour.
type authorizer struct {
	basic string // "Basic …" for a PAT; empty with a credential
	cred  azcore.TokenCredential
	clock clock.Clock

	mu      sync.Mutex
	token   string
	expires time.Time
	refresh time.Time // when to fetch the next one
}

func newPATAuthorizer(pat string) *authorizer {
	return &authorizer{basic: "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+pat))}
}

func newTokenAuthorizer(cred azcore.TokenCredential, c clock.Clock) *authorizer {
	return &authorizer{cred: cred, clock: c}
}

// header returns the Authorization header value. It never appears in errors
// or logs.
func (a *authorizer) header(ctx context.Context) (string, error) {
	if a.basic != "" {
		return a.basic, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	if a.token != "" && now.Before(a.refresh) {
		return "Bearer " + a.token, nil
	}
	tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{DevOpsScope}})
	if err != nil {
		// A token still valid for a while is better than failing the call.
		if a.token != "" && now.Before(a.expires) {
			return "Bearer " + a.token, nil
		}
		return "", &authError{err: err}
	}
	a.token, a.expires = tok.Token, tok.ExpiresOn
	a.refresh = tok.ExpiresOn.Add(-refreshMargin)
	if !tok.RefreshOn.IsZero() && tok.RefreshOn.Before(a.refresh) {
		a.refresh = tok.RefreshOn
	}
	if lifetime := tok.ExpiresOn.Sub(now); lifetime < 2*refreshMargin {
		// Short-lived tokens: refresh at half-life rather than at once.
		a.refresh = now.Add(lifetime / 2)
	}
	return "Bearer " + a.token, nil
}

// invalidate drops the cached token after Azure DevOps rejected it, so that
// the next request fetches a new one.
func (a *authorizer) invalidate() {
	if a.basic != "" {
		return
	}
	a.mu.Lock()
	a.token = ""
	a.mu.Unlock()
}

func (a *authorizer) isPAT() bool { return a.basic != "" }

// authError is a failure to get a token from the credential.
type authError struct{ err error }

func (e *authError) Error() string { return fmt.Sprintf("get an Azure DevOps token: %v", e.err) }
func (e *authError) Unwrap() error { return e.err }
