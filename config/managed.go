package config

// Managed names Managed DevOps Pools (Microsoft.DevOpsInfrastructure/pools)
// that poolbot runs beside the elastic pools it finds in Azure DevOps.
// Give Pool or ResourceGroup.
type Managed struct {
	// Pool is one pool's resource id:
	// /subscriptions/S/resourceGroups/RG/providers/Microsoft.DevOpsInfrastructure/pools/NAME.
	Pool string `toml:"pool"`
	// ResourceGroup is a resource group id (/subscriptions/S/resourceGroups/RG)
	// whose every Managed DevOps Pool is poolbot's.
	ResourceGroup string `toml:"resource_group"`
	// Standby says who sets the pools' standby agents: "poolbot" (the
	// default: commands and schedules write one Manual value), "schedule"
	// (the service follows a daysData week generated from the schedule that
	// names the pool), or "automatic:PREFERENCE" (the service predicts it;
	// MostCostEffective, MoreCostEffective, Balanced, MorePerformance or
	// BestPerformance).
	Standby string `toml:"standby"`
}
