package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/poolbot/poolbot/pool"
)

func serve(t *testing.T, m *Metrics) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	m.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestScrapeShowsFigures(t *testing.T) {
	m := New()
	m.SetPools([]pool.Pool{
		{Name: "linux-ci", State: pool.StateOnline, Standby: 2, Max: 10, Nodes: []pool.Node{
			{State: pool.NodeIdle}, {State: pool.NodeIdle}, {State: pool.NodeAssigned}, {State: pool.NodeFailedVMPendingDelete},
		}},
		{Name: "gpu-nightly", State: pool.StateUnhealthy, Standby: 0, Max: 2},
	})
	m.SetNodes("gpu-nightly", []pool.Node{{State: pool.NodeOffline}, {State: pool.NodeLost}})
	m.SetCost("linux-ci", 12.5)
	m.SetCurrency("EUR")
	m.ObserveCommand("status", "ok", 30*time.Millisecond)
	m.ObserveCommand("status", "ok", 10*time.Millisecond)
	m.ObserveCommand("up", "denied", time.Millisecond)
	m.ScheduleApplied("linux-ci", "ok")
	m.SetLeader(true)
	m.TrackAPI(DevOps, func() APIStats { return APIStats{Calls: 40, Errors: 1, Throttled: 2, Retries: 3} })
	m.Retried(Slack)
	m.TrackAlerts(func() []pool.Alert {
		return []pool.Alert{
			{Pool: "gpu-nightly", Condition: "failed_nodes", Severity: "critical", Firing: true},
			{Pool: "linux-ci", Condition: "offline", Severity: "warning", Firing: false},
		}
	})
	srv := serve(t, m)

	want := `
# HELP poolbot_pool_agents Agents of a pool by state (idle, busy, starting, offline, failed, going).
# TYPE poolbot_pool_agents gauge
poolbot_pool_agents{pool="gpu-nightly",state="busy"} 0
poolbot_pool_agents{pool="gpu-nightly",state="failed"} 1
poolbot_pool_agents{pool="gpu-nightly",state="going"} 0
poolbot_pool_agents{pool="gpu-nightly",state="idle"} 0
poolbot_pool_agents{pool="gpu-nightly",state="offline"} 1
poolbot_pool_agents{pool="gpu-nightly",state="starting"} 0
poolbot_pool_agents{pool="linux-ci",state="busy"} 1
poolbot_pool_agents{pool="linux-ci",state="failed"} 1
poolbot_pool_agents{pool="linux-ci",state="going"} 0
poolbot_pool_agents{pool="linux-ci",state="idle"} 2
poolbot_pool_agents{pool="linux-ci",state="offline"} 0
poolbot_pool_agents{pool="linux-ci",state="starting"} 0
# HELP poolbot_pool_standby A pool's standby agents setting (desiredIdle).
# TYPE poolbot_pool_standby gauge
poolbot_pool_standby{pool="gpu-nightly"} 0
poolbot_pool_standby{pool="linux-ci"} 2
# HELP poolbot_pool_max A pool's maximum agents (maxCapacity).
# TYPE poolbot_pool_max gauge
poolbot_pool_max{pool="gpu-nightly"} 2
poolbot_pool_max{pool="linux-ci"} 10
# HELP poolbot_pool_estimated_cost_today A pool's estimated cost so far today.
# TYPE poolbot_pool_estimated_cost_today gauge
poolbot_pool_estimated_cost_today{currency="EUR",pool="linux-ci"} 12.5
# HELP poolbot_commands_total Commands handled, by command and result.
# TYPE poolbot_commands_total counter
poolbot_commands_total{command="status",result="ok"} 2
poolbot_commands_total{command="up",result="denied"} 1
# HELP poolbot_schedule_changes_applied_total Scheduled changes applied, by pool and result.
# TYPE poolbot_schedule_changes_applied_total counter
poolbot_schedule_changes_applied_total{pool="linux-ci",result="ok"} 1
# HELP poolbot_leader 1 while this replica is the leader (runs the scheduler, the watcher and the outbox sender).
# TYPE poolbot_leader gauge
poolbot_leader 1
# HELP poolbot_api_calls_total Calls made to an API (devops, arm, slack).
# TYPE poolbot_api_calls_total counter
poolbot_api_calls_total{api="arm"} 0
poolbot_api_calls_total{api="devops"} 40
poolbot_api_calls_total{api="slack"} 0
# HELP poolbot_api_retries_total Calls to an API retried.
# TYPE poolbot_api_retries_total counter
poolbot_api_retries_total{api="arm"} 0
poolbot_api_retries_total{api="devops"} 3
poolbot_api_retries_total{api="slack"} 1
# HELP poolbot_alerts_firing Alerts firing, by pool, condition and severity.
# TYPE poolbot_alerts_firing gauge
poolbot_alerts_firing{condition="failed_nodes",pool="gpu-nightly",severity="critical"} 1
`
	if err := testutil.ScrapeAndCompare(srv.URL+"/metrics", strings.NewReader(want),
		"poolbot_pool_agents", "poolbot_pool_standby", "poolbot_pool_max", "poolbot_pool_estimated_cost_today",
		"poolbot_commands_total", "poolbot_schedule_changes_applied_total", "poolbot_leader",
		"poolbot_api_calls_total", "poolbot_api_retries_total", "poolbot_alerts_firing"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.commandSeconds, "poolbot_command_duration_seconds"); n != 2 {
		t.Errorf("latency histograms: %d, want one per command (2)", n)
	}

	// A pool that disappears from the list disappears from /metrics.
	m.SetPools([]pool.Pool{{Name: "linux-ci", Standby: 0, Max: 10}})
	body := get(t, srv.URL+"/metrics", http.StatusOK)
	if strings.Contains(body, "gpu-nightly\"") && strings.Contains(body, `poolbot_pool_max{pool="gpu-nightly"}`) {
		t.Errorf("gpu-nightly still exported after it left the list")
	}
	if !strings.Contains(body, `poolbot_pool_agents{pool="linux-ci",state="idle"} 2`) {
		t.Errorf("linux-ci lost its last counts when listed without nodes:\n%s", body)
	}
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Errorf("runtime and process collectors missing")
	}
}

