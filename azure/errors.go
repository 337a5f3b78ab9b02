package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/poolbot/poolbot/pool"
)

// target says what an operation touched, so that an error can name it.
type target struct {
	op       string // "update pool", …
	pool     string
	write    bool   // the operation changes something
	scaleSet string // scale set name, for ARM errors
	region   string // for quota errors, when known
	sku      string
}

// translate turns err into a *pool.Error in words a Slack user understands.
// The underlying error is kept for logs; no message carries a token, because
// no error poolbot builds holds a request header.
func translate(t target, err error) error {
	if err == nil {
		return nil
	}
	var pe *pool.Error
	if errors.As(err, &pe) {
		if pe.Op == "" {
			pe.Op = t.op
		}
		if pe.Pool == "" {
			pe.Pool = t.pool
		}
		return pe
	}
	e := &pool.Error{Op: t.op, Pool: t.pool, Err: err}
	var (
		se *statusError
		re *azcore.ResponseError
		ae *authError
		ce *connError
	)
	switch {
	case errors.Is(err, context.Canceled):
		e.Kind, e.Msg = pool.KindUnavailable, "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind, e.Msg = pool.KindUnavailable, "timed out waiting for Azure"
	case errors.As(err, &ae):
		e.Kind = pool.KindAuth
		e.Msg = "could not get a Microsoft Entra ID token for Azure DevOps (is the identity configured and added to the organization?)"
	case errors.As(err, &se):
		devops(t, se, e)
	case errors.As(err, &re):
		resourceManager(t, re, e)
	case errors.As(err, &ce):
		e.Kind, e.Msg = pool.KindUnavailable, "could not reach Azure DevOps; try again in a minute"
	default:
		e.Kind, e.Msg = pool.KindUnknown, "unexpected error: "+err.Error()
	}
	return e
}

func seconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// throttleEnd is when a throttle ends, to the second, with its zone named:
// "10:42:30 UTC".
func throttleEnd(t time.Time) string {
	return t.UTC().Add(time.Second - 1).Truncate(time.Second).Format("15:04:05 MST")
}

func devops(t target, se *statusError, e *pool.Error) {
	switch se.Status {
	case http.StatusUnauthorized:
		e.Kind = pool.KindAuth
		e.Msg = "Azure DevOps rejected the credentials (PAT expired or revoked?)"
	case http.StatusForbidden:
		e.Kind = pool.KindPermission
		if t.write {
			e.Msg = "permission denied by Azure DevOps: poolbot's identity needs the Administrator role (Manage) on the agent pool"
		} else {
			e.Msg = "permission denied by Azure DevOps: poolbot's identity needs at least the Reader role on the agent pool (scope Agent Pools: read)"
		}
	case http.StatusNotFound:
		e.Kind = pool.KindNotFound
		if t.pool != "" {
			e.Msg = fmt.Sprintf("no pool named %q in Azure DevOps", t.pool)
		} else {
			e.Msg = "not found in Azure DevOps"
		}
	case http.StatusTooManyRequests:
		e.Kind, e.RetryAfter = pool.KindThrottled, se.RetryAfter
		if !se.Until.IsZero() {
			e.Msg = fmt.Sprintf("Azure DevOps is throttling poolbot until %s; nothing was sent to it", throttleEnd(se.Until))
		} else {
			e.Msg = fmt.Sprintf("throttled by Azure DevOps, retrying in %d s", seconds(se.RetryAfter))
		}
	case http.StatusConflict:
		e.Kind = pool.KindConflict
		e.Msg = "Azure DevOps reports a conflict: " + orStatus(se)
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		e.Kind = pool.KindInvalid
		e.Msg = "Azure DevOps refused the request: " + orStatus(se)
	default:
		e.Kind = pool.KindUnavailable
		e.Msg = fmt.Sprintf("Azure DevOps is not answering properly (HTTP %d); try again in a minute", se.Status)
		if se.RetryAfter > 0 {
			e.RetryAfter = se.RetryAfter
		}
	}
}

func orStatus(se *statusError) string {
	if se.Message != "" {
		return se.Message
	}
	return http.StatusText(se.Status)
}

var locationRE = regexp.MustCompile(`(?i)\blocation:?\s*'?([a-z0-9]+)`)

// quotaCodes are ARM error codes that mean the subscription or region has no
// room for the VMs asked for.
var quotaCodes = map[string]bool{
	"quotaexceeded": true, "operationnotallowed": true, "skunotavailable": true, "allocationfailed": true,
	"zonalallocationfailed": true, "overconstrainedallocationrequest": true, "overconstrainedzonalallocationrequest": true,
}

