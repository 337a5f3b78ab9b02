package cost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/sim"
)

// costSim is the simulator behind a loopback server whose Cost Management
// calls (counted from 1, nextLinks included) a test may answer itself.
type costSim struct {
	sim   *sim.Sim
	srv   *httptest.Server
	start time.Time
	pools int

	mu    sync.Mutex
	calls int
	fault faultFunc
}

// faultFunc may answer the call'th Cost Management request itself (true).
type faultFunc func(c *costSim, call int, w http.ResponseWriter, r *http.Request) bool

// newCostSim seeds pools cost-0001… with costOf(p, d) on each of the days
// days before the simulator's start (and today too when today is set).
func newCostSim(t testing.TB, pools, days, pageSize int, today bool) *costSim {
	t.Helper()
	start := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	s := sim.New(sim.Options{Pools: []sim.PoolSpec{}, Start: start, CostPageSize: pageSize})
	s.AddPools(pools, sim.PoolSpec{Name: "cost"})
	first := 1
	if today {
		first = 0
	}
	for p := 1; p <= pools; p++ {
		for d := first; d <= days; d++ {
			if err := s.AddCost(poolName(p), dayBefore(start, d), costOf(p, d)); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := &costSim{sim: s, start: start, pools: pools}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/providers/Microsoft.CostManagement/query") {
			c.mu.Lock()
			c.calls++
			n, f := c.calls, c.fault
			c.mu.Unlock()
			if f != nil && f(c, n, w, r) {
				return
			}
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func poolName(p int) string               { return fmt.Sprintf("cost-%04d", p) }
func dayBefore(t time.Time, d int) string { return t.AddDate(0, 0, -d).Format("2006-01-02") }
func costOf(p, d int) float64             { return float64(p) + float64(d)/100 }
func setID(p int) string {
	return "/subscriptions/" + sim.Subscription + "/resourceGroups/" + sim.ResourceGroup + "/providers/Microsoft.Compute/virtualMachineScaleSets/" + poolName(p)
}
func (c *costSim) setFault(f faultFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault = f
}

func (c *costSim) ids() []string {
	var out []string
	for p := 1; p <= c.pools; p++ {
		out = append(out, setID(p))
	}
	return out
}

func (c *costSim) callCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// page is the page that holds pool p's row of the day d days back, as the
// simulator orders rows (by day, then resource id), oldest days back first.
func page(p, d, pools, oldest, size int) int { return ((oldest-d)*pools+p-1)/size + 1 }

// management reads the simulator with azcore's retries kept to milliseconds.
func (c *costSim) management(t testing.TB, clk clock.Clock, o ManagementOptions) *Management {
	t.Helper()
	o.Credential, o.Subscription, o.Clock = staticCred("tok"), sim.Subscription, clk
	o.Client = armOptions(c.srv.URL)
	m, err := NewManagement(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// armOptions point ARM clients at a loopback server, with azcore's retries
// kept to milliseconds.
func armOptions(url string) *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: url, Audience: "https://management.core.windows.net/"},
		}},
		InsecureAllowCredentialWithHTTP: true,
		Retry:                           policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 2 * time.Millisecond},
	}, DisableRPRegistration: true}
}

func armError(w http.ResponseWriter, status int, h map[string]string, code string) {
	for k, v := range h {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":"injected"}}`, code)
}

// TestManagementReadsEveryPage: 80 pools over 30 days are more rows than one
// answer holds; every pool's every day is read, whatever the page size.
func TestManagementReadsEveryPage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pageSize  int
		wantPages int
	}{
		{"Azure's 1000 rows", 0, 3},
		{"5000 rows", 5000, 1},
		{"100 rows", 100, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCostSim(t, 80, 30, tc.pageSize, false)
			m := c.management(t, clock.NewFake(c.start), ManagementOptions{})
			if asked, err := m.Refresh(context.Background(), c.ids(), time.UTC); !asked || err != nil {
				t.Fatalf("Refresh: asked %v, %v", asked, err)
			}
			for p := 1; p <= 80; p++ {
				for d := 1; d <= 30; d++ {
					if v, cur, ok := m.Daily(setID(p), dayBefore(c.start, d)); !ok || !near(v, costOf(p, d)) || cur != "USD" {
						t.Fatalf("pool %d, %s: %v %q %v, want %v", p, dayBefore(c.start, d), v, cur, ok, costOf(p, d))
					}
				}
			}
			st := m.LastRead()
			if st != (ReadStats{Calls: tc.wantPages, Pages: tc.wantPages, Rows: 80 * 30, Complete: true}) || c.callCount() != tc.wantPages {
				t.Errorf("read %+v, %d calls; want %d pages", st, c.callCount(), tc.wantPages)
			}
		})
	}
}

