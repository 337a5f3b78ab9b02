package sim

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/costmanagement/armcostmanagement"
	"github.com/google/uuid"
)

// DefaultCostPageSize is how many rows a Cost Management query answer holds
// at most, as Azure answers (the rest behind properties.nextLink).
const DefaultCostPageSize = 1000

// costQuery serves the Cost Management Query API (QueryClient.Usage): rows
// of Cost, UsageDate (yyyymmdd, with Daily granularity), ResourceId (when
// grouped by it) and Currency, from the simulator's accrued cost, filtered by
// ResourceId dimensions (matched case-insensitively; ids come back lower-case
// as the real service returns them).
//
// Answers are paged as Azure pages them: at most Options.CostPageSize rows
// (or $top, if smaller), and properties.nextLink the same URL with an opaque
// $skiptoken; the next page is a POST of the same query definition to it.
func (s *Sim) costQuery(w http.ResponseWriter, r *http.Request) {
	skip := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		n, ok := decodeSkipToken(tok)
		if !ok {
			armError(w, http.StatusBadRequest, "BadRequest", "Invalid query definition: the skiptoken is not valid.")
			return
		}
		skip = n
	}
	page := s.costPageSize()
	if top := r.URL.Query().Get("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 {
			armError(w, http.StatusBadRequest, "BadRequest", "Invalid query definition: $top must be a positive number.")
			return
		}
		page = min(page, n)
	}
	var q armcostmanagement.QueryDefinition
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		armError(w, http.StatusBadRequest, "BadRequest", "Invalid query definition: "+err.Error())
		return
	}
	scope := strings.TrimSuffix(strings.ToLower("/"+strings.TrimLeft(r.URL.Path, "/")), "/providers/microsoft.costmanagement/query")
	s.mu.Lock()
	now := s.now.Add(-s.costLag).UTC()
	s.mu.Unlock()
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	today := day(now)
	var from, to time.Time
	switch tf := string(deref(q.Timeframe, "")); strings.ToLower(tf) {
	case "monthtodate", "billingmonthtodate":
		from, to = today.AddDate(0, 0, 1-today.Day()), today
	case "weektodate":
		off := (int(today.Weekday()) + 6) % 7
		from, to = today.AddDate(0, 0, -off), today
	case "thelastmonth", "thelastbillingmonth":
		first := today.AddDate(0, 0, 1-today.Day())
		from, to = first.AddDate(0, -1, 0), first.AddDate(0, 0, -1)
	case "custom":
		if q.TimePeriod == nil || q.TimePeriod.From == nil || q.TimePeriod.To == nil {
			armError(w, http.StatusBadRequest, "BadRequest", "Invalid query definition: timePeriod is required for timeframe Custom.")
			return
		}
		from, to = day(q.TimePeriod.From.UTC()), day(q.TimePeriod.To.UTC())
	default:
		armError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid query definition: timeframe %q is not supported.", tf))
		return
	}
	if to.After(today) {
		to = today
	}
	daily, grouped := false, false
	var ids map[string]bool
	if d := q.Dataset; d != nil {
		daily = d.Granularity != nil && strings.EqualFold(string(*d.Granularity), "Daily")
		for _, g := range d.Grouping {
			if g != nil && g.Name != nil && strings.EqualFold(*g.Name, "ResourceId") {
				grouped = true
			}
		}
		if d.Filter != nil {
			ids = map[string]bool{}
			collectResourceIDs(d.Filter, ids)
			if len(ids) == 0 {
				ids = nil
			}
		}
	}
	type key struct {
		date int
		id   string
	}
	sums := map[key]float64{}
	s.mu.Lock()
	type accrued struct {
		id    string
		byDay map[string]float64
	}
	var all []accrued
	for _, p := range s.pools {
		all = append(all, accrued{strings.ToLower(scaleSetID(p.ss.name)), p.costByDay})
	}
	for _, p := range s.managedCosts() {
		all = append(all, accrued{strings.ToLower(ManagedPoolID(p.name)), p.costByDay})
	}
	for _, p := range all {
		id := p.id
		if !strings.HasPrefix(id, scope+"/") || (ids != nil && !ids[id]) {
			continue
		}
		for d, c := range p.byDay {
			t, _ := time.Parse("2006-01-02", d)
			if t.Before(from) || t.After(to) {
				continue
			}
			k := key{}
			if daily {
				k.date, _ = strconv.Atoi(t.Format("20060102"))
			}
			if grouped {
				k.id = id
			}
			sums[k] += c
		}
	}
	s.mu.Unlock()
	keys := make([]key, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].date != keys[j].date {
			return keys[i].date < keys[j].date
		}
		return keys[i].id < keys[j].id
	})
	cols := []*armcostmanagement.QueryColumn{{Name: ptr("Cost"), Type: ptr("Number")}}
	if daily {
		cols = append(cols, &armcostmanagement.QueryColumn{Name: ptr("UsageDate"), Type: ptr("Number")})
	}
	if grouped {
		cols = append(cols, &armcostmanagement.QueryColumn{Name: ptr("ResourceId"), Type: ptr("String")})
	}
	cols = append(cols, &armcostmanagement.QueryColumn{Name: ptr("Currency"), Type: ptr("String")})
	end := min(skip+page, len(keys))
	rows := make([][]any, 0, max(end-skip, 0))
	for i := skip; i < end; i++ {
		k := keys[i]
		row := []any{sums[k]}
		if daily {
			row = append(row, k.date)
		}
		if grouped {
			row = append(row, k.id)
		}
		rows = append(rows, append(row, "USD"))
	}
	var next *string
	if end < len(keys) {
		next = ptr(nextCostLink(r, end))
	}
	id := uuid.NewString()
	writeJSON(w, http.StatusOK, armcostmanagement.QueryResult{
		ID:   ptr(scope + "/providers/Microsoft.CostManagement/query/" + id),
		Name: ptr(id), Type: ptr("Microsoft.CostManagement/query"),
		Properties: &armcostmanagement.QueryProperties{Columns: cols, Rows: rows, NextLink: next},
	})
}

