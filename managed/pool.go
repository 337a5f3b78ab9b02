package managed

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/poolbot/poolbot/pool"
)

// KindManaged is pool.Pool.Kind for a Managed DevOps Pool.
const KindManaged = "managed"

func (c *Client) now() time.Time {
	if c.o.Now != nil {
		return c.o.Now()
	}
	return time.Now()
}

func (c *Client) toPool(r resource) pool.Pool {
	props := obj(r, "properties")
	_, standby, says := standbyOf(r, c.now())
	p := pool.Pool{
		Name:       str(r, "name"),
		Kind:       KindManaged,
		StandbyBy:  says,
		OS:         pool.Linux,
		Max:        num(props, "maximumConcurrency"),
		Standby:    standby,
		ScaleSetID: str(r, "id"),
		Queue:      -1,
	}
	switch strings.ToLower(str(props, "provisioningState")) {
	case "succeeded":
		p.State = pool.StateOnline
	case "failed", "canceled":
		p.State = pool.StateUnhealthy
	default:
		p.State = pool.StateNew
	}
	ap := obj(props, "agentProfile")
	p.Recycle = !strings.EqualFold(str(ap, "kind"), "Stateful")
	if !p.Recycle {
		p.TTLMinutes = minutes(str(ap, "gracePeriodTimeSpan"))
	}
	img := firstImage(props)
	if strings.Contains(strings.ToLower(img.String()), "windows") || strings.Contains(strings.ToLower(img.String()), "win") {
		p.OS = pool.Windows
	}
	ss := &pool.ScaleSet{ID: p.ScaleSetID, Name: p.Name, Region: str(r, "location"), SKU: str(props, "fabricProfile", "sku", "name"),
		Image: img, Tags: map[string]string{}}
	if rid, err := arm.ParseResourceID(p.ScaleSetID); err == nil {
		ss.Subscription, ss.ResourceGroup = rid.SubscriptionID, rid.ResourceGroupName
	}
	for k, v := range obj(r, "tags") {
		if s, ok := v.(string); ok {
			ss.Tags[k] = s
		}
	}
	p.ScaleSet = ss
	return p
}

// minutes reads a TimeSpan "[d.]hh:mm:ss" as whole minutes.
func minutes(span string) int {
	if span == "" {
		return 0
	}
	days := 0
	if d, rest, ok := strings.Cut(span, "."); ok && !strings.Contains(d, ":") {
		days, _ = strconv.Atoi(d)
		span = rest
	}
	secs, err := hms(span)
	if err != nil {
		return 0
	}
	return days*24*60 + secs/60
}

func timeSpan(mins int) string {
	d, h, m := mins/(24*60), (mins/60)%24, mins%60
	if d > 0 {
		return fmt.Sprintf("%d.%02d:%02d:00", d, h, m)
	}
	return fmt.Sprintf("%02d:%02d:00", h, m)
}

func firstImage(props map[string]any) pool.Image {
	imgs, _ := at(props, "fabricProfile", "images").([]any)
	if len(imgs) == 0 {
		return pool.Image{}
	}
	im, _ := asMap(imgs[0])
	if id := str(im, "resourceId"); id != "" {
		if strings.HasPrefix(strings.ToLower(id), "/subscriptions/") {
			return pool.Image{ID: id}
		}
		if p := strings.Split(strings.Trim(id, "/"), "/"); len(p) == 4 {
			return pool.Image{Publisher: p[0], Offer: p[1], SKU: p[2], Version: p[3]}
		}
		return pool.Image{ID: id}
	}
	return pool.Image{ID: str(im, "wellKnownImageName")}
}