// TestManagementPageLimit: a query with more pages than MaxPages keeps the
// pages read and says so, in the error and the log.
func TestManagementPageLimit(t *testing.T) {
	c := newCostSim(t, 80, 30, 0, false)
	var logs bytes.Buffer
	m := c.management(t, clock.NewFake(c.start), ManagementOptions{MaxPages: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err := m.Refresh(context.Background(), c.ids(), time.UTC)
	if !errors.Is(err, ErrPageLimit) || !strings.Contains(err.Error(), "2000 rows") {
		t.Fatalf("Refresh: %v, want the page limit with 2000 rows", err)
	}
	if st := m.LastRead(); st.Pages != 2 || st.Rows != 2000 || st.Complete || c.callCount() != 2 {
		t.Errorf("read %+v, %d calls", st, c.callCount())
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "rows=2000") {
		t.Errorf("log: %s", logs.String())
	}
	checkPartial(t, m, c.start, 80, 1, 30, 1000, 2)
}

// checkPartial: every (pool, day) on the first read pages has its actual cost,
// every other has none (the tracker falls back to the estimate), none is 0.
// The days are newest…oldest days before start.
func checkPartial(t *testing.T, m *Management, start time.Time, pools, newest, oldest, size, read int) {
	t.Helper()
	days := oldest - newest + 1
	have, missing := 0, 0
	for p := 1; p <= pools; p++ {
		for d := newest; d <= oldest; d++ {
			v, _, ok := m.Daily(setID(p), dayBefore(start, d))
			switch {
			case page(p, d, pools, oldest, size) <= read:
				if !ok || !near(v, costOf(p, d)) {
					t.Fatalf("pool %d, %s (page %d): %v %v, want %v", p, dayBefore(start, d), page(p, d, pools, oldest, size), v, ok, costOf(p, d))
				}
				have++
			case ok:
				t.Fatalf("pool %d, %s (page %d, not read): %v", p, dayBefore(start, d), page(p, d, pools, oldest, size), v)
			default:
				missing++
			}
		}
	}
	if want := min(read*size, pools*days); have != want || missing != pools*days-want {
		t.Errorf("%d figures, %d missing", have, missing)
	}
}

// TestManagementThrottled: a 429 on page 2 is waited out on the clock for as
// long as its headers ask (Cost Management's own headers included), then the
// read goes on; a wait beyond MaxThrottleWait ends it with page 1 kept.
func TestManagementThrottled(t *testing.T) {
	start := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		wait    time.Duration
		fails   bool
	}{
		{"Retry-After", map[string]string{"Retry-After": "7"}, 7 * time.Second, false},
		{"Cost Management's QPU header", map[string]string{"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "45"}, 45 * time.Second, false},
		{"the longest of several", map[string]string{"Retry-After": "5", "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after": "30",
			"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "12"}, 30 * time.Second, false},
		{"an HTTP date", map[string]string{"Retry-After": start.Add(20 * time.Second).Format(http.TimeFormat)}, 20 * time.Second, false},
		{"no header", nil, 10 * time.Second, false},
		{"longer than MaxThrottleWait", map[string]string{"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "3600"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCostSim(t, 80, 30, 0, false)
			c.setFault(func(_ *costSim, n int, w http.ResponseWriter, r *http.Request) bool {
				if n != 2 {
					return false
				}
				armError(w, http.StatusTooManyRequests, tc.headers, "429")
				return true
			})
			clk := clock.NewFake(start)
			m := c.management(t, clk, ManagementOptions{})
			done := make(chan error, 1)
			go func() { _, err := m.Refresh(context.Background(), c.ids(), time.UTC); done <- err }()
			if tc.fails {
				if err := wait(t, done); err == nil || !strings.Contains(err.Error(), "page 2") {
					t.Fatalf("Refresh: %v, want page 2 to fail", err)
				}
				checkPartial(t, m, start, 80, 1, 30, 1000, 1)
				return
			}
			waitOnClock(t, clk, done)
			if n := c.callCount(); n != 2 {
				t.Fatalf("%d calls while waiting, want 2 (azcore must not retry the 429 itself)", n)
			}
			clk.Advance(tc.wait - time.Millisecond)
			if clk.Waiters() != 1 || c.callCount() != 2 {
				t.Fatalf("asked again before the wait was over")
			}
			clk.Advance(time.Millisecond)
			if err := wait(t, done); err != nil {
				t.Fatal(err)
			}
			st := m.LastRead()
			if st != (ReadStats{Calls: 4, Pages: 3, Rows: 2400, Throttled: 1, Waited: tc.wait, Complete: true}) {
				t.Errorf("read %+v", st)
			}
			checkPartial(t, m, start, 80, 1, 30, 1000, 3)
		})
	}
}

// waitOnClock returns once Refresh waits on the clock, and fails the test if
// it returns or keeps going without doing so.
func waitOnClock(t *testing.T, clk *clock.Fake, done <-chan error) {
	t.Helper()
	for i := 0; clk.Waiters() == 0; i++ {
		select {
		case err := <-done:
			t.Fatalf("Refresh returned (%v) without waiting on the clock", err)
		case <-time.After(time.Millisecond):
		}
		if i > 10000 {
			t.Fatal("Refresh never waited on the clock")
		}
	}
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Refresh never returned")
		return nil
	}
}

// TestManagementFailureKeepsPagesRead: page 3 failing (after azcore's own
// retries) keeps pages 1–2; the tracker shows their actual cost and falls
// back to its estimate for the pool-days of page 3.
func TestManagementFailureKeepsPagesRead(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     faultFunc
		wantErr   string
		wantCalls int
		todayRead bool
	}{
		{"no fault", nil, "", 3, true},
		{"500 on page 3", func(_ *costSim, n int, w http.ResponseWriter, r *http.Request) bool {
			if n < 3 {
				return false
			}
			armError(w, http.StatusInternalServerError, nil, "InternalServerError")
			return true
		}, "page 3", 2 + 4, false}, // azcore's 3 retries of a 500
		{"nextLink to another host", func(c *costSim, n int, w http.ResponseWriter, r *http.Request) bool {
			if n != 2 {
				return false
			}
			// The simulator's own answer, its nextLink moved elsewhere.
			rec := httptest.NewRecorder()
			c.sim.ServeHTTP(rec, r)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, strings.Replace(rec.Body.String(), "http://"+r.Host, "http://127.0.0.2:9", 1))
			return true
		}, "not on", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newCostSim(t, 80, 30, 0, true) // 80 × 31 days: page 3 holds the newest days, today's among them
			c.setFault(tc.fault)
			clk := clock.NewFake(c.start)
			m := c.management(t, clk, ManagementOptions{})
			cfg := Settings{Prices: map[string]float64{"Standard_D4s_v5": 0.5}}
			tr := NewTracker(TrackerOptions{Store: openStore(t), Clock: clk, Settings: cfg, Owner: "t", Management: m,
				Prices: NewPrices("http://127.0.0.1:1/unused", nil, cfg.Prices, "USD", clk)})
			tr.SetScaleSet("a", "westeurope", "Standard_D4s_v5", setID(1))
			for i := 0; i <= 60; i++ { // 3 instances for an hour today: 1.50 estimated
				tr.Observe(ctx, clk.Now(), []Sample{{Pool: samplePool("a", 2, 1, 2)}})
				clk.Advance(time.Minute)
			}
			_, err := m.Refresh(ctx, c.ids(), time.UTC)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Refresh: %v, want %q", err, tc.wantErr)
			}
			if c.callCount() != tc.wantCalls {
				t.Errorf("%d calls, want %d", c.callCount(), tc.wantCalls)
			}
			if tc.wantErr != "" {
				checkPartial(t, m, c.start, 80, 0, 30, 1000, 2)
			}
			line := func(day string) DigestLine {
				for _, l := range tr.DigestLines(ctx, day) {
					if l.Pool == "a" {
						return l
					}
				}
				t.Fatalf("no line for a on %s", day)
				return DigestLine{}
			}
			if l := line(dayBefore(c.start, 30)); !l.Actual || !near(l.Cost, costOf(1, 30)) {
				t.Errorf("a on page 1: %+v", l)
			}
			// Today is not over: its figure is the estimate whatever was
			// read, with Cost Management's part of the day beside it.
			today := line(dayBefore(c.start, 0))
			if today.Actual || !near(today.Cost, 1.5) || today.HasSoFar != tc.todayRead || (tc.todayRead && !near(today.SoFar, costOf(1, 0))) {
				t.Errorf("a today: %+v, want the estimate 1.50, and Cost Management's %v so far when read (%v)", today, costOf(1, 0), tc.todayRead)
			}
		})
	}
}

