package main

import (
	"context"
	"image/png"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The demo answers /pool waits from the job history the watcher read from
// the simulator during the warm-up, prints the text, and the picture the
// local Slack saved.
func TestDemoWaits(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // where the demo saves pictures
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if code := run(ctx, []string{"demo", "--speed", "600"}, strings.NewReader("/pool waits linux-ci\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	o := out.String()
	// Channel messages may print between the command and its answer.
	m := regexp.MustCompile(`(?s)> /pool waits linux-ci\n(?:.*?\n)?linux-ci, the last 7 days \(Europe/Paris\): ([1-9][0-9]*) jobs; wait for an agent p50 \S+, p95 \S+`).FindStringSubmatch(o)
	if m == nil {
		t.Fatalf("no waits answer:\n%s", o)
	}
	pic := regexp.MustCompile(`\(picture waits-linux-ci\.png: (\S+\.png)\)`).FindStringSubmatch(o)
	if pic == nil {
		t.Fatalf("no picture path printed:\n%s", o)
	}
	f, err := os.Open(pic[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("%s is not a PNG: %v", pic[1], err)
	}
}