func resourceManager(t target, re *azcore.ResponseError, e *pool.Error) {
	codes, msg := armMessage(re)
	what := "the scale set"
	if t.scaleSet != "" {
		what = "the scale set " + t.scaleSet
	}
	has := func(c ...string) bool {
		for _, x := range codes {
			for _, y := range c {
				if x == y {
					return true
				}
			}
		}
		return false
	}
	quota := ""
	for _, x := range codes {
		if quotaCodes[x] && (x != "operationnotallowed" || strings.Contains(strings.ToLower(msg), "quota")) {
			quota = x
			break
		}
	}
	code := ""
	if len(codes) > 0 {
		code = codes[len(codes)-1]
	}
	switch {
	case re.StatusCode == http.StatusUnauthorized:
		e.Kind = pool.KindAuth
		e.Msg = "Azure Resource Manager rejected the credentials (client secret expired, or the identity not in this tenant?)"
	case re.StatusCode == http.StatusForbidden || has("authorizationfailed", "linkedauthorizationfailed"):
		e.Kind = pool.KindPermission
		if t.write {
			e.Msg = "permission denied by Azure: poolbot's identity needs the Virtual Machine Contributor role on " + what
		} else {
			e.Msg = "permission denied by Azure: poolbot's identity needs at least the Reader role on " + what
		}
	case quota != "":
		e.Kind = pool.KindQuota
		region := t.region
		if m := locationRE.FindStringSubmatch(msg); m != nil {
			region = strings.ToLower(m[1])
		}
		switch {
		case quota == "skunotavailable":
			e.Msg = fmt.Sprintf("%s is not available in %s", orUnknown(t.sku, "the VM size"), orUnknown(region, "this region"))
		case strings.Contains(quota, "allocation"):
			e.Msg = fmt.Sprintf("Azure has no capacity for %s in %s right now", orUnknown(t.sku, "the VM size"), orUnknown(region, "this region"))
		default:
			e.Msg = fmt.Sprintf("quota exceeded in %s for %s", orUnknown(region, "the region"), orUnknown(t.sku, "the VM size"))
		}
	case has("resourcegroupnotfound", "galleryimagenotfound", "imagenotfound"):
		e.Kind = pool.KindNotFound
		e.Msg = "not found in Azure: " + orUnknown(msg, code)
	case re.StatusCode == http.StatusNotFound || has("resourcenotfound", "notfound"):
		e.Kind = pool.KindNotFound
		e.Msg = what + " was not found in Azure"
	case re.StatusCode == http.StatusTooManyRequests:
		e.Kind = pool.KindThrottled
		if re.RawResponse != nil {
			e.RetryAfter, _ = retryAfter(re.RawResponse.Header, time.Now())
		}
		e.Msg = fmt.Sprintf("throttled by Azure Resource Manager, retrying in %d s", seconds(e.RetryAfter))
	case re.StatusCode == http.StatusConflict:
		e.Kind = pool.KindConflict
		e.Msg = "Azure reports a conflict: " + orUnknown(msg, code)
	case re.StatusCode == http.StatusBadRequest:
		e.Kind = pool.KindInvalid
		e.Msg = "Azure refused the request: " + orUnknown(msg, code)
	case re.StatusCode >= 500:
		e.Kind = pool.KindUnavailable
		e.Msg = fmt.Sprintf("Azure Resource Manager is not answering properly (HTTP %d); try again in a minute", re.StatusCode)
	default:
		e.Kind = pool.KindUnknown
		e.Msg = "Azure: " + orUnknown(msg, code)
	}
}

func orUnknown(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// armMessage reads the error codes and message of an ARM error body
// ({"error":{"code","message","details":[…]}}): the codes of the error and
// its details, and the message of the first detail that has one, which
// usually says more than the outer "OperationFailed".
func armMessage(re *azcore.ResponseError) (codes []string, msg string) {
	if re.ErrorCode != "" {
		codes = append(codes, strings.ToLower(re.ErrorCode))
	}
	if re.RawResponse == nil {
		return codes, ""
	}
	b, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return codes, ""
	}
	var body struct {
		Error *armError `json:"error"`
	}
	if json.Unmarshal(b, &body) != nil || body.Error == nil {
		return codes, ""
	}
	for e := body.Error; e != nil; {
		if e.Code != "" {
			codes = append(codes, strings.ToLower(e.Code))
		}
		if e.Message != "" {
			msg = e.Message
		}
		if len(e.Details) == 0 {
			break
		}
		e = &e.Details[0]
	}
	if len(msg) > 400 {
		msg = msg[:400] + "…"
	}
	return codes, msg
}

type armError struct {
	Code    string     `json:"code"`
	Message string     `json:"message"`
	Details []armError `json:"details"`
}
