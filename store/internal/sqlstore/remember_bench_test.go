package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/store/sqlite"
)

// BenchmarkRemember is the replay check of a burst of commands on SQLite,
// with the group commit (grouped) and with a statement and commit per key
// (alone): eight workers remembering new keys one after the other, as
// bot's eight workers do when commands queue. Besides ns/op (wall time,
// noisy on a shared machine) it reports the process's CPU time per key,
// cpu-ns/op, which is what the keys take from the commands running beside
// them. (At 500 keys a second, one every 2 ms, a group is about two keys;
// `poolbot load` measures that case, whole.)
func BenchmarkRemember(b *testing.B) {
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
			cpu0 := clock.ProcessCPU()
			b.ResetTimer()
			var wg sync.WaitGroup
			var next atomic.Int64
			for range 8 {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						// As Slack names a request: its second (500 a
						// second) and its signature.
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
			b.ReportMetric(float64(clock.ProcessCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
