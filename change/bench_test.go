package change_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
)

// auditOnly hides the store's intents: the Changer then audits after the
// call only, as before write-ahead.
type auditOnly struct{ pool.Store }

// BenchmarkUpdate measures a change through the simulator and a SQLite file
// with its intent written ahead (intent, call, outcome with its audit row)
// against the audit row written after the call only: the two alternate,
// each on its own store and pool, so that both see the same load.
func BenchmarkUpdate(b *testing.B) {
	ctx := context.Background()
	after, ahead := newEnv(b), newEnv(b)
	chAfter := change.New(after.svc, auditOnly{after.store}, after.sim, nil)
	chAhead := change.New(ahead.svc, ahead.store, ahead.sim, nil)
	var tAfter, tAhead time.Duration
	b.ResetTimer()
	for i := range b.N {
		s := pool.Settings{Standby: pool.Int(1 + i%3)}
		for j, ch := range []*change.Changer{chAfter, chAhead} {
			if i%2 == 1 {
				ch = []*change.Changer{chAhead, chAfter}[j]
			}
			start := time.Now()
			if _, _, err := ch.Update(ctx, alice, "standby linux-ci", pool.Pool{Name: "linux-ci"}, s); err != nil {
				b.Fatal(err)
			}
			if ch == chAhead {
				tAhead += time.Since(start)
			} else {
				tAfter += time.Since(start)
			}
		}
	}
	b.ReportMetric(float64(tAfter.Nanoseconds())/float64(b.N), "audit-after-ns/change")
	b.ReportMetric(float64(tAhead.Nanoseconds())/float64(b.N), "write-ahead-ns/change")
	b.ReportMetric(float64(tAhead)/float64(tAfter), "ratio")
}
