package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestAdvisoryChecks: a failing advisory check (Slack's Web API in HTTP
// mode, refused outbox messages) is reported in /readyz's body and in
// /metrics but leaves the replica ready; a failing required check does not.
func TestAdvisoryChecks(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(m *Metrics)
		wantCode int
		body     []string
		metrics  []string
	}{
		{"advisory pushed check failing", func(m *Metrics) {
			m.AddCheck("store", func(context.Context) error { return nil })
			m.Expect("slack")
			m.SetAdvisory("slack", true)
			m.SetCheck("slack", errors.New("Slack auth.test: 503 Service Unavailable"))
		}, 200, []string{`"ready":true`, `"name":"slack","ok":false,"error":"Slack auth.test: 503 Service Unavailable","advisory":true`},
			[]string{`poolbot_ready_check{advisory="true",check="slack"} 0`, `poolbot_ready_check{advisory="false",check="store"} 1`}},
		{"advisory function failing", func(m *Metrics) {
			m.AddAdvisory("outbox", func(context.Context) error { return errors.New("2 messages refused by Slack") })
		}, 200, []string{`"ready":true`, `2 messages refused by Slack`}, []string{`poolbot_ready_check{advisory="true",check="outbox"} 0`}},
		{"advisory made required again", func(m *Metrics) {
			m.Expect("slack")
			m.SetAdvisory("slack", true)
			m.SetAdvisory("slack", false)
		}, 503, []string{`"ready":false`}, []string{`poolbot_ready_check{advisory="false",check="slack"} 0`}},
		{"required failing beside a passing advisory", func(m *Metrics) {
			m.AddCheck("store", func(context.Context) error { return errors.New("store file replaced") })
			m.AddAdvisory("outbox", func(context.Context) error { return nil })
		}, 503, []string{`"ready":false`, "store file replaced"}, []string{`poolbot_ready_check{advisory="false",check="store"} 0`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			tt.setup(m)
			srv := serve(t, m)
			body := get(t, srv.URL+"/readyz", tt.wantCode)
			for _, w := range tt.body {
				if !strings.Contains(body, w) {
					t.Errorf("readyz %s lacks %s", body, w)
				}
			}
			metrics := get(t, srv.URL+"/metrics", 200)
			for _, w := range tt.metrics {
				if !strings.Contains(metrics, w) {
					t.Errorf("metrics lack %s", w)
				}
			}
		})
	}
}

func TestRefusedCounter(t *testing.T) {
	m := New()
	m.Refused()
	m.Refused()
	m.SetRefusedKept(1)
	srv := serve(t, m)
	body := get(t, srv.URL+"/metrics", 200)
	for _, w := range []string{"poolbot_outbox_refused_total 2", "poolbot_outbox_refused_messages 1"} {
		if !strings.Contains(body, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}
