package managed

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/pool"
)

// target says what an operation touched, so that an error can name it.
type target struct {
	op, pool    string
	write       bool
	region, sku string
}

// translate tells an error in words: the service's own codes here, the
// rest (throttling, outages, credentials, refusals) as the scale-set side
// words them.
func translate(t target, err error) error {
	if err == nil {
		return nil
	}
	what := "the Managed DevOps Pool"
	if t.pool != "" {
		what += " " + t.pool
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code, msg := serviceError(re)
		e := &pool.Error{Op: t.op, Pool: t.pool, Err: err}
		region := orDefault(t.region, "this region")
		switch {
		case strings.EqualFold(code, "ExceedingQuota"):
			e.Kind, e.Msg = pool.KindQuota, fmt.Sprintf("not enough Managed DevOps Pools quota in %s for %s: %s", region, orDefault(t.sku, "the VM size"), msg)
		case strings.EqualFold(code, "SkuNotAvailable"):
			e.Kind, e.Msg = pool.KindQuota, fmt.Sprintf("%s is not available to Managed DevOps Pools in %s", orDefault(t.sku, "the VM size"), region)
		case strings.EqualFold(code, "ClusterOutOfCapacity"):
			e.Kind, e.Msg = pool.KindQuota, fmt.Sprintf("Azure has no capacity for %s in %s right now; try again later", orDefault(t.sku, "the pool's agents"), region)
		case strings.EqualFold(code, "ImageNotFound"):
			e.Kind, e.Msg = pool.KindNotFound, "image not found: "+msg
		case strings.EqualFold(code, "InvalidSubnetDelegation"):
			e.Kind, e.Msg = pool.KindInvalid, "the subnet is not delegated to Microsoft.DevOpsInfrastructure/pools: "+msg
		case re.StatusCode == http.StatusForbidden || strings.EqualFold(code, "AuthorizationFailed"):
			e.Kind = pool.KindPermission
			if t.write {
				e.Msg = "permission denied by Azure: poolbot's identity needs the Contributor role on " + what
			} else {
				e.Msg = "permission denied by Azure: poolbot's identity needs at least the Reader role on " + what
			}
		case re.StatusCode == http.StatusNotFound && !strings.EqualFold(code, "ResourceGroupNotFound"):
			e.Kind, e.Msg = pool.KindNotFound, what+" was not found in Azure"
		default:
			return azure.TranslateARM(t.op, t.pool, what, t.write, t.region, t.sku, err)
		}
		return e
	}
	// A long-running operation that failed: the poller's error carries the
	// operation's error code in its message.
	for _, code := range []string{"ExceedingQuota", "SkuNotAvailable", "ClusterOutOfCapacity", "ImageNotFound"} {
		if strings.Contains(err.Error(), code) {
			return translate(t, &azcore.ResponseError{ErrorCode: code, StatusCode: http.StatusConflict})
		}
	}
	return azure.TranslateARM(t.op, t.pool, what, t.write, t.region, t.sku, err)
}

// serviceError reads {"error":{"code","message"}}.
func serviceError(re *azcore.ResponseError) (code, msg string) {
	code = re.ErrorCode
	if re.RawResponse == nil {
		return code, ""
	}
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if b, err := runtime.Payload(re.RawResponse); err == nil && len(b) > 0 {
		if runtime.UnmarshalAsJSON(re.RawResponse, &body) == nil {
			if code == "" {
				code = body.Error.Code
			}
			msg = body.Error.Message
		}
	}
	return code, msg
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