func TestTransportCountsSlackCalls(t *testing.T) {
	codes := []int{200, 429, 500, 200}
	i := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(codes[i%len(codes)])
		i++
	}))
	defer up.Close()
	m := New()
	c := &http.Client{Transport: m.Transport(Slack, nil)}
	for range codes {
		resp, err := c.Get(up.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	up.Close()
	if _, err := c.Get(up.URL); err == nil {
		t.Fatal("a closed server answered")
	}
	got := m.APIStats(Slack)
	want := APIStats{Calls: 5, Errors: 2, Throttled: 1}
	if got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

func TestReadiness(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(m *Metrics)
		wantCode  int
		wantError string
	}{
		{"no checks", func(m *Metrics) {}, 200, ""},
		{"all pass", func(m *Metrics) {
			m.AddCheck("store", func(context.Context) error { return nil })
			m.Expect("slack")
			m.SetCheck("slack", nil)
		}, 200, ""},
		{"store down", func(m *Metrics) {
			m.AddCheck("store", func(context.Context) error { return errors.New("connection refused") })
		}, 503, "connection refused"},
		{"slack never connected", func(m *Metrics) { m.Expect("slack") }, 503, ErrNotYet.Error()},
		{"devops failed last poll", func(m *Metrics) {
			m.SetCheck("devops", nil)
			m.SetCheck("devops", errors.New("throttled"))
		}, 503, "throttled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			tt.setup(m)
			srv := serve(t, m)
			if body := get(t, srv.URL+"/healthz", 200); body != "ok\n" {
				t.Errorf("healthz %q", body)
			}
			body := get(t, srv.URL+"/readyz", tt.wantCode)
			var r struct {
				Ready  bool
				Checks []CheckResult
			}
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatalf("readyz body %q: %v", body, err)
			}
			if r.Ready != (tt.wantCode == 200) {
				t.Errorf("ready %v with code %d", r.Ready, tt.wantCode)
			}
			if tt.wantError != "" && !strings.Contains(body, tt.wantError) {
				t.Errorf("readyz %s does not say %q", body, tt.wantError)
			}
		})
	}
}

func get(t *testing.T, url string, wantCode int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantCode {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, wantCode, b)
	}
	return string(b)
}
