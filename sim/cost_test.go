package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/costmanagement/armcostmanagement"
)

// costEnv is a simulator with pools cost-0001… each charged 1.00 + pool/100
// USD on each of the days days before Start.
func costEnv(t *testing.T, pools, days, pageSize int) (*env, time.Time) {
	t.Helper()
	start := time.Date(2026, 2, 9, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, Options{Pools: []PoolSpec{}, Start: start, CostPageSize: pageSize})
	e.sim.AddPools(pools, PoolSpec{Name: "cost"})
	for p := 1; p <= pools; p++ {
		for d := 1; d <= days; d++ {
			day := start.AddDate(0, 0, -d).Format("2006-01-02")
			if err := e.sim.AddCost(fmt.Sprintf("cost-%04d", p), day, 1+float64(p)/100); err != nil {
				t.Fatal(err)
			}
		}
	}
	return e, start
}

func costQueryDef(from, to time.Time) armcostmanagement.QueryDefinition {
	return armcostmanagement.QueryDefinition{
		Type:       ptr(armcostmanagement.ExportTypeActualCost),
		Timeframe:  ptr(armcostmanagement.TimeframeTypeCustom),
		TimePeriod: &armcostmanagement.QueryTimePeriod{From: &from, To: &to},
		Dataset: &armcostmanagement.QueryDataset{
			Granularity: ptr(armcostmanagement.GranularityTypeDaily),
			Aggregation: map[string]*armcostmanagement.QueryAggregation{"totalCost": {Name: ptr("Cost"), Function: ptr(armcostmanagement.FunctionTypeSum)}},
			Grouping:    []*armcostmanagement.QueryGrouping{{Name: ptr("ResourceId"), Type: ptr(armcostmanagement.QueryColumnTypeDimension)}},
		},
	}
}

// TestCostQueryPages reads every page of a query: the first through the SDK,
// the next ones by POSTing the same definition to nextLink, as Azure wants.
func TestCostQueryPages(t *testing.T) {
	for _, tc := range []struct {
		name              string
		pools, pageSize   int
		top               string
		wantPages, wantRW int
	}{
		{"default page of 1000", 60, 0, "", 3, 60 * 39},
		{"page of 500", 60, 500, "", 5, 60 * 39},
		{"one page", 20, 0, "", 1, 20 * 39},
		{"$top smaller than the page", 10, 0, "100", 4, 10 * 39},
		{"$top larger than the page", 10, 200, "5000", 2, 10 * 39},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, start := costEnv(t, tc.pools, 39, tc.pageSize)
			def := costQueryDef(start.AddDate(0, 0, -40), start)
			body, _ := json.Marshal(def)
			u := e.arm.URL + "/subscriptions/" + Subscription + "/providers/Microsoft.CostManagement/query?api-version=2021-10-01"
			if tc.top != "" {
				u += "&$top=" + tc.top
			}
			var first armcostmanagement.QueryResult
			if tc.top == "" { // the SDK's own request for the first page
				qc, err := armcostmanagement.NewQueryClient(&azfake.TokenCredential{}, e.armOptions())
				if err != nil {
					t.Fatal(err)
				}
				res, err := qc.Usage(ctx(t), "subscriptions/"+Subscription, def, nil)
				if err != nil {
					t.Fatal(err)
				}
				first = res.QueryResult
			} else {
				first = postCostQuery(t, e, u, body, http.StatusOK)
			}
			seen := map[string]bool{}
			pages, res := 0, first
			for {
				pages++
				if pages > 100 {
					t.Fatal("no end to the pages")
				}
				for _, r := range res.Properties.Rows {
					k := fmt.Sprint(r[1], r[2])
					if seen[k] {
						t.Fatalf("row %s twice", k)
					}
					seen[k] = true
				}
				if res.Properties.NextLink == nil || *res.Properties.NextLink == "" {
					break
				}
				next := *res.Properties.NextLink
				if !strings.HasPrefix(next, e.arm.URL+"/subscriptions/") || !strings.Contains(next, "$skiptoken=") || !strings.Contains(next, "api-version=2021-10-01") {
					t.Fatalf("nextLink %s", next)
				}
				if tc.top != "" && !strings.Contains(next, "$top="+tc.top) {
					t.Fatalf("nextLink %s lost $top", next)
				}
				res = postCostQuery(t, e, next, body, http.StatusOK)
			}
			if pages != tc.wantPages || len(seen) != tc.wantRW {
				t.Errorf("%d pages, %d rows; want %d, %d", pages, len(seen), tc.wantPages, tc.wantRW)
			}
		})
	}
}

func TestCostQueryBadSkipToken(t *testing.T) {
	e, start := costEnv(t, 2, 3, 0)
	body, _ := json.Marshal(costQueryDef(start.AddDate(0, 0, -5), start))
	base := e.arm.URL + "/subscriptions/" + Subscription + "/providers/Microsoft.CostManagement/query?api-version=2021-10-01"
	for _, q := range []string{"&$skiptoken=" + url.QueryEscape("not base64!"), "&$skiptoken=AQAA", "&$top=0", "&$top=x"} {
		postCostQuery(t, e, base+q, body, http.StatusBadRequest)
	}
	// A token past the end is an empty last page.
	res := postCostQuery(t, e, base+"&$skiptoken="+url.QueryEscape("/wAAAA=="), body, http.StatusOK)
	if len(res.Properties.Rows) != 0 || res.Properties.NextLink != nil {
		t.Errorf("past the end: %d rows, next %v", len(res.Properties.Rows), res.Properties.NextLink)
	}
}

func TestAddCost(t *testing.T) {
	e, _ := costEnv(t, 1, 0, 0)
	for _, tc := range []struct{ pool, day string }{{"nope", "2026-01-01"}, {"cost-0001", "01/02/2026"}} {
		if err := e.sim.AddCost(tc.pool, tc.day, 1); err == nil {
			t.Errorf("AddCost(%q, %q) took it", tc.pool, tc.day)
		}
	}
}

func postCostQuery(t *testing.T, e *env, u string, body []byte, want int) armcostmanagement.QueryResult {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.arm.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %s, want %d", u, resp.Status, want)
	}
	var res armcostmanagement.QueryResult
	if want == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
	}
	return res
}
