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
)

// A subcommand of poolbot. Each lives in its own file beside this one.
type subcommand struct {
	name  string
	usage string // one line
	run   func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

var subcommands []subcommand

func register(c subcommand) { subcommands = append(subcommands, c) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range subcommands {
		if c.name == args[0] {
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
	}
	fmt.Fprintf(stderr, "poolbot: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// parseConfig parses a subcommand's flags and loads the file its required
// --config flag names.
func parseConfig(fs *flag.FlagSet, args []string, path *string) (*config.Config, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *path == "" {
		fs.Usage()
		return nil, errors.New("--config is required")
	}
	return config.Load(*path)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "poolbot runs Azure DevOps scale-set agent pools from Slack.")
	fmt.Fprintln(w, "\nUsage: poolbot <command> [flags]   (poolbot <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.usage)
	}
}
