package app

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/managed"
)

// buildManaged puts the [[managed]] pools beside the elastic ones: a
// Router sends each pool's calls to its kind. Pools whose standby is handed
// to the service get their scheme written by a leader task.
func (a *App) buildManaged() error {
	cfg := a.cfg
	if len(cfg.Managed) == 0 {
		return nil
	}
	if a.azure == nil || a.azure.ARMCredential() == nil {
		return cfg.KeyError("managed", "Managed DevOps Pools need [azure] with a credential")
	}
	var ids, groups []string
	handed := map[string]managed.Scheme{} // pool name → the scheme the service follows
	for i, m := range cfg.Managed {
		k := fmt.Sprintf("managed[%d]", i)
		switch {
		case (m.Pool == "") == (m.ResourceGroup == ""):
			return cfg.KeyError(k, "give pool (a resource id) or resource_group, not both or neither")
		case m.Pool != "":
			rid, err := managed.ParsePoolID(m.Pool)
			if err != nil {
				return cfg.KeyError(k+".pool", "%v", err)
			}
			ids = append(ids, m.Pool)
			sc, err := standbyScheme(cfg, rid.Name, m.Standby)
			if err != nil {
				return cfg.KeyError(k+".standby", "%v", err)
			}
			if sc != nil {
				handed[rid.Name] = *sc
			}
		default:
			groups = append(groups, m.ResourceGroup)
			if m.Standby != "" && m.Standby != "poolbot" {
				return cfg.KeyError(k+".standby", "a resource group's pools keep standby = \"poolbot\"; hand one pool's standby to the service in a [[managed]] entry of its own")
			}
		}
	}
	mc, err := managed.New(managed.Options{
		Credential: a.azure.ARMCredential(), ARM: a.azure.ARMOptions(),
		Pools: ids, ResourceGroups: groups,
		Claimed: func(name string) bool { return scheduled(cfg, name) },
		Now:     a.clock.Now, Logger: a.log.With("part", "managed"),
	})
	if err != nil {
		return cfg.KeyError("managed", "%v", err)
	}
	a.service = managed.NewRouter(a.service, mc)
	if len(handed) > 0 {
		a.parts.leader = append(a.parts.leader, task{name: "managed-standby", run: func(ctx context.Context) error {
			return handOver(ctx, a, mc, handed)
		}})
	}
	a.part("managed")
	return nil
}

// handOver writes the schemes of the pools whose standby the service
// follows, at the start and every hour (writing nothing when they hold).
func handOver(ctx context.Context, a *App, mc *managed.Client, handed map[string]managed.Scheme) error {
	for {
		for name, sc := range handed {
			if err := mc.SetScheme(ctx, name, sc); err != nil {
				a.log.Warn("could not hand standby to the service", "pool", name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.clock.After(time.Hour):
		}
	}
}

// scheduled reports whether a schedule names the pool: a schedule claims
// the pool's standby.
func scheduled(cfg *config.Config, name string) bool {
	return scheduleOf(cfg, name) != nil
}

func scheduleOf(cfg *config.Config, name string) *config.Schedule {
	for i, sc := range cfg.Schedules {
		for _, g := range sc.Pools {
			if ok, _ := path.Match(strings.ToLower(g), strings.ToLower(name)); ok {
				return &cfg.Schedules[i]
			}
		}
	}
	return nil
}

// standbyScheme reads a [[managed]] standby: nil for "poolbot".
func standbyScheme(cfg *config.Config, name, mode string) (*managed.Scheme, error) {
	switch {
	case mode == "" || mode == "poolbot":
		return nil, nil
	case mode == "schedule":
		sc := scheduleOf(cfg, name)
		if sc == nil {
			return nil, fmt.Errorf("standby = \"schedule\" but no [[schedules]] names the pool %s", name)
		}
		days, zone, err := managed.WeekFromCron(cronStandby(sc), sc.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %v", sc.Name, err)
		}
		return &managed.Scheme{Days: days, TimeZone: zone}, nil
	case strings.HasPrefix(mode, "automatic:"):
		pref := strings.TrimPrefix(mode, "automatic:")
		for _, p := range managed.Preferences {
			if strings.EqualFold(p, pref) {
				if sc := scheduleOf(cfg, name); sc != nil && len(cronStandby(sc)) > 0 {
					return nil, fmt.Errorf("the service predicts standby, but schedule %q sets it too; they would fight", sc.Name)
				}
				return &managed.Scheme{Automatic: true, Preference: p}, nil
			}
		}
		return nil, fmt.Errorf("%q is not one of automatic:%s", pref, strings.Join(managed.Preferences, ", automatic:"))
	}
	return nil, fmt.Errorf("%q is not \"poolbot\", \"schedule\" or \"automatic:PREFERENCE\"", mode)
}

func cronStandby(sc *config.Schedule) []managed.CronStandby {
	var out []managed.CronStandby
	for _, e := range sc.Entries {
		if e.Standby != nil {
			out = append(out, managed.CronStandby{Cron: e.Cron, Standby: *e.Standby})
		}
	}
	return out
}
