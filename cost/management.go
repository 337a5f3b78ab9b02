package cost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/costmanagement/armcostmanagement"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/retryafter"
)

// DefaultManagementEvery is how often Cost Management is asked: its data lags
// 8–24 h and refreshes about every 4 h, and its quotas are per tenant.
const DefaultManagementEvery = 4 * time.Hour

// DefaultSettle is how long after a day ends (in UTC, Cost Management's
// days) its figure is taken as final: the data lags 8–24 h, and a day read
// sooner is only part of it.
const DefaultSettle = 24 * time.Hour

// DefaultMaxPages bounds the pages one Refresh reads. Azure answers at most
// 1000 rows (some report 5000) and a row is a scale set's day: 64 pages hold
// about 1000 pools over the two months a refresh covers.
const DefaultMaxPages = 64

// DefaultMaxThrottleWait is the longest throttling wait a page is given; a
// longer Retry-After ends the read with what it has.
const DefaultMaxThrottleWait = 5 * time.Minute

// throttleRetries is how many 429 answers one page waits out.
const throttleRetries = 4

// ErrPageLimit reports that a query had more pages than MaxPages.
var ErrPageLimit = errors.New("cost management: page limit reached")

// Management reads actual daily costs of scale sets from the Azure Cost
// Management Query API, at most once every Every.
//
// The Query API answers a page of rows and puts the rest behind
// properties.nextLink, which the SDK does not follow (the operation is not
// pageable in the REST spec): Management POSTs the same query to each
// nextLink through the same authenticated pipeline, waits out 429s as
// Cost Management's throttling headers ask, and keeps what it read when a
// later page fails, so that only the pools it could not read fall back to
// the estimate.
type Management struct {
	client       *armcostmanagement.QueryClient
	pipeline     runtime.Pipeline // the same credential and options, for nextLink
	endpoint     *url.URL
	retry        policy.RetryOptions // the pipeline's, with 429 left to Management
	subscription string
	clock        clock.Clock
	every        time.Duration
	maxPages     int
	maxWait      time.Duration
	settle       time.Duration
	log          *slog.Logger

	mu       sync.Mutex
	last     time.Time
	lastErr  error
	read     ReadStats
	daily    map[string]map[string]float64   // lower-case resource id → YYYY-MM-DD → cost
	readAt   map[string]map[string]time.Time // when each figure was read
	currency string
}

// ReadStats describe a Refresh's reading of Cost Management.
type ReadStats struct {
	Calls     int           // requests sent, throttled ones included
	Pages     int           // answers read
	Rows      int           // rows in them
	Throttled int           // 429 answers waited out
	Waited    time.Duration // waiting on the clock for them
	Complete  bool          // the last page was read
}

// ManagementOptions configures NewManagement.
type ManagementOptions struct {
	Credential azcore.TokenCredential
	// Client are the ARM options to share (azure.Client.ARMOptions: its
	// endpoint, limit and counters); nil means Azure's public cloud.
	Client       *arm.ClientOptions
	Subscription string
	Clock        clock.Clock
	Every        time.Duration // default DefaultManagementEvery
	// MaxPages bounds the pages one Refresh reads (default DefaultMaxPages).
	MaxPages int
	// MaxThrottleWait is the longest 429 wait honoured (default
	// DefaultMaxThrottleWait); waits are on Clock.
	MaxThrottleWait time.Duration
	// Settle is how long after a UTC day ends a figure read for it is final
	// (default DefaultSettle); see Final.
	Settle time.Duration
	Logger *slog.Logger
}

