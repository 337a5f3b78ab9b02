package azure

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Auth names how a Client authenticates to each side, as the
// [azure_devops] and [azure] sections write it.
type Auth struct {
	// DevOps is Azure DevOps' auth: "pat" (the default when PAT is set),
	// "entra" (DefaultAzureCredential: workload identity, managed
	// identity, Azure CLI…), "client_secret" (TenantID, ClientID and
	// ClientSecret) or "static" (StaticToken, for the simulator).
	DevOps string
	PAT    string
	// ARM is Azure Resource Manager's: "default" (also ""),
	// "client_secret" or "static".
	ARM          string
	TenantID     string
	ClientID     string
	ClientSecret string
	StaticToken  string
}

// String keeps the secrets out of logs and errors.
func (a Auth) String() string {
	return fmt.Sprintf("azure_devops %s, azure %s", orDefault(a.DevOps), orDefault(a.ARM))
}

// GoString keeps the secrets out of %#v.
func (a Auth) GoString() string { return "azure.Auth{" + a.String() + "}" }

// LogValue keeps the secrets out of structured logs.
func (a Auth) LogValue() slog.Value { return slog.StringValue(a.String()) }

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

// NewWithAuth builds a Client from o with the credentials auth names,
// which replace o's PAT, DevOpsCredential and ARMCredential.
func NewWithAuth(ctx context.Context, o Options, auth Auth) (*Client, error) {
	a := auth
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
			if a.TenantID == "" || a.ClientID == "" || a.ClientSecret == "" {
				return nil, fmt.Errorf("%s: client_secret auth needs [azure] tenant_id, client_id and client_secret", section)
			}
			c, err := azidentity.NewClientSecretCredential(a.TenantID, a.ClientID, a.ClientSecret, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: client secret credential: %w", section, err)
			}
			return c, nil
		case "static":
			if a.StaticToken == "" {
				return nil, fmt.Errorf("%s: static auth needs [azure] static_token", section)
			}
			return StaticCredential(a.StaticToken), nil
		}
		return nil, fmt.Errorf("%s: unknown auth %q", section, kind)
	}
	o.PAT, o.DevOpsCredential = "", nil
	switch {
	case a.DevOps == "pat" || (a.DevOps == "" && a.PAT != ""):
		if a.PAT == "" {
			return nil, fmt.Errorf("azure_devops: auth = \"pat\" but no pat given")
		}
		o.PAT = a.PAT
	default:
		if o.DevOpsCredential, err = credential(a.DevOps, "azure_devops"); err != nil {
			return nil, err
		}
	}
	if o.ARMCredential, err = credential(a.ARM, "azure"); err != nil {
		return nil, err
	}
	return New(ctx, o)
}
