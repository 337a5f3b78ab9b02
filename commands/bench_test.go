package commands

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/snapshot"
)

const benchLine = "up linux-* standby=2 max=10 for=3h"

// BenchmarkParse is measured against strings.Fields, the least any parser
// of the line does.
func BenchmarkParse(b *testing.B) {
	b.Run("baseline-fields", func(b *testing.B) {
		for b.Loop() {
			_ = strings.Fields(benchLine)
		}
	})
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := Parse(benchLine); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStatus measures `/pool status` on the real stack against the
// service calls it cannot avoid (Get and Logs over loopback HTTP): the
// difference is the command layer, the store reads and the Block Kit reply.
func BenchmarkStatus(b *testing.B) {
	s := newStack(b)
	ctx := context.Background()
	b.Run("baseline-service", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.svc.Get(ctx, "linux-ci"); err != nil {
				b.Fatal(err)
			}
			if _, err := s.svc.Logs(ctx, "linux-ci", 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("status", func(b *testing.B) {
		for b.Loop() {
			if err := s.h.Handle(ctx, req("U-viewer", "status linux-ci"), discard{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-list", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.svc.List(ctx, pool.ListOptions{Nodes: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("list", func(b *testing.B) {
		for b.Loop() {
			if err := s.h.Handle(ctx, req("U-viewer", "list"), discard{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// freshReads is a Store whose reads are never served from the store's
// cache: their context's pool.MayBeCached mark is undone.
type freshReads struct{ Store }

func (f freshReads) Overrides(ctx context.Context) ([]pool.Override, error) {
	return f.Store.Overrides(pool.MayBeCached(ctx, 0))
}

func (f freshReads) Mutes(ctx context.Context) ([]pool.Mute, error) {
	return f.Store.Mutes(pool.MayBeCached(ctx, 0))
}

func (f freshReads) Audit(ctx context.Context, q pool.AuditQuery) ([]pool.AuditEntry, error) {
	return f.Store.Audit(pool.MayBeCached(ctx, 0), q)
}

func (f freshReads) Get(ctx context.Context, key string) (string, error) {
	return f.Store.Get(pool.MayBeCached(ctx, 0), key)
}

// BenchmarkStatusSnapshot measures `/pool status` as poolbot serves a burst
// of them: the pool from the snapshot, which the first fetch fills, and the
// store's reads kept for a second (status) or made anew every time, as they
// were before (fresh-store-reads). Besides ns/op it reports the process's
// CPU time per status, which a shared machine does not blur as much.
func BenchmarkStatusSnapshot(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []string{"status", "fresh-store-reads"} {
		b.Run(mode, func(b *testing.B) {
			s := newStack(b, func(o *Options) {
				cache := snapshot.New(o.Service, o.Clock, time.Hour)
				o.Service = cache
				o.Changer = change.New(cache, o.Store.(change.Store), o.Clock, nil)
				if mode == "fresh-store-reads" {
					o.Store = freshReads{o.Store}
				}
			})
			cpu0 := clock.ProcessCPU()
			for b.Loop() {
				if err := s.h.Handle(ctx, req("U-viewer", "status linux-ci"), discard{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(clock.ProcessCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

type discard struct{}

func (discard) Respond(context.Context, Reply) error { return nil }

// BenchmarkStatusBurst runs 500 `/pool status linux-ci` at once, each round
// with nothing cached, through the snapshot against straight to the
// service (the baseline); it reports the Azure calls per burst.
func BenchmarkStatusBurst(b *testing.B) {
	const n = 500
	b.Run("baseline-no-snapshot", func(b *testing.B) {
		s := newStack(b)
		s.sim.ResetCalls()
		for b.Loop() {
			statusBurst(b, s, n)
		}
		d, a := apiCalls(s.sim)
		b.ReportMetric(float64(d+a)/float64(b.N), "calls/burst")
	})
	b.Run("snapshot", func(b *testing.B) {
		s, cache := newCachedStack(b, 5*time.Second)
		s.sim.ResetCalls()
		for b.Loop() {
			cache.Invalidate("")
			statusBurst(b, s, n)
		}
		d, a := apiCalls(s.sim)
		b.ReportMetric(float64(d+a)/float64(b.N), "calls/burst")
	})
}
