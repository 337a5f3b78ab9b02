package typo

import (
	"syscall"
	"testing"
)

// TestMain ends the test binary without the race detector's pause at exit:
// under -race a successful exit first sleeps a second (to catch races at
// exit), which every package pays in `go test -race ./...`. A race during
// the tests still fails them: m.Run checks for one after each test.
func TestMain(m *testing.M) {
	syscall.Exit(m.Run())
}
