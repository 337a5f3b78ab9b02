package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

func init() {
	register(subcommand{name: "version", usage: "print the version", run: runVersion})
}

func runVersion(_ context.Context, _ []string, _ io.Reader, stdout, _ io.Writer) error {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintln(stdout, "poolbot", v)
	return nil
}
