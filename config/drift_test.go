package config

import (
	"strings"
	"testing"
	"time"
)

func TestDriftAlerts(t *testing.T) {
	c, err := parse("test.toml", []byte(minimal+`
[alerts]
image_max_age = "30d"
agent_update_after = "45m"

[[alerts.image_ages]]
pools = ["gpu-*"]
max_age = "90d"

[[alerts.image_ages]]
pools = ["sandbox-*"]
max_age = "0s"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Alerts.AgentUpdateAfter.Duration != 45*time.Minute {
		t.Errorf("agent_update_after %v", c.Alerts.AgentUpdateAfter)
	}
	day := 24 * time.Hour
	if c.Alerts.ImageMaxAge.Duration != 30*day || len(c.Alerts.ImageAges) != 2 ||
		c.Alerts.ImageAges[0].Pools[0] != "gpu-*" || c.Alerts.ImageAges[0].MaxAge.Duration != 90*day ||
		c.Alerts.ImageAges[1].Pools[0] != "sandbox-*" || c.Alerts.ImageAges[1].MaxAge.Duration != 0 {
		t.Errorf("image ages: %v, %+v", c.Alerts.ImageMaxAge, c.Alerts.ImageAges)
	}

	for _, tc := range []struct{ doc, want string }{
		{"[alerts]\nimage_max_age = \"30m\"\n", `test.toml:10: key alerts.image_max_age: must be at least 1d`},
		{"[alerts]\nimage_max_age = \"a month\"\n", `test.toml:10: key alerts.image_max_age`},
		{"[alerts]\nimage_max_age = 30\n", `test.toml:10: key alerts.image_max_age: must be a duration in quotes`},
		{"[alerts]\nagent_update_after = \"30s\"\n", `test.toml:10: key alerts.agent_update_after: must be at least 5m0s`},
		{"[[alerts.image_ages]]\nmax_age = \"7d\"\n", `alerts.image_ages[0].pools: required`},
		{"[[alerts.image_ages]]\npools = [\"x\"]\nmax_age = \"2h\"\n", `key alerts.image_ages[0].max_age: must be at least 1d`},
		{"[alerts]\nimage_max_ages = \"30d\"\n", `image_max_age`}, // did you mean
	} {
		_, err := parse("test.toml", []byte(minimal+tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}
