package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poolbot/poolbot/store/sqlite"
)

// BenchmarkRemember is the replay check of a burst of commands on SQLite:
// eight workers each remembering new keys, as bot's workers do, with the
// group commit (grouped) and with a transaction per key (alone). Besides
// ns/op (wall time, noisy on a shared machine) it reports the process's CPU
// time per key, cpu-ns/op, which is what the keys take from the commands
// running beside them.
func BenchmarkRemember(b *testing.B) {
	const workers = 8
	for _, mode := range []string{"grouped", "alone"} {
		b.Run(mode, func(b *testing.B) {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "poolbot.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			remember := st.Remember
			if mode == "alone" {
				remember = st.RememberAlone
			}
			ctx := context.Background()
			now := time.Now()
			var next atomic.Int64
			cpu0 := processCPU()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						// As Slack names a request: its second (500 a second)
						// and its signature.
						sig := sha256.Sum256([]byte(strconv.FormatInt(i, 10)))
						key := "slack/" + strconv.FormatInt(now.Unix()+i/500, 10) + "/v0=" + hex.EncodeToString(sig[:])
						if _, err := remember(ctx, key, now, now.Add(5*time.Minute)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
