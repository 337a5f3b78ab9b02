package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"

	"github.com/poolbot/poolbot/app"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/managed"
	"github.com/poolbot/poolbot/pool"
)

const migrateUsage = "Usage: poolbot migrate plan --config FILE --pool P [--name N] [--resource-group RG] [--project ID] [--apply]"

func runMigrate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "plan" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, migrateUsage)
			return flag.ErrHelp
		}
		fmt.Fprintln(stderr, migrateUsage)
		return errors.New("unknown or missing subcommand (want plan)")
	}
	fs := flag.NewFlagSet("migrate plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `file`")
	name := fs.String("pool", "", "the scale-set (elastic) `pool` to migrate")
	newName := fs.String("name", "", "the Managed DevOps Pool's `name` (default: the pool's, with -managed; Azure DevOps holds one agent pool per name)")
	group := fs.String("resource-group", "", "resource `group` of the new pool (default: [azure] resource_group)")
	project := fs.String("project", "", "Dev Center project resource `id` the pool belongs to (required with --apply)")
	apply := fs.Bool("apply", false, "create the pool, after confirmation on the terminal")
	fs.Usage = func() {
		fmt.Fprintln(stderr, migrateUsage+`

Reads a scale-set pool and prints the Managed DevOps Pools resource that
matches it: standby as an all-week scheme, or as a week from the pool's
poolbot schedule; max VMs as maximum agents; the idle delay (ttl) as the
grace period of a stateful pool. It says what does not carry over and checks
the region's Managed DevOps Pools quota for the VM size. With --apply it
creates the pool once you type its name.`)
		fs.PrintDefaults()
	}
	cfg, err := parseConfig(fs, args[1:], cfgPath)
	if err != nil {
		return err
	}
	if *name == "" {
		fs.Usage()
		return errors.New("--pool is required")
	}
	if *apply && *project == "" {
		return errors.New("--apply needs --project, the Dev Center project the Managed DevOps Pool belongs to")
	}
	az, err := app.NewAzure(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	p, err := az.Get(ctx, *name)
	if err != nil {
		return err
	}
	if p.ScaleSet == nil {
		return fmt.Errorf("pool %s has no scale set poolbot can read", p.Name)
	}
	target := orDefault(*newName, p.Name+"-managed")
	// The managed pool is also an Azure DevOps agent pool of its name.
	pools, err := az.List(ctx, pool.ListOptions{})
	if err != nil {
		return err
	}
	for _, o := range pools {
		if strings.EqualFold(o.Name, target) {
			return fmt.Errorf("Azure DevOps already has an agent pool named %s; give the managed pool another --name. Nothing was changed", o.Name)
		}
	}
	plan, err := planFor(cfg, p, target, orDefault(*group, cfg.Azure.ResourceGroup), *project)
	if err != nil {
		return err
	}
	mc, err := managed.New(managed.Options{Credential: az.ARMCredential(), ARM: az.ARMOptions()})
	if err != nil {
		return err
	}
	usages, err := mc.Usages(ctx, cfg.Azure.Subscription, p.ScaleSet.Region)
	if err != nil {
		return err
	}
	quotaLine, quotaErr := checkQuota(usages, p.ScaleSet.SKU, p.ScaleSet.Region, p.Max)
	plan.notes = append(plan.notes, quotaLine)

	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(plan.body)
	fmt.Fprintf(stdout, "Managed DevOps Pool for %s:\nPUT %s?api-version=%s\n%s\n", p.Name, plan.id, managed.APIVersion, b.String())
	fmt.Fprintln(stdout, "Carries over:")
	for _, l := range plan.carried {
		fmt.Fprintln(stdout, "  - "+l)
	}
	fmt.Fprintln(stdout, "Does not carry over:")
	for _, l := range plan.lost {
		fmt.Fprintln(stdout, "  - "+l)
	}
	for _, l := range plan.notes {
		fmt.Fprintln(stdout, l)
	}
	if quotaErr != nil {
		return quotaErr
	}
	if !*apply {
		fmt.Fprintln(stdout, "Nothing was changed; run again with --apply --project ID to create it.")
		return nil
	}
	rid, _ := managed.ParsePoolID(plan.id)
	fmt.Fprintf(stdout, "Type the pool's name (%s) to create it: ", rid.Name)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	if strings.TrimSpace(line) != rid.Name {
		return errors.New("not confirmed; nothing was changed")
	}
	if err := mc.CreateResource(ctx, plan.id, plan.body); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created %s. Add it to poolbot's configuration:\n\n[[managed]]\npool = %q\n", rid.Name, plan.id)
	return nil
}

type migration struct {
	id            string
	body          map[string]any
	carried, lost []string
	notes         []string
}