func TestThrottleDelay(t *testing.T) {
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h       http.Header
		attempt int
		want    time.Duration
	}{
		{http.Header{"Retry-After": {"3"}}, 0, 3 * time.Second},
		{http.Header{"Retry-After-Ms": {"250"}}, 0, 250 * time.Millisecond},
		{http.Header{"X-Ms-Retry-After-Ms": {"1500"}}, 0, 1500 * time.Millisecond},
		{http.Header{"X-Ms-Ratelimit-Microsoft.costmanagement-Qpu-Retry-After": {"40"}, "Retry-After": {"2"}}, 0, 40 * time.Second},
		{http.Header{"X-Ms-Ratelimit-Microsoft.consumption-Retry-After": {"9"}}, 0, 9 * time.Second},
		{http.Header{"Retry-After": {now.Add(time.Minute).Format(http.TimeFormat)}}, 0, time.Minute},
		{http.Header{"Retry-After": {"soon"}}, 1, 20 * time.Second},
		{http.Header{"Retry-After": {"-5"}}, 0, 10 * time.Second},
		{nil, 2, 40 * time.Second},
		{nil, 30, 160 * time.Second},
	} {
		if got := throttleDelay(tc.h, now, tc.attempt); got != tc.want {
			t.Errorf("throttleDelay(%v, %d) = %s, want %s", tc.h, tc.attempt, got, tc.want)
		}
	}
}

