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

// BenchmarkRemember is the replay check of a burst of commands on SQLite,
// with the group commit (grouped) and with a statement and commit per key
// (alone): eight workers remembering new keys one after the other as fast
// as they can (closed), and keys arriving 500 a second, each in a goroutine
// of its own, as the commands of `poolbot load` do (open-500/s; run it with
// -benchtime 1000x: b.N keys take b.N/500 seconds). Besides ns/op (wall
// time, noisy on a shared machine) it reports the process's CPU time per
// key, cpu-ns/op, which is what the keys take from the commands running
// beside them.
func BenchmarkRemember(b *testing.B) {
	for _, load := range []string{"closed", "open-500/s"} {
		for _, mode := range []string{"grouped", "alone"} {
			b.Run(load+"/"+mode, func(b *testing.B) {
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
				one := func(i int64) {
					// As Slack names a request: its second (500 a second)
					// and its signature.
					sig := sha256.Sum256([]byte(strconv.FormatInt(i, 10)))
					key := "slack/" + strconv.FormatInt(now.Unix()+i/500, 10) + "/v0=" + hex.EncodeToString(sig[:])
					if _, err := remember(ctx, key, now, now.Add(5*time.Minute)); err != nil {
						b.Error(err)
					}
				}
				cpu0 := processCPU()
				b.ResetTimer()
				var wg sync.WaitGroup
				if load == "closed" {
					var next atomic.Int64
					for range 8 {
						wg.Go(func() {
							for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
								one(i)
							}
						})
					}
				} else {
					start := time.Now()
					for i := range int64(b.N) {
						time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / 500)))
						wg.Go(func() { one(i) })
					}
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
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
