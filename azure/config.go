package azure

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/poolbot/poolbot/config"
)

// FromConfig builds a Client from the [azure_devops] and [azure] sections.
//
// Azure DevOps auth: "pat" (the default when a PAT is set), "entra"
// (DefaultAzureCredential: workload identity, managed identity, Azure CLI…),
// "client_secret" (the [azure] tenant, client id and secret) or "static"
// (the [azure] static token, for the simulator).
// Azure auth: "default", "client_secret" or "static"; empty means default.
//
// opts change the Options built from the configuration (the app's clock,
// say) before the Client is made.
func FromConfig(ctx context.Context, d config.DevOps, a config.Azure, logger *slog.Logger, opts ...func(*Options)) (*Client, error) {
	o := Options{
		OrganizationURL:    d.OrganizationURL,
		ResourceManagerURL: a.ResourceManagerURL,
		Subscription:       a.Subscription,
		ResourceGroup:      a.ResourceGroup,
		Concurrency:        d.Concurrency,
		Logger:             logger,
	}
	var (
		def azcore.TokenCredential // made once, shared by both sides
		err error
	)
	credential := func(kind, section string) (azcore.TokenCredential, error) {
		switch kind {
		case "default", "entra", "":
			if def == nil {
				if def, err = azidentity.NewDefaultAzureCredential(nil); err != nil {
					return nil, fmt.Errorf("%s: Microsoft Entra ID credential: %w", section, err)
				}
			}
			return def, nil
		case "client_secret":
			if a.TenantID == "" || a.ClientID == "" || !a.ClientSecret.IsSet() {
				return nil, fmt.Errorf("%s: client_secret auth needs [azure] tenant_id, client_id and client_secret", section)
			}
			c, err := azidentity.NewClientSecretCredential(a.TenantID, a.ClientID, a.ClientSecret.Value(), nil)
			if err != nil {
				return nil, fmt.Errorf("%s: client secret credential: %w", section, err)
			}
			return c, nil
		case "static":
			if !a.StaticToken.IsSet() {
				return nil, fmt.Errorf("%s: static auth needs [azure] static_token", section)
			}
			return StaticCredential(a.StaticToken.Value()), nil
		}
		return nil, fmt.Errorf("%s: unknown auth %q", section, kind)
	}
	switch {
	case d.Auth == "pat" || (d.Auth == "" && d.PAT.IsSet()):
		if !d.PAT.IsSet() {
			return nil, fmt.Errorf("azure_devops: auth = \"pat\" but no pat given")
		}
		o.PAT = d.PAT.Value()
	default:
		if o.DevOpsCredential, err = credential(d.Auth, "azure_devops"); err != nil {
			return nil, err
		}
	}
	if o.ARMCredential, err = credential(a.Auth, "azure"); err != nil {
		return nil, err
	}
	for _, f := range opts {
		f(&o)
	}
	return New(ctx, o)
}
