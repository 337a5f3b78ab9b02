package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

const mdpProvider = "Microsoft.DevOpsInfrastructure"

// managedRoute serves Microsoft.DevOpsInfrastructure under a subscription;
// rest is the path after /subscriptions/{sub}.
func (s *Sim) managedRoute(method string, rest []string) (string, handler) {
	get := method == http.MethodGet
	switch {
	case eq(rest, "providers", mdpProvider, "locations", "*", "usages") && get:
		return "mdp.usages", func(w http.ResponseWriter, r *http.Request) { s.mdpUsages(w, r, rest[3]) }
	case eq(rest, "providers", mdpProvider, "locations", "*", "operationStatuses", "*") && get:
		return "mdp.operation", func(w http.ResponseWriter, r *http.Request) { s.mdpOperation(w, r, rest[5]) }
	case eq(rest, "providers", mdpProvider, "pools") && get:
		return "mdp.pools.list", s.mdpList
	}
	if len(rest) < 4 || !strings.EqualFold(rest[0], "resourceGroups") || !eq(rest[2:4], "providers", mdpProvider) {
		return "", nil
	}
	if !strings.EqualFold(rest[1], ResourceGroup) {
		return "mdp.resourcegroup", func(w http.ResponseWriter, r *http.Request) {
			armError(w, http.StatusNotFound, "ResourceGroupNotFound", fmt.Sprintf("Resource group '%s' could not be found.", rest[1]))
		}
	}
	rest = rest[4:]
	switch {
	case eq(rest, "pools") && get:
		return "mdp.pools.list", s.mdpList
	case eq(rest, "pools", "*") && get:
		return "mdp.pools.get", func(w http.ResponseWriter, r *http.Request) { s.mdpGet(w, r, rest[1]) }
	case eq(rest, "pools", "*") && method == http.MethodPut:
		return "mdp.pools.put", func(w http.ResponseWriter, r *http.Request) { s.mdpPut(w, r, rest[1], false) }
	case eq(rest, "pools", "*") && method == http.MethodPatch:
		return "mdp.pools.patch", func(w http.ResponseWriter, r *http.Request) { s.mdpPut(w, r, rest[1], true) }
	case eq(rest, "pools", "*", "providers", "Microsoft.Insights", "metrics") && get:
		return "mdp.metrics", func(w http.ResponseWriter, r *http.Request) { s.mdpMetrics(w, r, rest[1]) }
	case eq(rest, "pools", "*", "resources") && get:
		return "mdp.resources", func(w http.ResponseWriter, r *http.Request) { s.mdpResources(w, r, rest[1]) }
	case eq(rest, "images", "*", "versions") && get:
		return "mdp.imageversions", func(w http.ResponseWriter, r *http.Request) { s.mdpImageVersions(w, r, rest[1]) }
	}
	return "mdp.unknown", nil
}

// ManagedPoolID is a simulated managed pool's resource id.
func ManagedPoolID(name string) string {
	return "/subscriptions/" + Subscription + "/resourceGroups/" + ResourceGroup + "/providers/" + mdpProvider + "/pools/" + name
}

func (s *Sim) mdpResource(p *mpool) map[string]any {
	out := clone(p.res)
	out["id"] = ManagedPoolID(p.name)
	out["name"] = p.name
	out["type"] = mdpProvider + "/pools"
	return out
}

func mdpNotFound(w http.ResponseWriter, name string) {
	armError(w, http.StatusNotFound, "ResourceNotFound",
		fmt.Sprintf("The Resource '%s/pools/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", mdpProvider, name, ResourceGroup))
}