// Update changes max (maximumConcurrency), standby (a Manual all-week
// scheme), ttl (a stateful pool's grace period) and recycle (stateless
// agents), and returns the pool as changed. It reads the pool's resource
// first: the merge patch is made against it, and a standby the service owns
// is refused (see Owner). cur names the pool; its ScaleSetID, when it is a
// managed pool's, saves looking the name up.
func (c *Client) Update(ctx context.Context, cur pool.Pool, s pool.Settings) (pool.Pool, error) {
	name := cur.Name
	t := target{op: "update pool", pool: name, write: true}
	id := cur.ScaleSetID
	if cur.Kind != KindManaged || id == "" {
		var err error
		if id, err = c.poolID(ctx, name); err != nil {
			return pool.Pool{}, translate(t, err)
		}
	}
	old, err := c.get(ctx, id)
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	t.region, t.sku = str(old, "location"), str(old, "properties", "fabricProfile", "sku", "name")
	cur = c.toPool(old)
	next := s.Apply(cur)
	switch {
	case next.Max < 1 || next.Max > 10000:
		return pool.Pool{}, &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name, Msg: fmt.Sprintf("max must be from 1 to 10000 agents, not %d", next.Max)}
	case next.Standby < 0:
		return pool.Pool{}, &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name, Msg: fmt.Sprintf("standby must be 0 or more, not %d", next.Standby)}
	case next.Standby > next.Max && (s.Standby != nil || cur.StandbyBy == "poolbot"):
		return pool.Pool{}, &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name, Msg: fmt.Sprintf("standby (%d) cannot be more than max (%d)", next.Standby, next.Max)}
	case next.TTLMinutes < 0:
		return pool.Pool{}, &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name, Msg: fmt.Sprintf("ttl must be 0 minutes or more, not %d", next.TTLMinutes)}
	case s.TTLMinutes != nil && next.Recycle && *s.TTLMinutes != cur.TTLMinutes:
		return pool.Pool{}, &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name,
			Msg: "ttl is the grace period of a stateful managed pool; this pool is stateless (recycle=true): set recycle=false too"}
	}
	nr := deepCopy(old)
	props := obj(nr, "properties")
	if s.Max != nil {
		props["maximumConcurrency"] = float64(next.Max)
	}
	ap := obj(props, "agentProfile")
	if s.Standby != nil {
		owner, holds, says := standbyOf(old, c.now())
		switch {
		case owner == OwnerSchedule && *s.Standby == holds:
			// The schedule asks for what its daysData week holds now.
			s.Standby = nil
		case owner == OwnerSchedule || owner == OwnerAutomatic:
			return pool.Pool{}, &pool.Error{Kind: pool.KindConflict, Op: t.op, Pool: name,
				Msg: fmt.Sprintf("standby is set by %s; change the pool's schedule to take it back", says)}
		case owner == OwnerForeign && (c.o.Claimed == nil || !c.o.Claimed(name)):
			return pool.Pool{}, &pool.Error{Kind: pool.KindConflict, Op: t.op, Pool: name,
				Msg: fmt.Sprintf("standby is set by %s, which poolbot would overwrite; name the pool in a poolbot schedule to let poolbot own its standby", says)}
		}
		if s.Standby != nil {
			ap = agentProfileFor(ap, Scheme{Standby: next.Standby})
			setTag(nr, standbyTag, "manual")
		}
	}
	if s.Recycle != nil || s.TTLMinutes != nil {
		ap = deepCopy(ap)
		if next.Recycle {
			ap["kind"] = "Stateless"
			delete(ap, "gracePeriodTimeSpan")
			delete(ap, "maxAgentLifetime")
		} else {
			ap["kind"] = "Stateful"
			ap["gracePeriodTimeSpan"] = timeSpan(next.TTLMinutes)
			if str(ap, "maxAgentLifetime") == "" {
				ap["maxAgentLifetime"] = "7.00:00:00"
			}
		}
	}
	if ap != nil {
		props["agentProfile"] = ap
	}
	body := patchBody(old, nr)
	if len(body) == 0 {
		return cur, nil
	}
	r, err := c.patch(ctx, id, body)
	if err != nil {
		return pool.Pool{}, translate(t, err)
	}
	return c.toPool(r), nil
}

// patchBody is the merge patch of the parts poolbot writes.
func patchBody(old, nr resource) map[string]any {
	body := map[string]any{}
	if d := diff(obj(old, "properties"), obj(nr, "properties")); len(d) > 0 {
		body["properties"] = d
	}
	if d := diff(obj(old, "tags"), obj(nr, "tags")); len(d) > 0 {
		// ARM replaces tags as a whole.
		body["tags"] = obj(nr, "tags")
	}
	return body
}