// NewManagement returns a Cost Management reader for a subscription.
func NewManagement(o ManagementOptions) (*Management, error) {
	if o.Subscription == "" {
		return nil, fmt.Errorf("cost management: no subscription")
	}
	opts := o.Client
	c, err := armcostmanagement.NewQueryClient(o.Credential, opts)
	if err != nil {
		return nil, fmt.Errorf("cost management client: %w", err)
	}
	// The pipeline the nextLinks go through: the same credential, options
	// and policies (bearer token, retries, logging) as the query client's.
	pc, err := arm.NewClient("poolbot.cost.Management", "v1.0.0", o.Credential, opts)
	if err != nil {
		return nil, fmt.Errorf("cost management pipeline: %w", err)
	}
	ep, err := url.Parse(pc.Endpoint())
	if err != nil || ep.Host == "" {
		return nil, fmt.Errorf("cost management: resource manager url %q is not a URL", pc.Endpoint())
	}
	var retry policy.RetryOptions
	if opts != nil {
		retry = opts.Retry
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Every <= 0 {
		o.Every = DefaultManagementEvery
	}
	if o.MaxPages <= 0 {
		o.MaxPages = DefaultMaxPages
	}
	if o.MaxThrottleWait <= 0 {
		o.MaxThrottleWait = DefaultMaxThrottleWait
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	return &Management{
		client: c, pipeline: pc.Pipeline(), endpoint: ep, retry: without429(retry),
		subscription: o.Subscription, clock: o.Clock, every: o.Every,
		maxPages: o.MaxPages, maxWait: o.MaxThrottleWait, settle: o.Settle, log: o.Logger,
		daily: map[string]map[string]float64{}, readAt: map[string]map[string]time.Time{},
	}, nil
}

// without429 leaves 429 answers to Management, which waits them out on its
// clock as Cost Management's own headers ask (azcore's retry policy reads
// only Retry-After, Retry-After-Ms and x-ms-retry-after-ms, and gives up
// after 60 s); other transient failures are retried by azcore as configured.
func without429(r policy.RetryOptions) policy.RetryOptions {
	codes := r.StatusCodes
	if codes == nil { // azcore's defaults
		codes = []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	}
	kept := []int{}
	for _, c := range codes {
		if c != http.StatusTooManyRequests {
			kept = append(kept, c)
		}
	}
	r.StatusCodes = kept
	if should := r.ShouldRetry; should != nil {
		r.ShouldRetry = func(resp *http.Response, err error) bool {
			if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
				return false
			}
			return should(resp, err)
		}
	}
	return r
}

// Refresh queries the daily costs of the scale sets ids from the first day
// of this month (or 8 days back, if earlier: the digest's week) until now —
// at most 31 days, which keeps the answer and its cost in query units small, unless it did so less
// than Every ago. It reports whether it asked. Every page of the answer is
// read, up to MaxPages; when one fails or the limit is reached, the days read
// are kept, the others keep what an earlier refresh read or fall back to the
// estimate, and the error says so (ErrPageLimit for the limit).
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
	from := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, loc)
	if week := time.Date(n.Year(), n.Month(), n.Day()-8, 0, 0, 0, 0, loc); week.Before(from) {
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
	daily, cur, st, err := m.query(ctx, q, ids)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastErr, m.read = err, st
	if st.Complete {
		for id, days := range daily {
			m.daily[id] = days
			m.readAt[id] = map[string]time.Time{}
		}
	}
	// Only the days read replace what an earlier refresh left; the pools
	// and days not read keep it, or fall back to the estimate.
	for id, days := range daily {
		if m.daily[id] == nil {
			m.daily[id] = map[string]float64{}
		}
		if m.readAt[id] == nil {
			m.readAt[id] = map[string]time.Time{}
		}
		for day, v := range days {
			m.daily[id][day] = v
			m.readAt[id][day] = now
		}
	}
	if cur != "" {
		m.currency = cur
	}
	return true, err
}

// LastRead describes the last Refresh's reading of Cost Management.
func (m *Management) LastRead() ReadStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.read
}

