package cost

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/costmanagement/armcostmanagement"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/store/sqlite"
)

// retailServer serves a two-page price list for Standard_D4s_v5 in
// westeurope, as the Retail Prices API does, and counts requests.
func retailServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		f := r.URL.Query().Get("$filter")
		if !strings.Contains(f, "armSkuName eq 'Standard_D4s_v5'") || !strings.Contains(f, "armRegionName eq 'westeurope'") {
			json.NewEncoder(w).Encode(retailPage{})
			return
		}
		if r.URL.Query().Get("page") == "" {
			json.NewEncoder(w).Encode(retailPage{Items: []retailItem{
				{CurrencyCode: "USD", RetailPrice: 0.05, ArmSkuName: "Standard_D4s_v5", ProductName: "Virtual Machines Dsv5 Series", SkuName: "D4s v5 Spot", MeterName: "D4s v5 Spot", Type: "Consumption", UnitOfMeasure: "1 Hour"},
				{CurrencyCode: "USD", RetailPrice: 0.12, ArmSkuName: "Standard_D4s_v5", ProductName: "Virtual Machines Dsv5 Series", SkuName: "D4s v5 Low Priority", Type: "Consumption", UnitOfMeasure: "1 Hour"},
				{CurrencyCode: "USD", RetailPrice: 1000, ArmSkuName: "Standard_D4s_v5", ProductName: "Virtual Machines Dsv5 Series", SkuName: "D4s v5", Type: "Reservation", UnitOfMeasure: "1 Year"},
			}, NextPageLink: srv.URL + "/api/retail/prices?page=2&" + r.URL.RawQuery})
			return
		}
		json.NewEncoder(w).Encode(retailPage{Items: []retailItem{
			{CurrencyCode: "USD", RetailPrice: 0.368, ArmSkuName: "Standard_D4s_v5", ProductName: "Virtual Machines Dsv5 Series Windows", SkuName: "D4s v5", Type: "Consumption", UnitOfMeasure: "1 Hour"},
			{CurrencyCode: "USD", RetailPrice: 0.192, ArmSkuName: "Standard_D4s_v5", ProductName: "Virtual Machines Dsv5 Series", SkuName: "D4s v5", Type: "Consumption", UnitOfMeasure: "1 Hour"},
		}})
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestPrices(t *testing.T) {
	srv, calls := retailServer(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))
	p := NewPrices(srv.URL+"/api/retail/prices", srv.Client(), map[string]float64{"Standard_NC4as_T4_v3": 0.9}, "USD", clk)
	for _, tc := range []struct {
		region, sku string
		os          pool.OS
		want        float64
		wantErr     bool
	}{
		{"westeurope", "Standard_D4s_v5", pool.Linux, 0.192, false},
		{"westeurope", "Standard_D4s_v5", pool.Windows, 0.368, false},
		{"westeurope", "standard_nc4as_t4_v3", pool.Linux, 0.9, false}, // from the config
		{"northeurope", "Standard_D4s_v5", pool.Linux, 0, true},
	} {
		got, cur, err := p.Hourly(ctx, tc.region, tc.sku, tc.os)
		if (err != nil) != tc.wantErr || got != tc.want || !tc.wantErr && cur != "USD" {
			t.Errorf("Hourly(%s, %s, %s) = %v %q %v, want %v", tc.region, tc.sku, tc.os, got, cur, err, tc.want)
		}
	}
	before := calls.Load()
	if _, _, err := p.Hourly(ctx, "westeurope", "Standard_D4s_v5", pool.Linux); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != before {
		t.Errorf("a cached price was fetched again")
	}
	clk.Advance(25 * time.Hour)
	p.Hourly(ctx, "westeurope", "Standard_D4s_v5", pool.Linux)
	if calls.Load() != before+2 {
		t.Errorf("an expired price was not fetched again (2 pages): %d calls, want %d", calls.Load(), before+2)
	}
}