func setTag(r resource, k, v string) {
	tags := obj(r, "tags")
	if tags == nil {
		tags = map[string]any{}
		r["tags"] = tags
	}
	tags[k] = v
}

// SetScheme writes a standby scheme: Manual with a value (poolbot owns
// standby), a daysData week or Automatic (the service owns it). A scheme
// another tool wrote is overwritten only when the pool is claimed.
func (c *Client) SetScheme(ctx context.Context, name string, sc Scheme) error {
	t := target{op: "set standby scheme", pool: name, write: true}
	if sc.Automatic {
		ok := false
		for _, p := range Preferences {
			if strings.EqualFold(p, sc.Preference) {
				sc.Preference, ok = p, true
			}
		}
		if !ok {
			return &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name,
				Msg: fmt.Sprintf("prediction preference %q is not one of %s", sc.Preference, strings.Join(Preferences, ", "))}
		}
	}
	id, err := c.poolID(ctx, name)
	if err != nil {
		return translate(t, err)
	}
	old, err := c.get(ctx, id)
	if err != nil {
		return translate(t, err)
	}
	if m := num(old, "properties", "maximumConcurrency"); sc.maxDays() > m {
		return &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name, Msg: fmt.Sprintf("the scheme asks for %d standby agents, more than max (%d)", sc.maxDays(), m)}
	}
	owner, _, says := standbyOf(old, c.now())
	if owner == OwnerForeign && (c.o.Claimed == nil || !c.o.Claimed(name)) {
		return &pool.Error{Kind: pool.KindConflict, Op: t.op, Pool: name,
			Msg: fmt.Sprintf("standby is set by %s, which poolbot would overwrite; name the pool in a poolbot schedule to let poolbot own its standby", says)}
	}
	nr := deepCopy(old)
	props := obj(nr, "properties")
	props["agentProfile"] = agentProfileFor(obj(props, "agentProfile"), sc)
	setTag(nr, standbyTag, sc.tag())
	body := patchBody(old, nr)
	if len(body) == 0 {
		return nil
	}
	_, err = c.patch(ctx, id, body)
	return translate(t, err)
}

// SetImage sets the pool's first image (fabricProfile.images[0]), keeping
// its other fields (aliases, buffer); a gallery image without a version,
// or "latest", is resolved to its newest version through imageVersions.
func (c *Client) SetImage(ctx context.Context, name string, img pool.Image) (before, after pool.Image, err error) {
	t := target{op: "set image", pool: name, write: true}
	id, err := c.poolID(ctx, name)
	if err != nil {
		return before, after, translate(t, err)
	}
	old, err := c.get(ctx, id)
	if err != nil {
		return before, after, translate(t, err)
	}
	t.region, t.sku = str(old, "location"), str(old, "properties", "fabricProfile", "sku", "name")
	before = firstImage(obj(old, "properties"))
	if after, err = c.resolve(ctx, img); err != nil {
		return before, after, translate(t, err)
	}
	nr := deepCopy(old)
	fp := obj(nr, "properties", "fabricProfile")
	if fp == nil {
		return before, after, &pool.Error{Kind: pool.KindInvalid, Op: t.op, Pool: name, Msg: "the pool has no fabricProfile to set an image in"}
	}
	imgs, _ := fp["images"].([]any)
	first := map[string]any{}
	if len(imgs) > 0 {
		first, _ = asMap(imgs[0])
	} else {
		imgs = []any{first}
	}
	delete(first, "wellKnownImageName")
	delete(first, "resourceId")
	switch {
	case after.ID != "" && !strings.HasPrefix(after.ID, "/"):
		first["wellKnownImageName"] = after.ID
	case after.ID != "":
		first["resourceId"] = after.ID
	default:
		first["resourceId"] = "/" + after.Publisher + "/" + after.Offer + "/" + after.SKU + "/" + after.Version
	}
	imgs[0] = first
	fp["images"] = imgs
	if _, err := c.patch(ctx, id, patchBody(old, nr)); err != nil {
		return before, after, translate(t, err)
	}
	return before, after, nil
}

