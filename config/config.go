// Package config loads poolbot's TOML configuration. Unknown keys and wrong
// types are errors that name the file, the line and the key; secrets may be
// written as ${ENV_VAR} or file:/path and are never printed back.
package config

// Config is the whole configuration file. Each section's type lives in the
// file named for it.
type Config struct {
	// Path is the file the configuration was loaded from.
	Path string `toml:"-"`
	// lines is the line of each key in Path as it was loaded, for
	// KeyError.
	lines map[string]int

	DevOps    DevOps     `toml:"azure_devops"`
	Azure     Azure      `toml:"azure"`
	Slack     Slack      `toml:"slack"`
	Roles     []Role     `toml:"roles"`
	Templates []Template `toml:"templates"`
	Images    []Image    `toml:"images"`
	Schedules []Schedule `toml:"schedules"`
	Managed   []Managed  `toml:"managed"`
	Alerts    Alerts     `toml:"alerts"`
	Cost      Cost       `toml:"cost"`
	History   History    `toml:"history"`
	Store     Store      `toml:"store"`
	Server    Server     `toml:"server"`
	Log       Log        `toml:"log"`
}

// DevOps is the Azure DevOps organization and how to reach it.
type DevOps struct {
	// OrganizationURL is https://dev.azure.com/{org}, or the simulator's.
	OrganizationURL string `toml:"organization_url"`
	// Auth is "pat" or "entra" (Microsoft Entra ID through azidentity's
	// DefaultAzureCredential).
	Auth string `toml:"auth"`
	PAT  Secret `toml:"pat"`
	// Concurrency bounds the calls made at once (default 8).
	Concurrency int `toml:"concurrency"`
	// SnapshotMaxAge is how long a read of the pools is shared by list,
	// status, schedule, the Home tab and the watcher before it is read
	// again (default 5s); a change through poolbot reads it again at once.
	SnapshotMaxAge Duration `toml:"snapshot_max_age"`
	// PoolURL is the pattern of a pool's page, for alert buttons; {id} is
	// replaced. Default: {organization_url}/_settings/agentpools?poolId={id}.
	PoolURL string `toml:"pool_url"`
}

// Azure is Azure Resource Manager: where scale sets live.
type Azure struct {
	// ResourceManagerURL defaults to https://management.azure.com.
	ResourceManagerURL string `toml:"resource_manager_url"`
	Subscription       string `toml:"subscription"`
	ResourceGroup      string `toml:"resource_group"`
	// Auth is "default" (DefaultAzureCredential), "client_secret", or
	// "static" (a fixed bearer token, for the simulator).
	Auth         string `toml:"auth"`
	TenantID     string `toml:"tenant_id"`
	ClientID     string `toml:"client_id"`
	ClientSecret Secret `toml:"client_secret"`
	StaticToken  Secret `toml:"static_token"`
	// RetailPricesURL defaults to https://prices.azure.com/api/retail/prices.
	RetailPricesURL string `toml:"retail_prices_url"`
}

// Store says where poolbot keeps its state.
type Store struct {
	Driver string `toml:"driver"` // "sqlite" (default) or "postgres"
	Path   string `toml:"path"`   // sqlite file, default poolbot.db
	DSN    Secret `toml:"dsn"`    // postgres
}

// Server is the HTTP listener for Slack, /metrics, /healthz and /readyz.
type Server struct {
	Listen          string   `toml:"listen"` // default 127.0.0.1:3000
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// MetricsListen, when set, serves /metrics, /healthz and /readyz on
	// their own listener; Listen then serves only /slack/*.
	MetricsListen string `toml:"metrics_listen"`
	// ReadTimeout bounds reading a whole request, body included (default
	// 10s); WriteTimeout writing its answer (default 10s); IdleTimeout how
	// long a keep-alive connection waits for its next request (default 60s).
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	IdleTimeout  Duration `toml:"idle_timeout"`
	// ReplicaID names this replica in leases and claims; it must stay the
	// same across restarts so that a restart takes its leases back at once.
	// Default: $POD_NAME, else an id kept in a file beside the SQLite store,
	// else the host name.
	ReplicaID string `toml:"replica_id"`
}

// Log sets the logger.
type Log struct {
	Format string `toml:"format"` // "json" (default for serve) or "text"
	Level  string `toml:"level"`  // debug, info, warn, error
}
