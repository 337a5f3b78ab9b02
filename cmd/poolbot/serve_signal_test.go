package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeSurvivesSIGHUP sends SIGHUP to this process while serve runs in
// it: without serve's handler the signal ends the test binary at once. With
// it, serve validates the file, says it does not reload (valid file, then a
// broken one, whose errors are logged), keeps running, and still stops
// gracefully when its context ends.
func TestServeSurvivesSIGHUP(t *testing.T) {
	s := sim.New(sim.Options{Seed: 1})
	srv := httptest.NewServer(s)
	defer srv.Close()
	stub := slackstub.New()
	defer stub.Close()
	dir := t.TempDir()
	cfg := writeConfig(t, srv.URL, `api_url = "`+stub.APIURL()+`"
[store]
path = "`+filepath.Join(dir, "poolbot.db")+`"
[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"
`)
	var stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", cfg}, nil, &bytes.Buffer{}, &stderr)
	}()
	waitFor(t, "serve to listen", func() bool { return strings.Contains(stderr.String(), `"msg":"listening"`) })

	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the SIGHUP to be answered", func() bool {
		return strings.Contains(stderr.String(), "SIGHUP: the configuration file is valid. poolbot does not reload it")
	})
	// A broken file: its errors are logged, the running config is kept.
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(b, []byte("\n[slack]\nbogus = 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second SIGHUP to be answered", func() bool {
		return strings.Contains(stderr.String(), "SIGHUP: the configuration file has errors")
	})
	select {
	case code := <-done:
		t.Fatalf("serve stopped on SIGHUP with exit %d:\n%s", code, stderr.String())
	default:
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after a graceful stop:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), `"msg":"poolbot stopped"`) {
		t.Errorf("no graceful stop in the log:\n%s", stderr.String())
	}
}