func (s *Sim) mdpList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.mdp()
	names := make([]string, 0, len(st.pools))
	for k := range st.pools {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]any, len(names))
	for i, k := range names {
		out[i] = s.mdpResource(st.pools[k])
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (s *Sim) mdpGet(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	p := s.mdp().pools[strings.ToLower(name)]
	var out map[string]any
	if p != nil {
		out = s.mdpResource(p)
	}
	s.mu.Unlock()
	if p == nil {
		mdpNotFound(w, name)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// mdpPut creates or replaces (PUT) or patches (PATCH) a pool. Bad input is
// refused at once with the service's code and changes nothing; an accepted
// change is a long-running operation that completes at the second poll.
func (s *Sim) mdpPut(w http.ResponseWriter, r *http.Request, name string, patch bool) {
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in == nil {
		armError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.mdp()
	p := st.pools[strings.ToLower(name)]
	if patch && p == nil {
		mdpNotFound(w, name)
		return
	}
	var res map[string]any
	if patch {
		res = clone(p.res)
		merge(res, in)
	} else {
		res = clone(in)
		delete(res, "id")
		delete(res, "name")
		delete(res, "type")
		delete(res, "systemData")
		if p != nil && !strings.EqualFold(pathString(res, "location"), pathString(p.res, "location")) {
			armError(w, http.StatusBadRequest, "LocationNotAllowed", "The location of an existing pool cannot be changed.")
			return
		}
	}
	if code, msg := s.mdpValidate(res); code != "" {
		s.count("mdp.refused:" + code)
		armError(w, http.StatusBadRequest, code, msg)
		return
	}
	props := pathMap(res, "properties")
	status := http.StatusOK
	if p == nil {
		st.ado++
		p = &mpool{name: name, adoID: 100000 + st.ado, jobs: 0, errors: map[string]int{}, rnd: uint64(len(name))*7919 + 1}
		st.pools[strings.ToLower(name)] = p
		props["provisioningState"] = "Provisioning"
		status = http.StatusCreated
	} else {
		props["provisioningState"] = "Updating"
	}
	p.res = res
	st.next++
	id := uuid.NewSHA1(uuid.NameSpaceOID, []byte("mdp"+strconv.Itoa(st.next))).String()
	st.ops[id] = &mop{id: id, pool: strings.ToLower(name)}
	op := fmt.Sprintf("%s/subscriptions/%s/providers/%s/locations/%s/operationStatuses/%s?api-version=%s",
		baseURL(r), Subscription, mdpProvider, pathString(res, "location"), id, url.QueryEscape(r.URL.Query().Get("api-version")))
	w.Header().Set("Azure-AsyncOperation", op)
	if patch {
		w.Header().Set("Location", op)
		status = http.StatusAccepted
		w.Header().Set("Retry-After", "0")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Retry-After", "0")
	writeJSON(w, status, s.mdpResource(p))
}

// mdpValidate checks a pool resource as the service does, returning its
// error code and message.
func (s *Sim) mdpValidate(res map[string]any) (code, msg string) {
	loc := strings.ToLower(pathString(res, "location"))
	props := pathMap(res, "properties")
	if loc == "" || props == nil {
		return "InvalidRequestContent", "location and properties are required."
	}
	max, ok := path(props, "maximumConcurrency").(float64)
	if !ok || max < 1 || max > 10000 || max != float64(int(max)) {
		return "InvalidRequestContent", "properties.maximumConcurrency must be an integer from 1 to 10000."
	}
	sku := pathString(props, "fabricProfile", "sku", "name")
	cores, known := mdpSKUs[strings.ToLower(sku)]
	if !known {
		return CodeSkuNotAvailable, fmt.Sprintf("The SKU '%s' is not available in location '%s'.", sku, loc)
	}
	imgs, _ := path(props, "fabricProfile", "images").([]any)
	if len(imgs) == 0 {
		return "InvalidRequestContent", "properties.fabricProfile.images must name at least one image."
	}
	for _, i := range imgs {
		im, _ := i.(map[string]any)
		if !s.mdpImageKnown(pathString(im, "wellKnownImageName"), pathString(im, "resourceId"), loc) {
			return CodeImageNotFound, fmt.Sprintf("The image '%s%s' was not found or is not available in location '%s'.",
				pathString(im, "wellKnownImageName"), pathString(im, "resourceId"), loc)
		}
	}
	fam, _ := mdpFamily(sku)
	limit, ok := s.mdp().quota[loc+"/"+fam]
	if !ok {
		limit = 5 // the service's default per VM family and region
	}
	if need := int(max) * cores; need > limit {
		return CodeExceedingQuota, fmt.Sprintf("The pool needs %d %s vCPUs in %s for %d agents of %s, but the subscription's Managed DevOps Pools quota is %d. Request more quota for Microsoft.DevOpsInfrastructure in this region.",
			need, fam, loc, int(max), sku, limit)
	}
	if preds := path(props, "agentProfile", "resourcePredictions"); preds != nil {
		if _, ok := DaysDataAt(preds, s.now); !ok {
			return "InvalidRequestContent", "properties.agentProfile.resourcePredictions: daysData must hold one day (all week) or seven (Sunday first) of \"HH:MM:SS\": count, in a known timeZone."
		}
	}
	return "", ""
}

func (s *Sim) mdpImageKnown(wellKnown, resourceID, region string) bool {
	switch {
	case wellKnown != "":
		base, _, _ := strings.Cut(wellKnown, "/")
		_, ok := wellKnownImages[strings.ToLower(base)]
		return ok
	case resourceID == "":
		return false
	case strings.HasPrefix(strings.ToLower(resourceID), "/subscriptions/"):
		if _, _, _, ok := parseGalleryID(resourceID); !ok {
			return false
		}
		return s.checkImage(imageRef{ID: resourceID}, region) == nil
	}
	// A marketplace image: /publisher/offer/sku/version.
	return len(strings.Split(strings.Trim(resourceID, "/"), "/")) == 4
}

func (s *Sim) mdpOperation(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.mdp()
	op := st.ops[id]
	if op == nil {
		armError(w, http.StatusNotFound, "NotFound", "The operation "+id+" was not found.")
		return
	}
	op.polls++
	out := map[string]any{"id": r.URL.Path, "name": id, "status": "InProgress"}
	// Ask to be polled again at once: the simulated change takes no real time.
	w.Header().Set("Retry-After-Ms", "10")
	if op.polls >= 2 {
		out["status"] = "Succeeded"
		if p := st.pools[op.pool]; p != nil {
			if f := p.fault; f == CodeClusterOutOfCapacity {
				op.failed = map[string]any{"code": f, "message": "The region has no capacity for the pool's agents right now; try again later or another region."}
			}
			state := "Succeeded"
			if op.failed != nil {
				state = "Failed"
				out["status"] = "Failed"
				out["error"] = op.failed
			}
			if props := pathMap(p.res, "properties"); props != nil {
				props["provisioningState"] = state
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) mdpResources(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	p := s.mdp().pools[strings.ToLower(name)]
	if p == nil {
		s.mu.Unlock()
		mdpNotFound(w, name)
		return
	}
	skip, _ := strconv.Atoi(r.URL.Query().Get("$skipToken"))
	skip = max(0, min(skip, len(p.agents)))
	end := min(skip+mdpPage, len(p.agents))
	value := make([]any, 0, end-skip)
	for _, a := range p.agents[skip:end] {
		value = append(value, map[string]any{
			"id":   ManagedPoolID(p.name) + "/resources/" + a.name,
			"name": a.name,
			"properties": map[string]any{
				"status": a.status, "image": a.image, "imageVersion": a.version,
			},
		})
	}
	total := len(p.agents)
	s.mu.Unlock()
	body := map[string]any{"value": value, "nextLink": nil}
	if end < total {
		q := r.URL.Query()
		q.Set("$skipToken", strconv.Itoa(end))
		body["nextLink"] = baseURL(r) + r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Sim) mdpUsages(w http.ResponseWriter, r *http.Request, region string) {
	s.mu.Lock()
	st := s.mdp()
	region = strings.ToLower(region)
	used := map[string]int{}
	for _, p := range st.pools {
		if !strings.EqualFold(pathString(p.res, "location"), region) {
			continue
		}
		fam, cores := mdpFamily(pathString(p.res, "properties", "fabricProfile", "sku", "name"))
		used[fam] += cores * len(p.agents)
	}
	fams := map[string]int{}
	for k, v := range st.quota {
		if reg, fam, _ := strings.Cut(k, "/"); reg == region {
			fams[fam] = v
		}
	}
	for fam := range used {
		if _, ok := fams[fam]; !ok {
			fams[fam] = 5
		}
	}
	s.mu.Unlock()
	names := make([]string, 0, len(fams))
	for f := range fams {
		names = append(names, f)
	}
	sort.Strings(names)
	value := make([]any, 0, len(names))
	for _, f := range names {
		value = append(value, map[string]any{
			"id":           fmt.Sprintf("/subscriptions/%s/providers/Microsoft.Compute/locations/%s/providers/%s/Usages/%s", Subscription, region, mdpProvider, f),
			"unit":         "Count",
			"currentValue": used[f],
			"limit":        fams[f],
			"name":         map[string]any{"value": f, "localizedValue": familyLabel(f) + " vCPUs (PME VMSS)"},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": value, "nextLink": nil})
}

// familyLabel turns "standardDADSv5Family" into "Standard DADSv5 Family".
func familyLabel(f string) string {
	f = strings.TrimSuffix(strings.TrimPrefix(f, "standard"), "Family")
	return "Standard " + f + " Family"
}

func (s *Sim) mdpImageVersions(w http.ResponseWriter, r *http.Request, image string) {
	s.mu.Lock()
	img := s.gallery[strings.ToLower(image)]
	var value []any
	if img != nil {
		for _, v := range sortedVersions(img) {
			value = append(value, map[string]any{
				"id":   fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/images/%s/versions/%s", Subscription, ResourceGroup, mdpProvider, img.name, v.name),
				"name": v.name,
			})
		}
	}
	s.mu.Unlock()
	if img == nil {
		armError(w, http.StatusNotFound, CodeImageNotFound, fmt.Sprintf("The image '%s' was not found.", image))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": value, "nextLink": nil})
}

// mdpMetrics answers Azure Monitor's metrics list for a pool: the Count of
// provisioning failures split by ErrorCode, in 5-minute buckets of the
// timespan ("start/end", default the last hour).
func (s *Sim) mdpMetrics(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	p := s.mdp().pools[strings.ToLower(name)]
	now := s.now
	var fails []mfail
	if p != nil {
		fails = append(fails, p.fails...)
	}
	s.mu.Unlock()
	if p == nil {
		mdpNotFound(w, name)
		return
	}
	from, to := now.Add(-time.Hour), now
	if a, b, ok := strings.Cut(r.URL.Query().Get("timespan"), "/"); ok {
		if t, err := time.Parse(time.RFC3339, a); err == nil {
			from = t
		}
		if t, err := time.Parse(time.RFC3339, b); err == nil {
			to = t
		}
	}
	const bucket = 5 * time.Minute
	byCode := map[string]map[time.Time]int{}
	for _, f := range fails {
		if f.at.Before(from) || !f.at.Before(to) {
			continue
		}
		if byCode[f.code] == nil {
			byCode[f.code] = map[time.Time]int{}
		}
		byCode[f.code][f.at.Truncate(bucket)]++
	}
	codes := make([]string, 0, len(byCode))
	for c := range byCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	series := []any{}
	for _, c := range codes {
		var data []any
		for t := from.Truncate(bucket); t.Before(to); t = t.Add(bucket) {
			data = append(data, map[string]any{"timeStamp": t.UTC().Format(time.RFC3339), "total": float64(byCode[c][t])})
		}
		series = append(series, map[string]any{
			"metadatavalues": []any{map[string]any{"name": map[string]any{"value": "errorcode", "localizedValue": "ErrorCode"}, "value": c}},
			"data":           data,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"cost": 0, "timespan": from.UTC().Format(time.RFC3339) + "/" + to.UTC().Format(time.RFC3339), "interval": "PT5M",
		"namespace": mdpProvider + "/pools", "resourceregion": pathString(p.res, "location"),
		"value": []any{map[string]any{
			"id":   ManagedPoolID(p.name) + "/providers/Microsoft.Insights/metrics/Count",
			"type": "Microsoft.Insights/metrics", "unit": "Count",
			"name":       map[string]any{"value": "Count", "localizedValue": "Count"},
			"timeseries": series,
		}},
	})
}
