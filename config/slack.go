package config

// Slack is the Slack app: how requests arrive and where messages go.
type Slack struct {
	Mode          string `toml:"mode"` // "http" (default) or "socket"
	SigningSecret Secret `toml:"signing_secret"`
	BotToken      Secret `toml:"bot_token"`
	AppToken      Secret `toml:"app_token"` // xapp-…, Socket Mode
	// APIURL points slack-go at another server (tests, a proxy);
	// default https://slack.com/api/.
	APIURL string `toml:"api_url"`
	// Channel receives changes and alerts not routed elsewhere.
	Channel string `toml:"channel"`
	// OpsChannel is told when Slack refuses messages for good (dead
	// letters); empty: only the log, /readyz and /metrics say so.
	OpsChannel string `toml:"ops_channel"`
	Workers    int    `toml:"workers"` // commands run at once (default 8)
	Queue      int    `toml:"queue"`   // commands waiting (default 64)
	// ResponseURLHosts are hosts (host or host:port) beside
	// https://hooks.slack.com that a request's response_url may point at:
	// a local Slack for the demo and tests. Any other is refused.
	ResponseURLHosts []string `toml:"response_url_hosts"`
}

// Role grants a role to Slack users, user groups and channels, optionally
// only for some pools.
type Role struct {
	Name     string   `toml:"name"` // viewer, operator or admin
	Users    []string `toml:"users"`
	Groups   []string `toml:"groups"`
	Channels []string `toml:"channels"`
	Pools    []string `toml:"pools"` // globs; empty: every pool
}

// Template is what `create` builds a scale set from.
type Template struct {
	Name                 string   `toml:"name"`
	OS                   string   `toml:"os"`
	SKU                  string   `toml:"sku"`
	Image                string   `toml:"image"`
	Region               string   `toml:"region"`
	ResourceGroup        string   `toml:"resource_group"`
	SubnetID             string   `toml:"subnet_id"`
	EphemeralOSDisk      bool     `toml:"ephemeral_os_disk"`
	AdminUser            string   `toml:"admin_user"`
	SSHPublicKey         string   `toml:"ssh_public_key"`
	AdminPassword        Secret   `toml:"admin_password"`
	Standby              int      `toml:"standby"`
	Max                  int      `toml:"max"`
	TTLMinutes           int      `toml:"ttl"`
	Recycle              bool     `toml:"recycle"`
	ServiceEndpointID    string   `toml:"service_endpoint_id"`
	ServiceEndpointScope string   `toml:"service_endpoint_scope"`
	ProjectID            string   `toml:"project_id"`
	Channel              string   `toml:"channel"`
	Tags                 []string `toml:"tags"` // "key=value"
}
