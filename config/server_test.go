package config

import (
	"strings"
	"testing"
	"time"
)

// The listener's bounds have defaults, and a second listener and the
// response_url hosts are taken as written or refused with the key named.
func TestServerAndResponseURLKeys(t *testing.T) {
	c := mustParse(t, minimal)
	if c.Server.ReadTimeout.Duration != 10*time.Second || c.Server.WriteTimeout.Duration != 10*time.Second ||
		c.Server.IdleTimeout.Duration != 60*time.Second || c.Server.MetricsListen != "" || len(c.Slack.ResponseURLHosts) != 0 {
		t.Errorf("defaults: %+v, response_url_hosts %q", c.Server, c.Slack.ResponseURLHosts)
	}
	c = mustParse(t, minimal+`response_url_hosts = ["127.0.0.1:3001", "slack.internal"]
[server]
metrics_listen = "0.0.0.0:9090"
read_timeout = "2s"
write_timeout = "3s"
idle_timeout = "4s"
`)
	if c.Server.MetricsListen != "0.0.0.0:9090" || c.Server.ReadTimeout.Duration != 2*time.Second ||
		c.Server.WriteTimeout.Duration != 3*time.Second || c.Server.IdleTimeout.Duration != 4*time.Second ||
		strings.Join(c.Slack.ResponseURLHosts, ",") != "127.0.0.1:3001,slack.internal" {
		t.Errorf("as written: %+v, response_url_hosts %q", c.Server, c.Slack.ResponseURLHosts)
	}
	for _, tc := range []struct{ doc, want string }{
		{"[server]\nmetrics_listen = \"9090\"\n", `test.toml:10: key server.metrics_listen: "9090" is not host:port`},
		{"response_url_hosts = [\"https://hooks.example.com/x\"]\n", `test.toml:9: key slack.response_url_hosts[0]: "https://hooks.example.com/x" is not a host`},
		{"[server]\nidle_timeout = \"-1s\"\n", `test.toml:10: key server.idle_timeout: duration must not be negative`},
	} {
		_, err := parse("test.toml", []byte(minimal+tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}