func (c *Client) resolve(ctx context.Context, img pool.Image) (pool.Image, error) {
	rid, err := arm.ParseResourceID(img.ID)
	if img.ID == "" || err != nil || !strings.EqualFold(rid.ResourceType.Type, "galleries/images") && !strings.EqualFold(rid.ResourceType.Type, "galleries/images/versions") {
		return img, nil
	}
	base := img.ID
	if strings.EqualFold(rid.ResourceType.Type, "galleries/images/versions") {
		if !strings.EqualFold(rid.Name, "latest") {
			return img, nil
		}
		base = rid.Parent.String()
		rid = rid.Parent
	}
	u := c.url(fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.DevOpsInfrastructure/images/%s/versions",
		rid.SubscriptionID, rid.ResourceGroupName, rid.Name), nil)
	newest := ""
	for u != "" {
		resp, err := c.do(ctx, http.MethodGet, u, nil, http.StatusOK)
		if err != nil {
			return img, err
		}
		var page struct {
			Value    []struct{ Name string } `json:"value"`
			NextLink *string                 `json:"nextLink"`
		}
		if err := runtime.UnmarshalAsJSON(resp, &page); err != nil {
			return img, err
		}
		for _, v := range page.Value {
			if newest == "" || newer(v.Name, newest) {
				newest = v.Name
			}
		}
		u = deref(page.NextLink)
	}
	if newest == "" {
		return img, &pool.Error{Kind: pool.KindNotFound, Msg: fmt.Sprintf("the image %s has no versions", rid.Name)}
	}
	return pool.Image{ID: base + "/versions/" + newest}, nil
}

// newer compares dotted versions numerically.
func newer(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x > y
		}
	}
	return len(pa) > len(pb)
}

// Usage is one VM family's Managed DevOps Pools quota in a region.
type Usage struct {
	Family  string // e.g. standardDADSv5Family
	Label   string
	Current int // vCPUs in use
	Limit   int
}

// Usages reads the subscription's Managed DevOps Pools quota in a region.
func (c *Client) Usages(ctx context.Context, subscription, region string) ([]Usage, error) {
	t := target{op: "read quota", region: region}
	u := c.url(fmt.Sprintf("/subscriptions/%s/providers/Microsoft.DevOpsInfrastructure/locations/%s/usages", subscription, region), nil)
	var out []Usage
	for u != "" {
		resp, err := c.do(ctx, http.MethodGet, u, nil, http.StatusOK)
		if err != nil {
			return nil, translate(t, err)
		}
		var page struct {
			Value []struct {
				Name struct {
					Value          string `json:"value"`
					LocalizedValue string `json:"localizedValue"`
				} `json:"name"`
				CurrentValue int `json:"currentValue"`
				Limit        int `json:"limit"`
			} `json:"value"`
			NextLink *string `json:"nextLink"`
		}
		if err := runtime.UnmarshalAsJSON(resp, &page); err != nil {
			return nil, translate(t, err)
		}
		for _, v := range page.Value {
			out = append(out, Usage{Family: v.Name.Value, Label: v.Name.LocalizedValue, Current: v.CurrentValue, Limit: v.Limit})
		}
		u = deref(page.NextLink)
	}
	return out, nil
}

// Create makes a pool from a full resource body and waits for it.
func (c *Client) CreateResource(ctx context.Context, id string, body map[string]any) error {
	rid, err := ParsePoolID(id)
	if err != nil {
		return &pool.Error{Kind: pool.KindInvalid, Op: "create managed pool", Msg: err.Error()}
	}
	t := target{op: "create managed pool", pool: rid.Name, write: true, region: str(body, "location"),
		sku: str(body, "properties", "fabricProfile", "sku", "name")}
	if _, err := c.get(ctx, id); err == nil {
		return &pool.Error{Kind: pool.KindConflict, Op: t.op, Pool: rid.Name, Msg: "a Managed DevOps Pool with that resource id already exists"}
	}
	if _, err := c.put(ctx, id, body); err != nil {
		return translate(t, err)
	}
	c.mu.Lock()
	c.byKey[strings.ToLower(rid.Name)] = rid.String()
	c.mu.Unlock()
	return nil
}