// query reads every page of q, at most maxPages, and returns the daily costs
// of the rows it read, even when a page fails.
func (m *Management) query(ctx context.Context, q armcostmanagement.QueryDefinition, ids []string) (map[string]map[string]float64, string, ReadStats, error) {
	ctx = policy.WithRetryOptions(ctx, m.retry)
	daily := map[string]map[string]float64{}
	var st ReadStats
	var cols []*armcostmanagement.QueryColumn
	currency, next := "", ""
	for {
		res, err := m.page(ctx, next, q, &st)
		if err != nil {
			return daily, currency, st, m.partial(st, fmt.Errorf("query cost management, page %d: %w", st.Pages+1, err))
		}
		st.Pages++
		var p armcostmanagement.QueryProperties
		if res.Properties != nil {
			p = *res.Properties
		}
		if len(p.Columns) > 0 {
			cols = p.Columns
		}
		if len(p.Rows) > 0 {
			cur, err := parseRows(cols, p.Rows, ids, daily)
			if err != nil {
				return daily, currency, st, m.partial(st, fmt.Errorf("page %d: %w", st.Pages, err))
			}
			st.Rows += len(p.Rows)
			if cur != "" {
				currency = cur
			}
		}
		next = ""
		if p.NextLink != nil {
			next = strings.TrimSpace(*p.NextLink)
		}
		if next == "" {
			st.Complete = true
			return daily, currency, st, nil
		}
		if err := m.sameService(next); err != nil {
			return daily, currency, st, m.partial(st, err)
		}
		if st.Pages >= m.maxPages {
			return daily, currency, st, m.partial(st, fmt.Errorf("%w: %d pages, %d rows read, more remain", ErrPageLimit, st.Pages, st.Rows))
		}
	}
}

func (m *Management) partial(st ReadStats, err error) error {
	m.log.Warn("cost: Cost Management's answer is incomplete; pools and days not read fall back to the estimate",
		"pages", st.Pages, "rows", st.Rows, "throttled", st.Throttled, "err", err)
	return err
}

// sameService refuses a nextLink to another host than the one queried, which
// would be sent the bearer token.
func (m *Management) sameService(next string) error {
	u, err := url.Parse(next)
	if err != nil || !strings.EqualFold(u.Scheme, m.endpoint.Scheme) || !strings.EqualFold(u.Host, m.endpoint.Host) {
		return fmt.Errorf("cost management: nextLink %q is not on %s", redactQuery(next), m.endpoint.Host)
	}
	return nil
}

func redactQuery(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i] + "?…"
	}
	return s
}

