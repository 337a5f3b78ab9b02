package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/managed"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/scheduler"
)

func init() {
	register(subcommand{name: "check", usage: "validate a configuration file", run: runCheck})
}

func runCheck(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file`")
	offline := fs.Bool("offline", false, "do not contact Azure DevOps to check pool names and globs")
	timeout := fs.Duration("timeout", 20*time.Second, "how long to wait for Azure DevOps")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: poolbot check --config FILE [--offline]\n\nValidates the configuration: syntax, keys, cron expressions, time zones,\noverlapping schedules, [[managed]] resource ids and, when Azure DevOps is\nreachable, globs that match no pool (managed pools included). Exits non-zero naming the file, line and reason of each problem.")
		fs.PrintDefaults()
	}
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	errs := scheduler.Validate(cfg)
	errs = append(errs, managedErrors(cfg)...)
	checked := "pools not checked (--offline)"
	if !*offline && len(cfg.Schedules) > 0 {
		names, err := poolNames(ctx, cfg, *timeout)
		if err != nil {
			// Unreachable is not a config error: say what was not checked.
			checked = "pools not checked: Azure DevOps not reachable: " + err.Error()
			fmt.Fprintln(stderr, "note:", checked)
		} else {
			checked = fmt.Sprintf("%d pools in Azure DevOps", len(names))
			errs = append(errs, scheduler.CheckPools(cfg, names)...)
		}
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		return fmt.Errorf("%s: %d problem(s)", cfg.Path, len(errs))
	}
	fmt.Fprintf(stdout, "%s: ok (%d schedules; %s)\n", cfg.Path, len(cfg.Schedules), checked)
	return nil
}

func poolNames(ctx context.Context, cfg *config.Config, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := azure.FromConfig(ctx, cfg.DevOps, cfg.Azure, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	pools, err := c.List(ctx, pool.ListOptions{})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(pools))
	for i, p := range pools {
		names[i] = p.Name
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
		for _, p := range mps {
			names = append(names, p.Name)
		}
	}
	return names, nil
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