func FuzzPick(f *testing.F) {
	f.Add(`{"Items":[{"currencyCode":"USD","retailPrice":0.1,"armSkuName":"S","productName":"P Windows","type":"Consumption","unitOfMeasure":"1 Hour"}]}`, "S", true)
	f.Add(`{"Items":[{"retailPrice":-1,"type":"Consumption","skuName":"x Spot"}],"NextPageLink":"http://x"}`, "", false)
	f.Fuzz(func(t *testing.T, body, sku string, windows bool) {
		pg, err := parsePage(strings.NewReader(body))
		if err != nil {
			return
		}
		os := pool.Linux
		if windows {
			os = pool.Windows
		}
		it, ok := pick(pg.Items, sku, os)
		if !ok {
			return
		}
		name := strings.ToLower(it.SkuName + it.MeterName + it.ProductName)
		if strings.Contains(name, "spot") || strings.Contains(name, "low priority") || !strings.EqualFold(it.Type, "Consumption") ||
			it.RetailPrice < 0 || strings.Contains(strings.ToLower(it.ProductName), "windows") != windows {
			t.Errorf("picked %+v for %s %v", it, sku, windows)
		}
	})
}

func TestParseQuery(t *testing.T) {
	id := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-a"
	r := armcostmanagement.QueryResult{Properties: &armcostmanagement.QueryProperties{
		Columns: []*armcostmanagement.QueryColumn{{Name: to.Ptr("Cost")}, {Name: to.Ptr("UsageDate")}, {Name: to.Ptr("ResourceId")}, {Name: to.Ptr("Currency")}},
		Rows: [][]any{
			{12.5, float64(20260104), strings.ToLower(id), "EUR"},
			{1.5, float64(20260104), strings.ToLower(id), "EUR"},
			{3.0, "20260105", strings.ToLower(id), "EUR"},
			{"junk", 20260105, id, "EUR"},
		},
	}}
	got, cur, err := parseQuery(r, []string{id})
	if err != nil {
		t.Fatal(err)
	}
	days := got[strings.ToLower(id)]
	if cur != "EUR" || days["2026-01-04"] != 14 || days["2026-01-05"] != 3 || len(days) != 2 {
		t.Errorf("parseQuery = %v %q", got, cur)
	}
	if _, _, err := parseQuery(armcostmanagement.QueryResult{Properties: &armcostmanagement.QueryProperties{
		Columns: []*armcostmanagement.QueryColumn{{Name: to.Ptr("UsageDate")}}}}, nil); err == nil {
		t.Error("an answer without a cost column was accepted")
	}
}