func FuzzThrottleDelay(f *testing.F) {
	for _, s := range []string{"3", "0.5", "-1", "NaN", "1e300", "Mon, 09 Feb 2026 12:00:30 GMT", ""} {
		f.Add(s, 0)
	}
	f.Add("0", -76) // a negative shift once
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string, attempt int) {
		for _, k := range []string{"Retry-After", "Retry-After-Ms", "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"} {
			d := throttleDelay(http.Header{http.CanonicalHeaderKey(k): {v}}, now, attempt)
			if d <= 0 || d > 24*time.Hour {
				t.Fatalf("%s: %q → %s", k, v, d)
			}
		}
	})
}

// BenchmarkManagementRead500Pools reads 500 pools × 30 days (15,000 rows)
// from the simulator in Azure's pages of 1000 rows, against one answer
// holding them all.
func BenchmarkManagementRead500Pools(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"one-answer", 100000}, {"pages-of-1000", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			c := newCostSim(b, 500, 30, bc.size, false)
			clk := clock.NewFake(c.start)
			// Every read may ask again at once: the clock stays in the month.
			m := c.management(b, clk, ManagementOptions{MaxPages: 100, Every: time.Millisecond})
			ids := c.ids()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.Refresh(context.Background(), ids, time.UTC); err != nil {
					b.Fatal(err)
				}
				clk.Advance(time.Millisecond)
			}
			st := m.LastRead()
			b.ReportMetric(float64(st.Calls), "calls/op")
			b.ReportMetric(float64(st.Rows), "rows/op")
		})
	}
}

// TestManagementWindow: a read asks for this month, or the digest's week
// when the month is younger: never more than 31 days, whatever is older.
func TestManagementWindow(t *testing.T) {
	cases := []struct {
		name   string
		at     time.Duration // after the simulator's start, Tuesday 31 March 12:00 UTC
		oldest string        // the oldest day read
		rows   int
	}{
		{"end of the month: the month", 0, "2026-03-01", 2 * 30},
		{"start of the month: 8 days", 48 * time.Hour, "2026-03-25", 2 * 6}, // 2 April: 25–30 March are seeded
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCostSim(t, 2, 45, 0, false) // seeded back to mid-February
			clk := clock.NewFake(c.start.Add(tc.at))
			m := c.management(t, clk, ManagementOptions{})
			if _, err := m.Refresh(context.Background(), c.ids(), time.UTC); err != nil {
				t.Fatal(err)
			}
			if st := m.LastRead(); st.Rows != tc.rows {
				t.Errorf("read %d rows, want %d", st.Rows, tc.rows)
			}
			old, _ := time.Parse("2006-01-02", tc.oldest)
			if _, _, ok := m.Daily(setID(1), tc.oldest); !ok {
				t.Errorf("%s not read", tc.oldest)
			}
			before := old.AddDate(0, 0, -1).Format("2006-01-02")
			if _, _, ok := m.Daily(setID(1), before); ok {
				t.Errorf("%s read: the window is too wide", before)
			}
		})
	}
}

