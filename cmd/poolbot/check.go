package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/robfig/cron/v3"

	"github.com/poolbot/poolbot/app"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/managed"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/store"
)

func runCheck(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file`")
	offline := fs.Bool("offline", false, "do not contact Azure DevOps to check pool names, globs and each pool's max")
	timeout := fs.Duration("timeout", 20*time.Second, "how long to wait for Azure DevOps")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: poolbot check --config FILE [--offline] [--timeout 20s]

Validates the configuration: syntax, keys and their types, secrets,
cron expressions (including the digest's, and ones that never fire), time
zones, overlapping schedules, [[managed]] resource ids, a schedule's standby above the max in force
and, when Azure DevOps is reachable, globs that match no pool (managed pools included) and pools
whose max is below a scheduled standby. Prints every problem, in the
order of the file's lines, as FILE:LINE: key K: reason, and exits 1.`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fs.Usage()
		return errors.New("--config is required")
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be above 0", *timeout)
	}
	cfg, errs := config.LoadAll(*path)
	if cfg == nil && len(errs) > 0 {
		return report(stderr, *path, errs)
	}
	errs = appendNew(errs, app.ValidateSchedules(cfg))
	if err := store.CheckPath(app.StoreDatabase(cfg.Store)); err != nil {
		errs = append(errs, fmt.Errorf("%s: [store] path: %w", cfg.Path, err))
	}
	errs = append(errs, managedErrors(cfg)...)
	checked := "pools not checked (--offline)"
	var maxes map[string]int
	if !*offline && len(cfg.Schedules) > 0 && reaching(errs) != "" {
		checked = "pools not checked: " + reaching(errs) + " has problems"
		fmt.Fprintln(stderr, "note:", checked)
	} else if !*offline && len(cfg.Schedules) > 0 {
		pools, err := listPools(ctx, cfg, *timeout)
		if err != nil {
			// Unreachable is not a config error: say what was not checked.
			checked = "pools not checked: Azure DevOps not reachable: " + err.Error()
			fmt.Fprintln(stderr, "note:", checked)
		} else {
			checked = fmt.Sprintf("%d pools in Azure DevOps", len(pools))
			names := make([]string, 0, len(pools))
			maxes = map[string]int{}
			for _, p := range pools {
				names = append(names, p.Name)
				maxes[p.Name] = p.Max
			}
			errs = appendNew(errs, app.CheckSchedulePools(cfg, names))
		}
	}
	errs = appendNew(errs, standbyAboveMax(cfg, maxes))
	if len(errs) > 0 {
		return report(stderr, cfg.Path, errs)
	}
	fmt.Fprintf(stdout, "%s: ok (%d schedules; %s)\n", cfg.Path, len(cfg.Schedules), checked)
	return nil
}

// reaching names the section that keeps Azure DevOps from being asked: one
// with a problem already reported.
func reaching(errs []error) string {
	for _, err := range errs {
		var e *config.Error
		if errors.As(err, &e) {
			for _, sec := range []string{"azure_devops", "azure"} {
				if e.Key == sec || within(e.Key, sec) {
					return "[" + sec + "]"
				}
			}
		}
	}
	return ""
}

func report(w io.Writer, path string, errs []error) error {
	for _, e := range config.SortErrors(errs) {
		fmt.Fprintln(w, e)
	}
	return fmt.Errorf("%s: %d problem(s)", path, len(errs))
}

// appendNew adds the errors of a further check, leaving out those about a
// key already reported, or a key inside it or around it: the config's own
// checks and the scheduler's overlap (a bad time zone is both), and an entry
// whose standby has the wrong type is not also one that "sets nothing".
func appendNew(errs, more []error) []error {
	var seen []string
	for _, err := range errs {
		var e *config.Error
		if errors.As(err, &e) && e.Key != "" {
			seen = append(seen, e.Key)
		}
	}
	related := func(a, b string) bool { return a == b || within(a, b) || within(b, a) }
next:
	for _, err := range more {
		var e *config.Error
		if errors.As(err, &e) {
			for _, k := range seen {
				if related(e.Key, k) {
					continue next
				}
			}
		}
		errs = append(errs, err)
	}
	return errs
}

// within reports whether key is inside parent: a.b[1].c is within a.b.
func within(key, parent string) bool {
	return strings.HasPrefix(key, parent) && len(key) > len(parent) && (key[len(parent)] == '.' || key[len(parent)] == '[')
}