func (s *Sim) costPageSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.costPage > 0 {
		return s.costPage
	}
	return DefaultCostPageSize
}

// nextCostLink is the request's URL with $skiptoken set to resume at row
// offset, written as Azure writes it ("$skiptoken=AQAAAA%3D%3D").
func nextCostLink(r *http.Request, offset int) string {
	var keep []string
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		if k, _, _ := strings.Cut(kv, "="); kv != "" && !strings.EqualFold(k, "$skiptoken") && !strings.EqualFold(k, "%24skiptoken") {
			keep = append(keep, kv)
		}
	}
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(offset))
	keep = append(keep, "$skiptoken="+url.QueryEscape(base64.StdEncoding.EncodeToString(b)))
	return baseURL(r) + r.URL.EscapedPath() + "?" + strings.Join(keep, "&")
}

func decodeSkipToken(tok string) (int, bool) {
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(b) != 4 {
		return 0, false
	}
	n := binary.LittleEndian.Uint32(b)
	return int(n), n <= math.MaxInt32
}

// AddCost records usd as accrued by the named pool's scale set on day
// (YYYY-MM-DD, UTC), as if its VMs had run then: long histories for tests
// and demos without simulating every minute.
func (s *Sim) AddCost(name, day string, usd float64) error {
	if _, err := time.Parse("2006-01-02", day); err != nil {
		return fmt.Errorf("add cost: day %q is not YYYY-MM-DD", day)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[strings.ToLower(name)]
	if p == nil {
		return fmt.Errorf("add cost: no pool %q", name)
	}
	p.costByDay[day] += usd
	return nil
}

func collectResourceIDs(f *armcostmanagement.QueryFilter, ids map[string]bool) {
	if f == nil {
		return
	}
	if d := f.Dimensions; d != nil && d.Name != nil && strings.EqualFold(*d.Name, "ResourceId") {
		for _, v := range d.Values {
			if v != nil {
				ids[strings.ToLower(*v)] = true
			}
		}
	}
	for _, g := range f.And {
		collectResourceIDs(g, ids)
	}
	for _, g := range f.Or {
		collectResourceIDs(g, ids)
	}
}

// priceItem is one item of the Azure Retail Prices API.
type priceItem struct {
	CurrencyCode         string  `json:"currencyCode"`
	TierMinimumUnits     float64 `json:"tierMinimumUnits"`
	ReservationTerm      string  `json:"reservationTerm,omitempty"`
	RetailPrice          float64 `json:"retailPrice"`
	UnitPrice            float64 `json:"unitPrice"`
	ArmRegionName        string  `json:"armRegionName"`
	Location             string  `json:"location"`
	EffectiveStartDate   string  `json:"effectiveStartDate"`
	MeterID              string  `json:"meterId"`
	MeterName            string  `json:"meterName"`
	ProductID            string  `json:"productId"`
	SkuID                string  `json:"skuId"`
	ProductName          string  `json:"productName"`
	SkuName              string  `json:"skuName"`
	ServiceName          string  `json:"serviceName"`
	ServiceID            string  `json:"serviceId"`
	ServiceFamily        string  `json:"serviceFamily"`
	UnitOfMeasure        string  `json:"unitOfMeasure"`
	Type                 string  `json:"type"`
	IsPrimaryMeterRegion bool    `json:"isPrimaryMeterRegion"`
	ArmSkuName           string  `json:"armSkuName"`
}

type catalogSKU struct {
	arm, meter, series string
	linux, windows     float64
}

// The seeded SKUs carry the prices the simulator charges; the others fill
// the catalog so that paging happens.
var catalogSKUs = []catalogSKU{
	{"Standard_D2s_v5", "D2s v5", "Dsv5", 0.096, 0.188},
	{"Standard_D4s_v5", "D4s v5", "Dsv5", 0.192, 0.376},
	{"Standard_NC4as_T4_v3", "NC4as T4 v3", "NCasT4_v3", 0.526, 0.710},
	{"Standard_D8s_v5", "D8s v5", "Dsv5", 0.384, 0.752},
	{"Standard_D16s_v5", "D16s v5", "Dsv5", 0.768, 1.504},
	{"Standard_D2as_v5", "D2as v5", "Dasv5", 0.086, 0.178},
	{"Standard_D4as_v5", "D4as v5", "Dasv5", 0.172, 0.356},
	{"Standard_E4s_v5", "E4s v5", "Esv5", 0.252, 0.436},
	{"Standard_F4s_v2", "F4s v2", "FSv2", 0.169, 0.353},
	{"Standard_B2s", "B2s", "BS", 0.0416, 0.0496},
	{"Standard_NC8as_T4_v3", "NC8as T4 v3", "NCasT4_v3", 0.752, 1.120},
}

var regionNames = map[string]string{"westeurope": "EU West", "eastus": "US East"}

func priceCatalog() []priceItem {
	var out []priceItem
	for _, region := range []string{"westeurope", "eastus"} {
		for _, c := range catalogSKUs {
			for _, os := range []string{"", " Windows"} {
				price := c.linux
				if os != "" {
					price = c.windows
				}
				for _, kind := range []struct {
					suffix string
					factor float64
				}{{"", 1}, {" Spot", 0.2}, {" Low Priority", 0.2}} {
					out = append(out, priceItem{
						CurrencyCode: "USD", RetailPrice: price * kind.factor, UnitPrice: price * kind.factor,
						ArmRegionName: region, Location: regionNames[region], EffectiveStartDate: "2024-01-01T00:00:00Z",
						MeterID:   fmt.Sprintf("%08x-0000-4000-8000-%012x", len(out)+1, len(out)+1),
						MeterName: c.meter + kind.suffix, ProductID: "DZH318Z0" + strings.ToUpper(c.series),
						SkuID: "DZH318Z0" + strings.ToUpper(c.series) + "/" + strconv.Itoa(len(out)), ProductName: "Virtual Machines " + c.series + " Series" + os,
						SkuName: c.meter + kind.suffix, ServiceName: "Virtual Machines", ServiceID: "DZH313Z7MMC8",
						ServiceFamily: "Compute", UnitOfMeasure: "1 Hour", Type: "Consumption", IsPrimaryMeterRegion: true, ArmSkuName: c.arm,
					})
				}
			}
			// A one-year reservation, which a pay-as-you-go estimate must skip.
			out = append(out, priceItem{
				CurrencyCode: "USD", ReservationTerm: "1 Year", RetailPrice: c.linux * 0.6 * 8760, UnitPrice: c.linux * 0.6 * 8760,
				ArmRegionName: region, Location: regionNames[region], EffectiveStartDate: "2024-01-01T00:00:00Z",
				MeterID: fmt.Sprintf("%08x-0000-4000-8000-%012x", len(out)+1, len(out)+1), MeterName: c.meter,
				ProductID: "DZH318Z0" + strings.ToUpper(c.series), SkuID: "DZH318Z0" + strings.ToUpper(c.series) + "/R" + strconv.Itoa(len(out)),
				ProductName: "Virtual Machines " + c.series + " Series", SkuName: c.meter, ServiceName: "Virtual Machines",
				ServiceID: "DZH313Z7MMC8", ServiceFamily: "Compute", UnitOfMeasure: "1 Hour", Type: "Reservation",
				IsPrimaryMeterRegion: true, ArmSkuName: c.arm,
			})
		}
	}
	return out
}

var catalog = priceCatalog()

const pricesPage = 100

// servePrices serves GET /api/retail/prices?$filter=…: clauses
// "field eq 'value'", "contains(field, 'value')" and "startswith(field,
// 'value')" joined by "and" (or "or" inside parentheses); values compare
// case-sensitively from api-version 2023-01-01-preview on, as the real API
// does, and case-insensitively before. 100 items a page, NextPageLink with
// $skip.
func (s *Sim) servePrices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sensitive := q.Get("api-version") >= "2023-01-01-preview"
	match, err := parseFilter(q.Get("$filter"), sensitive)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"Error": map[string]string{"Code": "BadRequest", "Message": "Invalid OData parameters supplied: " + err.Error()}})
		return
	}
	var all []priceItem
	for _, it := range catalog {
		if match(it) {
			all = append(all, it)
		}
	}
	skip, _ := strconv.Atoi(q.Get("$skip"))
	skip = max(skip, 0)
	end := min(skip+pricesPage, len(all))
	page := []priceItem{}
	if skip < len(all) {
		page = all[skip:end]
	}
	var next *string
	if end < len(all) {
		q.Set("$skip", strconv.Itoa(end))
		next = ptr(baseURL(r) + "/api/retail/prices?" + q.Encode())
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
		"Items": page, "NextPageLink": next, "Count": len(page),
	})
}