// TestBudgetAlertAndDigestAgree: the daily budget alert and the digest give
// one figure for a day. While Cost Management has only part of the day (it
// lags, and a refresh may be hours old) both give the estimate, the digest
// with Cost Management's figure so far beside it; once that figure is final
// the digest gives it, as Cost Management's.
func TestBudgetAlertAndDigestAgree(t *testing.T) {
	ctx := context.Background()
	c := newCostSim(t, 1, 3, 0, true) // cost-0001: costOf(1, 0) = $1.00 so far today, as Cost Management has it
	day := dayBefore(c.start, 0)
	midnight, _ := time.Parse("2006-01-02", day)
	clk := clock.NewFake(midnight)
	m := c.management(t, clk, ManagementOptions{})
	cfg := Settings{Prices: map[string]float64{"Standard_D4s_v5": 0.5}, Budgets: []Budget{{Pools: []string{"cost-*"}, Daily: 5}}}
	tr := NewTracker(TrackerOptions{Store: openStore(t), Clock: clk, Settings: cfg, Owner: "t", Management: m,
		Prices: NewPrices("http://127.0.0.1:1/unused", nil, cfg.Prices, "USD", clk)})
	tr.SetScaleSet(poolName(1), "westeurope", "Standard_D4s_v5", setID(1))
	p := samplePool(poolName(1), 1, 0, 1)
	// One agent all day at $0.50 an hour; Cost Management read at 20:00.
	for clk.Now().Before(midnight.Add(23*time.Hour + 50*time.Minute)) {
		clk.Advance(10 * time.Minute)
		tr.Observe(ctx, clk.Now(), []Sample{{Pool: p}})
		if clk.Now().Equal(midnight.Add(20 * time.Hour)) {
			if err := tr.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	var alert Finding
	for _, f := range tr.Conditions(ctx, p, clk.Now()) {
		if f.Condition == "budget-daily" {
			alert = f
		}
	}
	line := func() DigestLine {
		for _, l := range tr.DigestLines(ctx, day) {
			if l.Pool == poolName(1) {
				return l
			}
		}
		t.Fatalf("no digest line for %s", poolName(1))
		return DigestLine{}
	}
	l := line()
	est := (23 + 40.0/60) * 0.5 // from the first sample at 00:10 to 23:50: $11.83
	if l.Actual || !near(l.Cost, est) || !l.HasSoFar || !near(l.SoFar, costOf(1, 0)) {
		t.Errorf("digest line %+v, want the estimate %.2f with Cost Management's %.2f so far", l, est, costOf(1, 0))
	}
	want := fmt.Sprintf("%s has cost %s today, over its daily budget of $5.00", poolName(1), Money(l.Cost, "USD"))
	if alert.Summary != want {
		t.Errorf("alert %q\nwant    %q (the digest's figure)", alert.Summary, want)
	}
	if !strings.Contains(alert.Detail, "estimate: 23.7 instance-hours at $0.50 an hour; Azure Cost Management has $1.00 so far") {
		t.Errorf("alert detail %q does not say what the figure is", alert.Detail)
	}
	if got := FormatLine(l); !strings.Contains(got, "$11.83 est. (Cost Management so far: $1.00)") {
		t.Errorf("digest line %q", got)
	}
	// A day and more after the day ends, Cost Management's figure is final.
	clk.Advance(24*time.Hour + 20*time.Minute)
	if err := tr.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if l := line(); !l.Actual || !near(l.Cost, costOf(1, 0)) || !strings.Contains(FormatLine(l), " $1.00 · ") {
		t.Errorf("after it settled: %+v %q, want Cost Management's $1.00", l, FormatLine(l))
	}
	if c := tr.DayCost(ctx, poolName(1), day); !c.Actual || !strings.Contains(c.Explain(), "from Azure Cost Management") {
		t.Errorf("DayCost %+v: %s", c, c.Explain())
	}
}
