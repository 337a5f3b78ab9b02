package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/poolbot/poolbot/pool"
)

func armResponse(code int, body string) error {
	req, _ := http.NewRequest("PUT", "https://management.azure.com/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/linux-ci", nil)
	resp := &http.Response{StatusCode: code, Status: http.StatusText(code), Header: http.Header{"Retry-After": {"12"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req}
	return runtime.NewResponseError(resp)
}

func TestTranslate(t *testing.T) {
	write := target{op: "update pool", pool: "linux-ci", write: true, scaleSet: "linux-ci", region: "westeurope", sku: "Standard_D4s_v5"}
	read := target{op: "list nodes", pool: "linux-ci"}
	tests := []struct {
		name    string
		t       target
		err     error
		kind    pool.Kind
		msg     string // substring
		retryIn time.Duration
	}{
		{"401", read, &statusError{Status: 401}, pool.KindAuth, "Azure DevOps rejected the credentials (PAT expired or revoked?)", 0},
		{"403 write", write, &statusError{Status: 403}, pool.KindPermission, "Manage", 0},
		{"403 read", read, &statusError{Status: 403}, pool.KindPermission, "Reader", 0},
		{"404", read, &statusError{Status: 404}, pool.KindNotFound, `no pool named "linux-ci"`, 0},
		{"429", read, fmt.Errorf("wrapped: %w", &statusError{Status: 429, RetryAfter: 2500 * time.Millisecond}), pool.KindThrottled, "throttled by Azure DevOps, retrying in 3 s", 2500 * time.Millisecond},
		{"400", write, &statusError{Status: 400, Message: "desiredIdle must be <= maxCapacity"}, pool.KindInvalid, "desiredIdle must be", 0},
		{"503", read, &statusError{Status: 503}, pool.KindUnavailable, "HTTP 503", 0},
		{"no answer", read, &connError{err: errors.New("connection reset")}, pool.KindUnavailable, "could not reach Azure DevOps", 0},
		{"token", read, &authError{err: errors.New("no managed identity")}, pool.KindAuth, "Microsoft Entra ID", 0},
		{"cancelled", read, context.Canceled, pool.KindUnavailable, "cancelled", 0},
		{"pool error kept", read, pool.NotFound("x"), pool.KindNotFound, `no pool named "x"`, 0},
		{"arm quota", write, armResponse(409, `{"error":{"code":"OperationNotAllowed","message":"Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota. Additional details - Deployment Model: Resource Manager, Location: westeurope, Current Limit: 10, Current Usage: 8, Additional Required: 4"}}`),
			pool.KindQuota, "quota exceeded in westeurope for Standard_D4s_v5", 0},
		{"arm quota nested", target{op: "create pool", write: true, sku: "Standard_NC4as_T4_v3"}, armResponse(200, `{"error":{"code":"OperationFailed","message":"failed","details":[{"code":"QuotaExceeded","message":"Quota exceeded. Location: northeurope"}]}}`),
			pool.KindQuota, "quota exceeded in northeurope for Standard_NC4as_T4_v3", 0},
		{"arm sku", write, armResponse(409, `{"error":{"code":"SkuNotAvailable","message":"The requested size is not available"}}`), pool.KindQuota, "Standard_D4s_v5 is not available in westeurope", 0},
		{"arm 403", write, armResponse(403, `{"error":{"code":"AuthorizationFailed","message":"The client 'x' does not have authorization to perform action 'Microsoft.Compute/virtualMachineScaleSets/write'"}}`),
			pool.KindPermission, "Virtual Machine Contributor role on the scale set linux-ci", 0},
		{"arm 404", write, armResponse(404, `{"error":{"code":"ResourceNotFound","message":"not found"}}`), pool.KindNotFound, "the scale set linux-ci was not found", 0},
		{"arm 429", read, armResponse(429, `{"error":{"code":"TooManyRequests","message":"throttled"}}`), pool.KindThrottled, "throttled by Azure Resource Manager, retrying in 12 s", 12 * time.Second},
		{"arm 401", read, armResponse(401, `{"error":{"code":"AuthenticationFailed","message":"no"}}`), pool.KindAuth, "Azure Resource Manager rejected", 0},
		{"arm 500", read, armResponse(500, `{"error":{"code":"InternalServerError","message":"boom"}}`), pool.KindUnavailable, "HTTP 500", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := translate(tt.t, tt.err)
			var pe *pool.Error
			if !errors.As(err, &pe) {
				t.Fatalf("translate = %T %v", err, err)
			}
			if pe.Kind != tt.kind || !strings.Contains(pe.Msg, tt.msg) || pe.RetryAfter != tt.retryIn {
				t.Errorf("got kind %v msg %q retry %v; want %v %q %v", pe.Kind, pe.Msg, pe.RetryAfter, tt.kind, tt.msg, tt.retryIn)
			}
			if !errors.Is(err, tt.err) && !errors.As(err, new(*pool.Error)) {
				t.Errorf("cause lost")
			}
		})
	}
	if translate(read, nil) != nil {
		t.Error("nil error translated")
	}
}