func itemField(it priceItem, f string) (string, bool) {
	switch strings.ToLower(f) {
	case "armskuname":
		return it.ArmSkuName, true
	case "armregionname":
		return it.ArmRegionName, true
	case "servicename":
		return it.ServiceName, true
	case "servicefamily":
		return it.ServiceFamily, true
	case "productname":
		return it.ProductName, true
	case "skuname":
		return it.SkuName, true
	case "metername":
		return it.MeterName, true
	case "pricetype", "type":
		return it.Type, true
	case "location":
		return it.Location, true
	case "currencycode":
		return it.CurrencyCode, true
	case "unitofmeasure":
		return it.UnitOfMeasure, true
	case "serviceid":
		return it.ServiceID, true
	}
	return "", false
}

// parseFilter compiles the subset of OData $filter the prices API is used with.
func parseFilter(f string, sensitive bool) (func(priceItem) bool, error) {
	f = strings.TrimSpace(f)
	if f == "" {
		return func(priceItem) bool { return true }, nil
	}
	// "and" binds tighter than "or".
	var ors [][]func(priceItem) bool
	for _, alt := range splitOutsideQuotes(f, " or ") {
		var ands []func(priceItem) bool
		for _, term := range splitOutsideQuotes(alt, " and ") {
			term = strings.TrimSpace(term)
			var m func(priceItem) bool
			var err error
			if wrapped(term) {
				m, err = parseFilter(term[1:len(term)-1], sensitive)
			} else {
				m, err = parseTerm(term, sensitive)
			}
			if err != nil {
				return nil, err
			}
			ands = append(ands, m)
		}
		ors = append(ors, ands)
	}
	return func(it priceItem) bool {
		for _, ands := range ors {
			all := true
			for _, m := range ands {
				all = all && m(it)
			}
			if all {
				return true
			}
		}
		return false
	}, nil
}