// page asks for one page: the query itself when next is empty, else a POST
// of the same definition to next. A 429 is waited out on the clock, for the
// longest of the throttling headers' delays.
func (m *Management) page(ctx context.Context, next string, q armcostmanagement.QueryDefinition, st *ReadStats) (armcostmanagement.QueryResult, error) {
	for attempt := 0; ; attempt++ {
		st.Calls++
		var res armcostmanagement.QueryResult
		var err error
		if next == "" {
			var r armcostmanagement.QueryClientUsageResponse
			r, err = m.client.Usage(ctx, "/subscriptions/"+m.subscription, q, nil)
			res = r.QueryResult
		} else {
			res, err = m.post(ctx, next, q)
		}
		var re *azcore.ResponseError
		if err == nil || !errors.As(err, &re) || re.StatusCode != http.StatusTooManyRequests || attempt >= throttleRetries {
			return res, err
		}
		var h http.Header
		if re.RawResponse != nil {
			h = re.RawResponse.Header
		}
		d := throttleDelay(h, m.clock.Now(), attempt)
		if d > m.maxWait {
			return res, fmt.Errorf("throttled for %s, longer than %s: %w", d, m.maxWait, err)
		}
		st.Throttled++
		st.Waited += d
		m.log.Info("cost: Cost Management throttled the query; waiting", "wait", d, "page", st.Pages+1)
		select {
		case <-m.clock.After(d):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
}

// post sends q to a nextLink through the query client's pipeline.
func (m *Management) post(ctx context.Context, next string, q armcostmanagement.QueryDefinition) (armcostmanagement.QueryResult, error) {
	var res armcostmanagement.QueryResult
	req, err := runtime.NewRequest(ctx, http.MethodPost, next)
	if err != nil {
		return res, err
	}
	req.Raw().Header["Accept"] = []string{"application/json"}
	if err := runtime.MarshalAsJSON(req, q); err != nil {
		return res, err
	}
	resp, err := m.pipeline.Do(req)
	if err != nil {
		return res, err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK, http.StatusNoContent) {
		return res, runtime.NewResponseError(resp)
	}
	if resp.StatusCode == http.StatusNoContent {
		_ = resp.Body.Close()
		return res, nil
	}
	return res, runtime.UnmarshalAsJSON(resp, &res)
}

// throttleDelay is how long a 429 asks to wait: the longest of Cost
// Management's x-ms-ratelimit-microsoft.costmanagement-*-retry-after (and
// the older consumption one) in seconds and the standard headers
// (retryafter.Parse); without any, 10 s doubling with each attempt.
func throttleDelay(h http.Header, now time.Time, attempt int) time.Duration {
	var d time.Duration
	longer := func(x time.Duration) {
		if x > d {
			d = x
		}
	}
	for k, vs := range h {
		if k = strings.ToLower(k); len(vs) > 0 && strings.HasPrefix(k, "x-ms-ratelimit-microsoft.") && strings.HasSuffix(k, "retry-after") {
			if x, ok := retryafter.Seconds(vs[0]); ok {
				longer(x)
			}
		}
	}
	if x, ok := retryafter.Parse(h, now); ok {
		longer(x)
	}
	if d > 0 {
		return d
	}
	return 10 * time.Second << max(0, min(attempt, 4))
}

// Daily returns the cost of the scale set id on day (YYYY-MM-DD, a UTC day)
// as last read: final or not (see Final).
func (m *Management) Daily(id, day string) (float64, string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.daily[strings.ToLower(id)][day]
	return v, m.currency, ok
}

// Final is Daily when the figure is final: read at least Settle after its
// UTC day ended. A figure read sooner is part of the day (Cost Management's
// data lags 8–24 h, and a refresh may be hours old), and final is false.
func (m *Management) Final(id, day string) (v float64, currency string, final, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id = strings.ToLower(id)
	v, ok = m.daily[id][day]
	if !ok {
		return 0, "", false, false
	}
	d, err := time.Parse("2006-01-02", day)
	if err != nil {
		return v, m.currency, false, true
	}
	read := m.readAt[id][day]
	return v, m.currency, !read.Before(d.AddDate(0, 0, 1).Add(m.settle)), true
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
	cur, err := parseRows(r.Properties.Columns, r.Properties.Rows, ids, out)
	if err != nil {
		return nil, "", err
	}
	return out, cur, nil
}

// parseRows adds the rows' costs, read by the columns cols, to out and
// returns their currency.
func parseRows(cols []*armcostmanagement.QueryColumn, rows [][]any, ids []string, out map[string]map[string]float64) (string, error) {
	col := map[string]int{}
	for i, c := range cols {
		if c != nil && c.Name != nil {
			col[strings.ToLower(*c.Name)] = i
		}
	}
	ci, ok := col["cost"]
	if !ok {
		if ci, ok = col["pretaxcost"]; !ok {
			if ci, ok = col["totalcost"]; !ok {
				return "", fmt.Errorf("cost management: no cost column in the answer")
			}
		}
	}
	di, ok := col["usagedate"]
	if !ok {
		return "", fmt.Errorf("cost management: no UsageDate column in the answer")
	}
	ri, hasID := col["resourceid"]
	if !hasID && len(ids) != 1 {
		return "", fmt.Errorf("cost management: no ResourceId column in the answer")
	}
	cu, hasCur := col["currency"]
	currency := ""
	for _, row := range rows {
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
	return currency, nil
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