func listPools(ctx context.Context, cfg *config.Config, timeout time.Duration) ([]pool.Pool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := app.NewAzure(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	pools, err := c.List(ctx, pool.ListOptions{})
	if err != nil {
		return nil, err
	}
	// Schedules may name the Managed DevOps Pools too.
	var ids, groups []string
	for _, m := range cfg.Managed {
		if _, err := managed.ParsePoolID(m.Pool); err == nil {
			ids = append(ids, m.Pool)
		} else if m.Pool == "" && m.ResourceGroup != "" {
			groups = append(groups, m.ResourceGroup)
		}
	}
	if len(ids)+len(groups) > 0 {
		mc, err := managed.New(managed.Options{Credential: c.ARMCredential(), ARM: c.ARMOptions(), Pools: ids, ResourceGroups: groups})
		if err != nil {
			return nil, err
		}
		mps, err := mc.List(ctx, pool.ListOptions{})
		if err != nil {
			return nil, err
		}
		pools = append(pools, mps...)
	}
	return pools, nil
}

// standbyAboveMax finds schedule entries that set a standby above the max
// in force when they fire: Azure DevOps refuses such a change, so it would
// fail every time. The max in force is the one the schedule's last entry
// with a max set, or, before any and after a restore, the pool's own max
// when known (maxes, from Azure DevOps; nil offline). Entries are played
// over two weeks, and only the second is judged, so that a max set late in
// the week is in force at its start.
func standbyAboveMax(cfg *config.Config, maxes map[string]int) []error {
	var errs []error
	for i, sc := range cfg.Schedules {
		loc, err := time.LoadLocation(sc.TimeZone)
		if err != nil {
			continue // reported by the scheduler's checks
		}
		type fire struct {
			at    time.Time
			entry int
		}
		var fires []fire
		// A Monday: any fixed fortnight does, as entries repeat weekly or
		// more often (a monthly entry is judged on its days in it).
		start := time.Date(2026, 3, 2, 0, 0, 0, 0, loc)
		mid, end := start.AddDate(0, 0, 7), start.AddDate(0, 0, 14)
		for j, e := range sc.Entries {
			spec, err := cron.ParseStandard(e.Cron)
			if err != nil {
				continue
			}
			for t := spec.Next(start.Add(-time.Second)); !t.IsZero() && t.Before(end); t = spec.Next(t) {
				fires = append(fires, fire{t, j})
			}
		}
		sort.SliceStable(fires, func(a, b int) bool {
			if !fires[a].at.Equal(fires[b].at) {
				return fires[a].at.Before(fires[b].at)
			}
			return fires[a].entry < fires[b].entry
		})
		for _, name := range schedulePools(sc, maxes) {
			own, known := maxes[name]
			cur, curKnown, setBy := own, known, -1
			reported := map[int]bool{}
			for _, f := range fires {
				e := sc.Entries[f.entry]
				switch {
				case e.Max != nil:
					cur, curKnown, setBy = *e.Max, true, f.entry
				case e.Restore:
					cur, curKnown, setBy = own, known, -1
				}
				if e.Standby == nil || !curKnown || *e.Standby <= cur || f.at.Before(mid) || reported[f.entry] {
					continue
				}
				reported[f.entry] = true
				from := fmt.Sprintf("%s's own max in Azure DevOps", name)
				if setBy >= 0 {
					from = fmt.Sprintf("set by entry %d (%s)", setBy+1, strings.TrimSpace(sc.Entries[setBy].Cron))
				}
				errs = append(errs, cfg.KeyError(fmt.Sprintf("schedules[%d].entries[%d].standby", i, f.entry),
					"schedule %s: entry %d (%s) sets %s's standby to %d, above its max %d then (%s, %s): Azure DevOps would refuse it each time; lower standby or set max in the entry",
					sc.Name, f.entry+1, strings.TrimSpace(e.Cron), name, *e.Standby, cur, from, f.at.Format("Mon 15:04 MST")))
			}
		}
	}
	return errs
}

// schedulePools is what a schedule's entries are judged for: each pool of
// Azure DevOps it matches when they are known, else its names and globs as
// written (with only the maxes its entries set).
func schedulePools(sc config.Schedule, maxes map[string]int) []string {
	if maxes == nil {
		return sc.Pools
	}
	var names []string
	for name := range maxes {
		for _, p := range sc.Pools {
			if ok, _ := path.Match(p, name); ok || p == name {
				names = append(names, name)
				break
			}
		}
	}
	sort.Strings(names)
	return names
}

// managedErrors checks the [[managed]] entries' resource ids.
func managedErrors(cfg *config.Config) []error {
	var errs []error
	for i, m := range cfg.Managed {
		k := fmt.Sprintf("managed[%d]", i)
		switch {
		case (m.Pool == "") == (m.ResourceGroup == ""):
			errs = append(errs, cfg.KeyError(k, "give pool (a resource id) or resource_group, not both or neither"))
		case m.Pool != "":
			if _, err := managed.ParsePoolID(m.Pool); err != nil {
				errs = append(errs, cfg.KeyError(k+".pool", "%v", err))
			}
		default:
			if rid, err := arm.ParseResourceID(m.ResourceGroup); err != nil || !strings.EqualFold(rid.ResourceType.String(), "Microsoft.Resources/resourceGroups") {
				errs = append(errs, cfg.KeyError(k+".resource_group", "%q is not a resource group id (/subscriptions/S/resourceGroups/RG)", m.ResourceGroup))
			}
		}
	}
	return errs
}