func parseTerm(t string, sensitive bool) (func(priceItem) bool, error) {
	norm := func(s string) string {
		if sensitive {
			return s
		}
		return strings.ToLower(s)
	}
	unquote := func(v string) (string, error) {
		v = strings.TrimSpace(v)
		if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			return "", fmt.Errorf("%s is not a quoted string", v)
		}
		return strings.ReplaceAll(v[1:len(v)-1], "''", "'"), nil
	}
	for _, fn := range []string{"contains(", "startswith(", "endswith("} {
		if len(t) <= len(fn) || !strings.EqualFold(t[:len(fn)], fn) || !strings.HasSuffix(t, ")") {
			continue
		}
		field, val, ok := strings.Cut(t[len(fn):len(t)-1], ",")
		if !ok {
			return nil, fmt.Errorf("bad %s)", fn)
		}
		v, err := unquote(val)
		if err != nil {
			return nil, err
		}
		field = strings.TrimSpace(field)
		if _, ok := itemField(priceItem{}, field); !ok {
			return nil, fmt.Errorf("unknown field %s", field)
		}
		op := map[string]func(string, string) bool{"contains(": strings.Contains, "startswith(": strings.HasPrefix, "endswith(": strings.HasSuffix}[fn]
		return func(it priceItem) bool { x, _ := itemField(it, field); return op(norm(x), norm(v)) }, nil
	}
	parts := strings.SplitN(t, " ", 3)
	if len(parts) != 3 || !strings.EqualFold(parts[1], "eq") && !strings.EqualFold(parts[1], "ne") {
		return nil, fmt.Errorf("cannot read %q", t)
	}
	field := parts[0]
	if _, ok := itemField(priceItem{}, field); !ok {
		return nil, fmt.Errorf("unknown field %s", field)
	}
	v, err := unquote(parts[2])
	if err != nil {
		return nil, err
	}
	neg := strings.EqualFold(parts[1], "ne")
	return func(it priceItem) bool { x, _ := itemField(it, field); return (norm(x) == norm(v)) != neg }, nil
}

// wrapped reports whether s is one parenthesized expression.
func wrapped(s string) bool {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return false
	}
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'':
			quoted = !quoted
		case quoted:
		case s[i] == '(':
			depth++
		case s[i] == ')':
			depth--
			if depth == 0 && i < len(s)-1 {
				return false
			}
		}
	}
	return depth == 0
}

func splitOutsideQuotes(s, sep string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			quoted = !quoted
		case '(':
			if !quoted {
				depth++
			}
		case ')':
			if !quoted {
				depth--
			}
		}
		if !quoted && depth == 0 && i+len(sep) <= len(s) && strings.EqualFold(s[i:i+len(sep)], sep) {
			out = append(out, s[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(out, s[start:])
}

// PricesURL is the retail prices URL of a simulator served at base.
func PricesURL(base string) string { return strings.TrimRight(base, "/") + "/api/retail/prices" }
