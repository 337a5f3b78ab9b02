//go:build unix

package clock

import (
	"syscall"
	"time"
)

// ProcessCPU is the CPU time this process has used, user and system: what
// a piece of work cost whatever else the machine runs. Benchmarks and
// poolbot load report it beside the wall clock.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
