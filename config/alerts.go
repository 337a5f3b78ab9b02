package config

// Alerts configures the watcher and where its alerts go.
type Alerts struct {
	Interval       Duration `toml:"interval"`        // poll interval, default 60s
	RepeatInterval Duration `toml:"repeat_interval"` // default 4h
	StuckAfter     Duration `toml:"stuck_after"`     // nodes creating/starting longer, default 20m
	OfflineAfter   Duration `toml:"offline_after"`   // agents offline longer, default 15m
	SaturatedAfter Duration `toml:"saturated_after"` // jobs waiting at max longer, default 10m
	Routes         []Route  `toml:"routes"`
	// WaitP95 is every pool's wait objective: alert when the last hour's
	// p95 queue wait exceeds it. Zero: none. Waits override it per pool.
	WaitP95 Duration        `toml:"wait_p95"`
	Waits   []WaitObjective `toml:"waits"`
	// ImageMaxAge: alert when a pool's agents run a compute gallery image
	// version published longer ago than this. Zero: none. ImageAges
	// override it per pool.
	ImageMaxAge Duration   `toml:"image_max_age"`
	ImageAges   []ImageAge `toml:"image_ages"`
	// AgentUpdateAfter: alert when idle agents report an agent version
	// older than the newest any pool's agents run for longer than this (a
	// self-update slow or stuck). Zero: none.
	AgentUpdateAfter Duration `toml:"agent_update_after"`
}

// Route sends the alerts of some pools to a channel.
type Route struct {
	Pools   []string `toml:"pools"`
	Channel string   `toml:"channel"`
}

// Cost configures prices, budgets and the daily digest.
type Cost struct {
	Currency string `toml:"currency"` // default USD
	// Prices per instance-hour by SKU, overriding the Retail Prices API.
	Prices map[string]float64 `toml:"prices"`
	// CostManagement turns on Azure Cost Management queries (needs billing read access).
	CostManagement bool     `toml:"cost_management"`
	DigestCron     string   `toml:"digest_cron"` // e.g. "0 8 * * *"
	DigestTimeZone string   `toml:"digest_timezone"`
	DigestChannel  string   `toml:"digest_channel"`
	Budgets        []Budget `toml:"budgets"`
}

// Budget is what some pools may cost.
type Budget struct {
	Pools   []string `toml:"pools"`
	Daily   float64  `toml:"daily"`
	Monthly float64  `toml:"monthly"`
}