func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want string
	}{
		{[]float64{0, 0, 0}, "▁▁▁"},
		{[]float64{1, 2, 4, 8}, "▁▂▄█"},
		{[]float64{5, 5}, "██"},
		{nil, ""},
	} {
		if got := Sparkline(tc.in); got != tc.want {
			t.Errorf("Sparkline(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "poolbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func samplePool(name string, idle, busy, standby int) pool.Pool {
	return pool.Pool{Name: name, OS: pool.Linux, Standby: standby, Max: 10, Counts: pool.Counts{Idle: idle, Busy: busy}}
}

// tracker returns a tracker whose prices come from the config.
func tracker(t *testing.T, st pool.Store, clk clock.Clock, cfg Settings) *Tracker {
	cfg.Prices = map[string]float64{"Standard_D4s_v5": 0.5}
	tr := NewTracker(TrackerOptions{Store: st, Clock: clk, Settings: cfg, Owner: "t",
		Prices: NewPrices("http://127.0.0.1:1/unused", nil, cfg.Prices, "USD", clk)})
	tr.SetScaleSet("a", "westeurope", "Standard_D4s_v5", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/a")
	tr.SetScaleSet("b", "westeurope", "Standard_D4s_v5", "")
	return tr
}

func TestTrackerAccruesAndSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	start := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	tr := tracker(t, st, clk, Settings{})
	if _, _, ok := tr.Today(ctx, "a"); ok {
		t.Fatal("Today knows a pool never seen")
	}
	// 2 idle and 1 busy for an hour, in 60 one-minute cycles.
	for i := 0; i <= 60; i++ {
		tr.Observe(ctx, clk.Now(), []Sample{{Pool: samplePool("a", 2, 1, 2), Jobs: boolInt(i == 30)}})
		clk.Advance(time.Minute)
	}
	v, cur, ok := tr.Today(ctx, "a")
	if !ok || cur != "USD" || !near(v, 3*0.5) {
		t.Fatalf("Today = %v %q %v, want 1.50 USD", v, cur, ok)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A new tracker on the same store goes on from the stored totals.
	tr2 := tracker(t, st, clk, Settings{})
	tr2.Observe(ctx, clk.Now(), []Sample{{Pool: samplePool("a", 2, 1, 2)}})
	clk.Advance(time.Hour) // longer than MaxGap: only 10 minutes count
	tr2.Observe(ctx, clk.Now(), []Sample{{Pool: samplePool("a", 2, 1, 2)}})
	d, _ := tr2.Totals(ctx, "a", "2026-01-05")
	if !near(d.InstanceHours, 3+0.5) || !near(d.IdleHours, 2+2.0/6) || d.Jobs != 1 {
		t.Errorf("after restart: %+v, want 3.5 instance-hours, 2.33 idle, 1 job", d)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func TestConditions(t *testing.T) {
	ctx := context.Background()
	budgets := []Budget{{Pools: []string{"a"}, Daily: 5, Monthly: 40}}
	for _, tc := range []struct {
		name     string
		start    time.Time
		hours    int
		idle     int
		busy     int
		standby  int
		offHours bool
		want     []string
	}{
		{"under budget", time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), 1, 1, 0, 1, false, nil},
		// 5 VMs × 14 h × 0.5 = 35 > 5 a day, and a month at that rate > 40.
		{"over daily and monthly", time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), 14, 1, 0, 1, false, []string{"budget-daily", "budget-monthly"}},
		{"idle at night", time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC), 3, 1, 0, 1, true, []string{"idle-waste"}},
		{"weekend standby, no jobs", time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), 7, 1, 0, 1, false, []string{"idle-waste"}},
		{"weekend with jobs", time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), 7, 0, 1, 1, false, nil},
		{"weekend standby 0", time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), 7, 1, 0, 0, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(tc.start)
			tr := tracker(t, openStore(t), clk, Settings{Budgets: budgets})
			p := samplePool("a", tc.idle, tc.busy, tc.standby)
			if tc.name == "over daily and monthly" {
				p.Counts.Idle = 0
				p.Counts.Busy = 0
				p.Counts.Starting = 5 // billed, neither idle nor busy
			}
			for i := 0; i <= tc.hours*6; i++ {
				tr.Observe(ctx, clk.Now(), []Sample{{Pool: p, OffHours: tc.offHours}})
				clk.Advance(10 * time.Minute)
			}
			var got []string
			for _, f := range tr.Conditions(ctx, p, clk.Now()) {
				got = append(got, f.Condition)
				if f.Summary == "" || f.Severity == "" {
					t.Errorf("finding without summary or severity: %+v", f)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("conditions = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDigestOnceADay(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	// 08:00 Paris is 07:00 UTC in January.
	clk := clock.NewFake(time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC))
	cfg := Settings{DigestCron: "0 8 * * *", DigestTimeZone: "Europe/Paris", DigestChannel: "C-COST"}
	tr := tracker(t, st, clk, cfg)
	// Yesterday (Sunday in Paris): pool a 2 idle agents all day.
	// An interval counts on the day it ends: from 23:50 the day before.
	yesterday := time.Date(2026, 1, 3, 23, 50, 0, 0, tr.Location())
	tr2clk := clock.NewFake(yesterday)
	old := tracker(t, st, tr2clk, cfg)
	for i := 0; i <= 24*6; i++ {
		old.Observe(ctx, tr2clk.Now(), []Sample{{Pool: samplePool("a", 2, 0, 2)}, {Pool: samplePool("b", 0, 1, 0), Jobs: 1}})
		tr2clk.Advance(10 * time.Minute)
	}
	if err := old.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		ms, err := st.Pending(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range ms {
			if m.Op == "file" {
				continue // the chart: TestDigestChart
			}
			if strings.HasPrefix(m.Key, "digest/") {
				n++
				if m.Channel != "C-COST" || m.Op != "post" || !strings.Contains(m.Text, "Sun 4 Jan 2026") {
					t.Errorf("digest message %+v", m)
				}
				if !strings.Contains(m.Text, "`▁▁▁▁▁▁█` a $24.00 est. · idle 48.0 h · busy 0.0 h · 0 jobs") {
					t.Errorf("digest text lacks pool a's line:\n%s", m.Text)
				}
				var blocks []map[string]any
				if err := json.Unmarshal([]byte(m.Blocks), &blocks); err != nil || len(blocks) < 3 {
					t.Errorf("digest blocks %v: %s", err, m.Blocks)
				}
			}
		}
		return n
	}
	for _, step := range []struct {
		advance time.Duration
		want    int
	}{{0, 0}, {50 * time.Minute, 0}, {10 * time.Minute, 1}, {time.Minute, 1}, {time.Hour, 1}} {
		clk.Advance(step.advance)
		if err := tr.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != step.want {
			t.Fatalf("at %s: %d digests queued, want %d", clk.Now(), got, step.want)
		}
	}
	// A restarted tracker does not send it again.
	again := tracker(t, st, clk, cfg)
	if err := again.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 1 {
		t.Errorf("after a restart: %d digests, want 1", got)
	}
}

type staticCred string

func (s staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestManagement runs the Query API through armcostmanagement against a
// loopback server that answers as Cost Management does.
func TestManagement(t *testing.T) {
	id := "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-a"
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/subscriptions/sub/providers/Microsoft.CostManagement/query" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, `{"error":{"code":"BadRequest","message":"unexpected"}}`, http.StatusBadRequest)
			return
		}
		var q armcostmanagement.QueryDefinition
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil || *q.Dataset.Granularity != armcostmanagement.GranularityTypeDaily ||
			*q.Dataset.Filter.Dimensions.Values[0] != id {
			http.Error(w, `{"error":{"code":"BadRequest","message":"bad query"}}`, http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"properties":{"columns":[{"name":"Cost","type":"Number"},{"name":"UsageDate","type":"Number"},{"name":"ResourceId","type":"String"},{"name":"Currency","type":"String"}],
			"rows":[[4.25,20260104,%q,"USD"],[1.5,20260105,%q,"USD"]]}}`, strings.ToLower(id), strings.ToLower(id))
	}))
	defer srv.Close()
	clk := clock.NewFake(time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC))
	m, err := NewManagement(ManagementOptions{Credential: staticCred("tok"), Client: armOptions(srv.URL), Subscription: "sub", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, want := range []bool{true, false} { // the second within Every does not ask
		asked, err := m.Refresh(ctx, []string{id}, time.UTC)
		if err != nil || asked != want {
			t.Fatalf("refresh %d: asked %v err %v", i, asked, err)
		}
	}
	if v, cur, ok := m.Daily(id, "2026-01-04"); !ok || v != 4.25 || cur != "USD" {
		t.Errorf("Daily = %v %q %v", v, cur, ok)
	}
	clk.Advance(DefaultManagementEvery)
	if asked, _ := m.Refresh(ctx, []string{id}, time.UTC); !asked || calls.Load() != 2 {
		t.Errorf("after Every: asked %v, %d calls", asked, calls.Load())
	}
}
