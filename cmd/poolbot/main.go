// Command poolbot runs Azure DevOps scale-set agent pools from Slack.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/typo"
)

// A subcommand of poolbot. Each lives in its own file beside this one.
type subcommand struct {
	name  string
	usage string // one line
	run   func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// subcommands is poolbot's command table, in the order usage lists it.
func subcommands() []subcommand {
	return []subcommand{
		{name: "check", usage: "validate a configuration file", run: runCheck},
		{name: "demo", usage: "run poolbot on its built-in simulator, with a console for /pool commands", run: runDemo},
		{name: "history", usage: "export pools' finished jobs from Azure DevOps as a CSV trace", run: runHistory},
		{name: "load", usage: "measure the Slack acknowledgement and replies under open-loop load, against a bare slack-go handler", run: runLoad},
		{name: "migrate", usage: "plan (and create) the Managed DevOps Pool that matches a scale-set pool", run: runMigrate},
		{name: "schedule", usage: "preview the changes the schedules will make, or suggest one from a job trace", run: runSchedule},
		{name: "serve", usage: "run the bot: Slack, schedules and alerts, as configured", run: runServe},
		{name: "sim", usage: "serve a simulated Azure DevOps and Azure on one port", run: runSim},
		{name: "trace", usage: "write a generated job trace (office weeks, night batch, two time zones, release day) as CSV", run: runTrace},
		{name: "version", usage: "print the version (also poolbot --version)", run: runVersion},
		{name: "whatif", usage: "replay a job trace under each standby policy and compare idle time, cost and waits", run: runWhatif},
	}
}

// checkTable reports a subcommand named twice, or without a name or a run
// function: lookup would find only the first.
func checkTable(cs []subcommand) error {
	seen := map[string]bool{}
	for _, c := range cs {
		if c.name == "" || c.run == nil {
			return fmt.Errorf("poolbot: a subcommand without a name or a run function (usage %q)", c.usage)
		}
		if seen[c.name] {
			return fmt.Errorf("poolbot: subcommand %s is in the table twice", c.name)
		}
		seen[c.name] = true
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if err := checkTable(subcommands()); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "-version", "--version":
		args = []string{"version"}
	case "help":
		// "poolbot help check" is "poolbot check --help".
		if len(args) == 1 {
			usage(stdout)
			return 0
		}
		if _, ok := lookup(args[1]); !ok {
			return unknown(args[1], stderr)
		}
		args = []string{args[1], "--help"}
	}
	c, ok := lookup(args[0])
	if !ok {
		return unknown(args[0], stderr)
	}
	if asksHelp(args[1:]) {
		// Help asked for is the answer, not an error: standard output.
		stderr = stdout
	}
	err := c.run(ctx, args[1:], stdin, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintf(stderr, "poolbot %s: %v\n", c.name, err)
		return 1
	}
}

func lookup(name string) (subcommand, bool) {
	for _, c := range subcommands() {
		if c.name == name {
			return c, true
		}
	}
	return subcommand{}, false
}

// unknown reports a command that does not exist, with the closest one.
func unknown(name string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "poolbot: unknown command %q", name)
	if s, ok := closest(name); ok {
		fmt.Fprintf(stderr, "; did you mean %q?", s)
	}
	fmt.Fprintf(stderr, "\n\n")
	usage(stderr)
	return 2
}

// closest returns the subcommand nearest to name, if it is near enough to be
// a typing slip: at most 2 edits, and fewer than half the name's letters.
func closest(name string) (string, bool) {
	best, bestD := "", 3
	for _, c := range subcommands() {
		if d := typo.Distance(name, c.name); d < bestD && 2*d < len(c.name) {
			best, bestD = c.name, d
		}
	}
	return best, best != ""
}

func asksHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		case "--":
			return false
		}
	}
	return false
}

// parseFlags parses a subcommand's flags and refuses arguments left over:
// a flag's value written without its flag would otherwise pass unnoticed.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q: %s takes only flags", fs.Arg(0), fs.Name())
	}
	return nil
}

// parseConfig parses a subcommand's flags and loads the file its required
// --config flag names: only the given top-level sections when any are named
// (see config.LoadSections).
func parseConfig(fs *flag.FlagSet, args []string, path *string, sections ...string) (*config.Config, error) {
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *path == "" {
		fs.Usage()
		return nil, errors.New("--config is required")
	}
	if len(sections) > 0 {
		return config.LoadSections(*path, sections...)
	}
	return config.Load(*path)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "poolbot runs Azure DevOps scale-set agent pools from Slack.")
	fmt.Fprintln(w, "\nUsage: poolbot <command> [flags]")
	fmt.Fprintln(w, "       poolbot help <command>   (or poolbot <command> --help) for a command's flags")
	fmt.Fprintln(w, "       poolbot --version")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.usage)
	}
}