// planFor builds the Managed DevOps Pools resource that matches the elastic pool p.
func planFor(cfg *config.Config, p pool.Pool, name, group, project string) (*migration, error) {
	ss := p.ScaleSet
	m := &migration{id: fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s", cfg.Azure.Subscription, group, managed.ResourceType, name)}
	if _, err := managed.ParsePoolID(m.id); err != nil {
		return nil, fmt.Errorf("the new pool's resource id: %w", err)
	}
	agent := map[string]any{"kind": "Stateless"}
	if !p.Recycle {
		agent = map[string]any{"kind": "Stateful", "maxAgentLifetime": "7.00:00:00", "gracePeriodTimeSpan": span(p.TTLMinutes)}
		m.carried = append(m.carried, fmt.Sprintf("agents kept between jobs (recycle=false), deleted after %d idle minutes (ttl) → Stateful, grace period %s", p.TTLMinutes, span(p.TTLMinutes)))
	} else {
		m.carried = append(m.carried, "a fresh agent per job (recycle=true) → Stateless")
		if p.TTLMinutes > 0 {
			m.lost = append(m.lost, fmt.Sprintf("ttl %d min: a stateless managed pool returns each agent after its job, so there is no idle delay", p.TTLMinutes))
		}
	}
	agent["resourcePredictionsProfile"] = map[string]any{"kind": "Manual"}
	tag := "manual"
	if sc := scheduleFor(cfg, p.Name); sc != nil && len(standbyEntries(sc)) > 0 {
		days, zone, err := managed.WeekFromCron(standbyEntries(sc), sc.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %w", sc.Name, err)
		}
		agent["resourcePredictions"] = map[string]any{"timeZone": zone, "daysData": days}
		tag = "days"
		m.carried = append(m.carried, fmt.Sprintf("standby from schedule %q → a daysData week in %s, which the service follows", sc.Name, zone))
		m.lost = append(m.lost, fmt.Sprintf("schedule %q's max and ttl entries, holidays and overrides: keep the pool in the schedule for those, with [[managed]] standby = \"schedule\"", sc.Name))
	} else {
		agent["resourcePredictions"] = map[string]any{"timeZone": "UTC", "daysData": []map[string]int{{"00:00:00": p.Standby}}}
		m.carried = append(m.carried, fmt.Sprintf("standby %d → an all-week scheme of %d agents", p.Standby, p.Standby))
	}
	m.carried = append(m.carried, fmt.Sprintf("max %d VMs → maximumConcurrency %d agents", p.Max, p.Max))
	img := map[string]any{"buffer": "*"}
	switch {
	case ss.Image.ID != "":
		img["resourceId"] = ss.Image.ID
		m.notes = append(m.notes, "The compute gallery must grant the DevOpsInfrastructure service principal Reader on the image.")
	default:
		img["resourceId"] = "/" + ss.Image.Publisher + "/" + ss.Image.Offer + "/" + ss.Image.SKU + "/" + ss.Image.Version
	}
	m.carried = append(m.carried, fmt.Sprintf("image %s and VM size %s in %s", ss.Image.Short(), ss.SKU, ss.Region))
	m.lost = append(m.lost,
		"\"keep unhealthy agents for investigation\" (saved nodes): Managed DevOps Pools have no such setting",
		"VM extensions of the scale set: install their tools in the image instead",
		"the scale set's network: give fabricProfile.networkProfile.subnetId a subnet delegated to Microsoft.DevOpsInfrastructure/pools if agents need your network",
		"scale-out speed: a managed pool adds agents one at a time")
	if project == "" {
		project = "<your Dev Center project resource id>"
	}
	m.body = map[string]any{
		"location": ss.Region,
		"tags":     map[string]string{"poolbot-standby": tag, "poolbot-migrated-from": p.Name},
		"properties": map[string]any{
			"maximumConcurrency":         p.Max,
			"devCenterProjectResourceId": project,
			"organizationProfile": map[string]any{"kind": "AzureDevOps", "organizations": []map[string]any{
				{"url": strings.TrimRight(cfg.DevOps.OrganizationURL, "/")}}},
			"agentProfile": agent,
			"fabricProfile": map[string]any{
				"kind": "Vmss", "sku": map[string]string{"name": ss.SKU}, "images": []any{img},
				"osProfile":      map[string]any{"logonType": "Service"},
				"storageProfile": map[string]any{"osDiskStorageAccountType": "Standard"},
			},
		},
	}
	return m, nil
}

func span(mins int) string {
	return fmt.Sprintf("%02d:%02d:00", mins/60, mins%60)
}

func scheduleFor(cfg *config.Config, name string) *config.Schedule {
	for i, sc := range cfg.Schedules {
		for _, g := range sc.Pools {
			if ok, _ := path.Match(strings.ToLower(g), strings.ToLower(name)); ok {
				return &cfg.Schedules[i]
			}
		}
	}
	return nil
}

func standbyEntries(sc *config.Schedule) []managed.CronStandby {
	var out []managed.CronStandby
	for _, e := range sc.Entries {
		if e.Standby != nil {
			out = append(out, managed.CronStandby{Cron: e.Cron, Standby: *e.Standby})
		}
	}
	return out
}

// checkQuota says whether the region's Managed DevOps Pools quota holds
// max agents of sku; the error, when it does not, changes nothing.
func checkQuota(usages []managed.Usage, sku, region string, max int) (string, error) {
	family, cores := managed.Family(sku)
	need := max * cores
	for _, u := range usages {
		if strings.EqualFold(u.Family, family) {
			line := fmt.Sprintf("Quota: %s in %s: %d of %d vCPUs in use; the pool needs up to %d (%d agents × %d).", family, region, u.Current, u.Limit, need, max, cores)
			if free := u.Limit - u.Current; need > free {
				return line, fmt.Errorf("not enough Managed DevOps Pools quota for %s in %s: %d vCPUs free, %d needed; request more for Microsoft.DevOpsInfrastructure, or lower max. Nothing was changed", family, region, free, need)
			}
			return line, nil
		}
	}
	line := fmt.Sprintf("Quota: %s has no Managed DevOps Pools quota in %s.", family, region)
	return line, fmt.Errorf("no Managed DevOps Pools quota for %s in %s: request some for Microsoft.DevOpsInfrastructure, or choose another VM size or region. Nothing was changed", family, region)
}
