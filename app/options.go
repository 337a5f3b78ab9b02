package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/cost"
	"github.com/poolbot/poolbot/scheduler"
	"github.com/poolbot/poolbot/store"
	"github.com/poolbot/poolbot/watch"
)

// Packages below app take options of their own, translated here, once,
// from the loaded configuration (whose defaults config applied when it
// read the file, or, for [[images]], gives through Image.Defaults). Only
// app and cmd/poolbot import config.

// NewAzure builds the Azure DevOps and Azure client the [azure_devops] and
// [azure] sections describe; opts change its options (the app's clock,
// say) before it is made.
func NewAzure(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts ...func(*azure.Options)) (*azure.Client, error) {
	d, a := cfg.DevOps, cfg.Azure
	o := azure.Options{
		OrganizationURL:    d.OrganizationURL,
		ResourceManagerURL: a.ResourceManagerURL,
		Subscription:       a.Subscription,
		ResourceGroup:      a.ResourceGroup,
		Concurrency:        d.Concurrency,
		Logger:             logger,
	}
	for _, f := range opts {
		f(&o)
	}
	return azure.NewWithAuth(ctx, o, azure.Auth{
		DevOps: d.Auth, PAT: d.PAT.Value(),
		ARM: a.Auth, TenantID: a.TenantID, ClientID: a.ClientID, ClientSecret: a.ClientSecret.Value(),
		StaticToken: a.StaticToken.Value(),
	})
}

// costSettings are the cost tracker's part of [cost].
func costSettings(c config.Cost) cost.Settings {
	s := cost.Settings{Currency: c.Currency, Prices: c.Prices, DigestCron: c.DigestCron,
		DigestTimeZone: c.DigestTimeZone, DigestChannel: c.DigestChannel}
	for _, b := range c.Budgets {
		s.Budgets = append(s.Budgets, cost.Budget{Pools: b.Pools, Daily: b.Daily, Monthly: b.Monthly})
	}
	return s
}

// watchAlerts are the watcher's [alerts].
func watchAlerts(c config.Alerts) watch.Alerts {
	a := watch.Alerts{Interval: c.Interval.Duration, RepeatInterval: c.RepeatInterval.Duration,
		StuckAfter: c.StuckAfter.Duration, OfflineAfter: c.OfflineAfter.Duration,
		SaturatedAfter: c.SaturatedAfter.Duration, WaitP95: c.WaitP95.Duration}
	for _, r := range c.Routes {
		a.Routes = append(a.Routes, watch.Route{Pools: r.Pools, Channel: r.Channel})
	}
	for _, w := range c.Waits {
		a.Waits = append(a.Waits, watch.WaitObjective{Pools: w.Pools, P95: w.P95.Duration})
	}
	a.ImageMaxAge, a.AgentUpdateAfter = c.ImageMaxAge.Duration, c.AgentUpdateAfter.Duration
	for _, ia := range c.ImageAges {
		a.ImageAges = append(a.ImageAges, watch.ImageAge{Pools: ia.Pools, MaxAge: ia.MaxAge.Duration})
	}
	return a
}

// Schedules are the scheduler's [[schedules]].
func Schedules(cfg *config.Config) []scheduler.Schedule {
	var out []scheduler.Schedule
	for _, c := range cfg.Schedules {
		sc := scheduler.Schedule{Name: c.Name, Pools: c.Pools, TimeZone: c.TimeZone, Skip: c.Skip, Correct: c.Correct,
			Channel: c.Channel, Mode: c.Mode, Preference: c.Preference, MinStandby: c.MinStandby, MaxStandby: c.MaxStandby,
			WorkingHours: c.WorkingHours, WorkingDays: c.WorkingDays, ColdStart: c.ColdStart.Duration}
		for _, e := range c.Entries {
			sc.Entries = append(sc.Entries, scheduler.Entry{Cron: e.Cron, Standby: e.Standby, Max: e.Max, TTL: e.TTL, Restore: e.Restore})
		}
		out = append(out, sc)
	}
	return out
}

// ValidateSchedules checks cfg's schedules as scheduler.Validate does,
// each error naming the file, line and key as config's do.
func ValidateSchedules(cfg *config.Config) []error {
	return scheduleErrors(cfg, scheduler.Validate(Schedules(cfg)))
}

// CheckSchedulePools checks cfg's schedules against the pools that exist
// (scheduler.CheckPools), each error naming the file, line and key.
func CheckSchedulePools(cfg *config.Config, pools []string) []error {
	return scheduleErrors(cfg, scheduler.CheckPools(Schedules(cfg), pools))
}

func scheduleErrors(cfg *config.Config, probs []scheduler.Problem) []error {
	var errs []error
	for _, p := range probs {
		errs = append(errs, cfg.KeyError(fmt.Sprintf("schedules[%d].%s", p.Schedule, p.Key), "%s", p.Msg))
	}
	return errs
}

// StoreDatabase is the store [store] names.
func StoreDatabase(c config.Store) store.Database {
	return store.Database{Driver: c.Driver, Path: c.Path, DSN: c.DSN.Value()}
}

// grants are commands' [[roles]].
func grants(roles []config.Role) []commands.Grant {
	var out []commands.Grant
	for _, r := range roles {
		out = append(out, commands.Grant{Role: r.Name, Users: r.Users, Groups: r.Groups, Channels: r.Channels, Pools: r.Pools})
	}
	return out
}

// templates are create's [[templates]].
func templates(ts []config.Template) []commands.Template {
	var out []commands.Template
	for _, t := range ts {
		out = append(out, commands.Template{Name: t.Name, OS: t.OS, SKU: t.SKU, Image: t.Image, Region: t.Region,
			ResourceGroup: t.ResourceGroup, SubnetID: t.SubnetID, EphemeralOSDisk: t.EphemeralOSDisk, AdminUser: t.AdminUser,
			SSHPublicKey: t.SSHPublicKey, AdminPassword: commands.Password(t.AdminPassword.Value()), Standby: t.Standby,
			Max: t.Max, TTLMinutes: t.TTLMinutes, Recycle: t.Recycle, ServiceEndpointID: t.ServiceEndpointID,
			ServiceEndpointScope: t.ServiceEndpointScope, ProjectID: t.ProjectID, Channel: t.Channel, Tags: t.Tags})
	}
	return out
}

// images are commands' [[images]], their defaults applied.
func images(ims []config.Image) []commands.Image {
	var out []commands.Image
	for _, im := range ims {
		im = im.Defaults()
		out = append(out, commands.Image{Pool: im.Pool, Project: im.Project, Pipeline: im.Pipeline, Rollout: im.Rollout,
			Canary: im.Canary, Batch: im.Batch, OnlineWithin: im.OnlineWithin.Duration, Watch: im.Watch.Duration,
			MaxFailureIncrease: im.MaxFailureIncrease, MinJobs: im.MinJobs})
	}
	return out
}
