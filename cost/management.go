package cost

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/costmanagement/armcostmanagement"

	"github.com/poolbot/poolbot/clock"
)

// DefaultManagementEvery is how often Cost Management is asked: its data lags
// 8–24 h and refreshes about every 4 h, and its quotas are per tenant.
const DefaultManagementEvery = 4 * time.Hour

// Management reads actual daily costs of scale sets from the Azure Cost
// Management Query API, at most once every Every.
type Management struct {
	client       *armcostmanagement.QueryClient
	subscription string
	clock        clock.Clock
	every        time.Duration

	mu       sync.Mutex
	last     time.Time
	lastErr  error
	daily    map[string]map[string]float64 // lower-case resource id → YYYY-MM-DD → cost
	currency string
}

// ManagementOptions configures NewManagement.
type ManagementOptions struct {
	Credential azcore.TokenCredential
	// Endpoint is Azure Resource Manager's URL (default Azure's public
	// cloud); plain http is allowed only to a loopback address (the simulator).
	Endpoint string
	// Client, when set, is used as it is instead of one built from Endpoint.
	Client       *arm.ClientOptions
	Subscription string
	Clock        clock.Clock
	Every        time.Duration // default DefaultManagementEvery
}

// NewManagement returns a Cost Management reader for a subscription.
func NewManagement(o ManagementOptions) (*Management, error) {
	if o.Subscription == "" {
		return nil, fmt.Errorf("cost management: no subscription")
	}
	opts := o.Client
	if opts == nil && o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("cost management: resource manager url %q is not a URL", o.Endpoint)
		}
		opts = &arm.ClientOptions{ClientOptions: policy.ClientOptions{
			Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: strings.TrimRight(o.Endpoint, "/"), Audience: "https://management.core.windows.net/"},
			}},
			InsecureAllowCredentialWithHTTP: u.Scheme == "http" && isLoopback(u.Hostname()),
		}, DisableRPRegistration: true}
	}
	c, err := armcostmanagement.NewQueryClient(o.Credential, opts)
	if err != nil {
		return nil, fmt.Errorf("cost management client: %w", err)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Every <= 0 {
		o.Every = DefaultManagementEvery
	}
	return &Management{client: c, subscription: o.Subscription, clock: o.Clock, every: o.Every, daily: map[string]map[string]float64{}}, nil
}

// Refresh queries the daily costs of the scale sets ids from the first day
// of last month (or 8 days back, if earlier) until now, unless it did so less
// than Every ago. It reports whether it asked.
func (m *Management) Refresh(ctx context.Context, ids []string, loc *time.Location) (bool, error) {
	now := m.clock.Now()
	m.mu.Lock()
	due := m.last.IsZero() || now.Sub(m.last) >= m.every
	if due {
		m.last = now // one attempt per period, even when it fails
	}
	m.mu.Unlock()
	if !due || len(ids) == 0 {
		return false, nil
	}
	sort.Strings(ids)
	n := now.In(loc)
	from := time.Date(n.Year(), n.Month()-1, 1, 0, 0, 0, 0, loc)
	if week := n.AddDate(0, 0, -8); week.Before(from) {
		from = week
	}
	values := make([]*string, len(ids))
	for i, id := range ids {
		values[i] = to.Ptr(id)
	}
	q := armcostmanagement.QueryDefinition{
		Type:       to.Ptr(armcostmanagement.ExportTypeActualCost),
		Timeframe:  to.Ptr(armcostmanagement.TimeframeTypeCustom),
		TimePeriod: &armcostmanagement.QueryTimePeriod{From: to.Ptr(from.UTC()), To: to.Ptr(now.UTC())},
		Dataset: &armcostmanagement.QueryDataset{
			Granularity: to.Ptr(armcostmanagement.GranularityTypeDaily),
			Aggregation: map[string]*armcostmanagement.QueryAggregation{
				"totalCost": {Name: to.Ptr("Cost"), Function: to.Ptr(armcostmanagement.FunctionTypeSum)},
			},
			Grouping: []*armcostmanagement.QueryGrouping{{Name: to.Ptr("ResourceId"), Type: to.Ptr(armcostmanagement.QueryColumnTypeDimension)}},
			Filter: &armcostmanagement.QueryFilter{Dimensions: &armcostmanagement.QueryComparisonExpression{
				Name: to.Ptr("ResourceId"), Operator: to.Ptr(armcostmanagement.QueryOperatorTypeIn), Values: values,
			}},
		},
	}
	resp, err := m.client.Usage(ctx, "/subscriptions/"+m.subscription, q, nil)
	if err != nil {
		m.mu.Lock()
		m.lastErr = err
		m.mu.Unlock()
		return true, fmt.Errorf("query cost management: %w", err)
	}
	daily, cur, err := parseQuery(resp.QueryResult, ids)
	if err != nil {
		return true, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastErr = nil
	for id, days := range daily {
		m.daily[id] = days
	}
	if cur != "" {
		m.currency = cur
	}
	return true, nil
}

// Daily returns the actual cost of the scale set id on day (YYYY-MM-DD).
func (m *Management) Daily(id, day string) (float64, string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.daily[strings.ToLower(id)][day]
	return v, m.currency, ok
}

// parseQuery reads the rows of a query result by column name: the cost
// column (Cost, PreTaxCost or the aggregation's alias), UsageDate as
// yyyymmdd, ResourceId, Currency. With one id and no ResourceId column every
// row is that id's.
func parseQuery(r armcostmanagement.QueryResult, ids []string) (map[string]map[string]float64, string, error) {
	out := map[string]map[string]float64{}
	if r.Properties == nil {
		return out, "", nil
	}
	col := map[string]int{}
	for i, c := range r.Properties.Columns {
		if c != nil && c.Name != nil {
			col[strings.ToLower(*c.Name)] = i
		}
	}
	ci, ok := col["cost"]
	if !ok {
		if ci, ok = col["pretaxcost"]; !ok {
			if ci, ok = col["totalcost"]; !ok {
				return nil, "", fmt.Errorf("cost management: no cost column in the answer")
			}
		}
	}
	di, ok := col["usagedate"]
	if !ok {
		return nil, "", fmt.Errorf("cost management: no UsageDate column in the answer")
	}
	ri, hasID := col["resourceid"]
	if !hasID && len(ids) != 1 {
		return nil, "", fmt.Errorf("cost management: no ResourceId column in the answer")
	}
	cu, hasCur := col["currency"]
	currency := ""
	for _, row := range r.Properties.Rows {
		cost, ok1 := number(at(row, ci))
		date, ok2 := number(at(row, di))
		if !ok1 || !ok2 {
			continue
		}
		id := ""
		if hasID {
			s, _ := at(row, ri).(string)
			id = strings.ToLower(s)
		} else {
			id = strings.ToLower(ids[0])
		}
		d := int(date)
		day := fmt.Sprintf("%04d-%02d-%02d", d/10000, d/100%100, d%100)
		if out[id] == nil {
			out[id] = map[string]float64{}
		}
		out[id][day] += cost
		if hasCur {
			if s, ok := at(row, cu).(string); ok {
				currency = s
			}
		}
	}
	return out, currency, nil
}

func at(row []any, i int) any {
	if i < 0 || i >= len(row) {
		return nil
	}
	return row[i]
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
