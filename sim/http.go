package sim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ServeHTTP serves Azure DevOps at /{org}/…, Azure Resource Manager at
// /subscriptions/…, and the retail prices API at /api/retail/prices.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := "/" + strings.TrimLeft(r.URL.Path, "/")
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case strings.HasPrefix(strings.ToLower(path), "/api/retail/prices"):
		s.count("prices")
		s.servePrices(w, r)
	case strings.EqualFold(seg[0], "subscriptions"):
		s.serveARM(w, r, seg)
	case strings.EqualFold(seg[0], s.org):
		s.serveADO(w, r, seg[1:])
	default:
		s.count("unknown")
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not found: " + path})
	}
}

type handler func(w http.ResponseWriter, r *http.Request)

// eq reports whether path segments seg match pattern; "*" matches any one segment.
func eq(seg []string, pattern ...string) bool {
	if len(seg) != len(pattern) {
		return false
	}
	for i, p := range pattern {
		if p != "*" && !strings.EqualFold(p, seg[i]) {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// adoError answers as Azure DevOps does, in the shape the SDK's WrappedError reads.
func adoError(w http.ResponseWriter, status int, typeKey, msg string) {
	writeJSON(w, status, map[string]any{
		"$id":            "1",
		"innerException": nil,
		"message":        msg,
		"typeName":       "Microsoft.TeamFoundation.DistributedTask.WebApi." + typeKey + ", Microsoft.TeamFoundation.DistributedTask.WebApi",
		"typeKey":        typeKey,
		"errorCode":      0,
		"eventId":        3000,
	})
}

// armError answers as Azure Resource Manager does.
func armError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("x-ms-failure-cause", "service")
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// adoAuth checks an Azure DevOps Authorization header: any PAT or bearer
// token but RejectedPAT.
func (s *Sim) adoAuth(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	kind := "auth:none"
	switch {
	case strings.HasPrefix(h, "Basic "):
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
		_, pat, _ := strings.Cut(string(b), ":")
		if err == nil && pat != "" {
			kind = "auth:pat"
			if pat == RejectedPAT {
				kind = "auth:rejected"
			}
		}
	case strings.HasPrefix(h, "Bearer ") && strings.TrimSpace(strings.TrimPrefix(h, "Bearer ")) != "":
		kind = "auth:bearer"
	}
	s.count(kind)
	if kind == "auth:pat" || kind == "auth:bearer" {
		return true
	}
	// Azure DevOps answers a bad or missing credential with an empty 401
	// and its challenges when the client suppresses the sign-in redirect.
	w.Header().Set("WWW-Authenticate", `Bearer authorization_uri=https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000`)
	w.Header().Add("WWW-Authenticate", `Basic realm="https://dev.azure.com/"`)
	w.Header().Add("WWW-Authenticate", "TFS-Federated")
	w.Header().Set("X-TFS-ProcessId", uuid.NewString())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
	return false
}

func (s *Sim) armAuth(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if strings.HasPrefix(h, "Bearer ") && strings.TrimSpace(strings.TrimPrefix(h, "Bearer ")) != "" {
		s.count("auth:bearer")
		return true
	}
	s.count("auth:none")
	w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`)
	armError(w, http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	return false
}

// fault injects the configured faults; true means the request was answered.
func (s *Sim) fault(w http.ResponseWriter, r *http.Request, ado bool) bool {
	s.fmu.Lock()
	f := s.faults
	drop, tooMany, broken := s.faultRng.Float64(), s.faultRng.Float64(), s.faultRng.Float64()
	s.fmu.Unlock()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	switch {
	case drop < f.RateDrop:
		s.count("fault:drop")
		// Aborts the connection without an answer.
		panic(http.ErrAbortHandler)
	case tooMany < f.Rate429:
		s.count("fault:429")
		secs := f.RetryAfter.Seconds()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
		if f.RetryAfter < time.Second {
			w.Header().Set("Retry-After", "0")
			w.Header().Set("Retry-After-Ms", strconv.FormatInt(f.RetryAfter.Milliseconds(), 10))
		}
		if ado {
			w.Header().Set("X-RateLimit-Resource", "Core")
			w.Header().Set("X-RateLimit-Delay", strconv.FormatFloat(secs, 'f', 3, 64))
			w.Header().Set("X-RateLimit-Limit", "200")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(f.RetryAfter).Unix(), 10))
			adoError(w, http.StatusTooManyRequests, "RequestBlockedException",
				"TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'.")
		} else {
			w.Header().Set("x-ms-ratelimit-remaining-subscription-reads", "0")
			armError(w, http.StatusTooManyRequests, "TooManyRequests",
				"The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00. For more information, see - https://aka.ms/armthrottling")
		}
		return true
	case broken < f.Rate5xx:
		s.count("fault:5xx")
		if ado {
			adoError(w, http.StatusServiceUnavailable, "ServiceUnavailableException",
				"TF400898: An Internal Error Occurred. Activity Id: "+uuid.NewString()+".")
		} else {
			armError(w, http.StatusInternalServerError, "InternalServerError",
				"An internal server error occurred. Please try again later.")
		}
		return true
	}
	return false
}

func (s *Sim) serveADO(w http.ResponseWriter, r *http.Request, seg []string) {
	name, h := s.adoRoute(r.Method, seg)
	s.count(name)
	if h == nil {
		adoError(w, http.StatusNotFound, "RouteNotFoundException",
			fmt.Sprintf("TF400898: No route matches %s %s.", r.Method, r.URL.Path))
		return
	}
	if !s.adoAuth(w, r) || s.fault(w, r, true) {
		return
	}
	h(w, r)
}

func (s *Sim) serveARM(w http.ResponseWriter, r *http.Request, seg []string) {
	name, h := s.armRoute(r.Method, seg)
	s.count(name)
	if h == nil {
		armError(w, http.StatusNotFound, "InvalidResourceType",
			fmt.Sprintf("The resource type could not be found for %s %s.", r.Method, r.URL.Path))
		return
	}
	if !s.armAuth(w, r) || s.fault(w, r, false) {
		return
	}
	h(w, r)
}
