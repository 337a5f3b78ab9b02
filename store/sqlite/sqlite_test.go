package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/store/internal/sqlstore"
	"github.com/poolbot/poolbot/store/sqlite"
	"github.com/poolbot/poolbot/store/storetest"
)

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	paths := map[*testing.T]string{}
	storetest.Run(t, func(t *testing.T) pool.Store {
		mu.Lock()
		p, ok := paths[t]
		if !ok {
			p = filepath.Join(t.TempDir(), "poolbot.db")
			paths[t] = p
		}
		mu.Unlock()
		s, err := sqlite.Open(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenIsWALAndMigratesOnce(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "state.db")
	for i := 0; i < 2; i++ {
		s, err := sqlite.Open(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		if err := s.DB().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v", mode, err)
		}
		var n, version int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &version); err != nil {
			t.Fatal(err)
		}
		if wantN, wantV := migrationFiles(t); n != wantN || version != wantV {
			t.Fatalf("open %d: %d migrations, version %d; want %d and %d (the files in migrations/)", i, n, version, wantN, wantV)
		}
		s.Close()
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "state.db")
	s, err := sqlite.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := sqlite.Open(ctx, p); err == nil {
		t.Fatal("opened a database with a newer schema")
	}
}

func TestBadPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "a?b", filepath.Join(t.TempDir(), "missing-dir", "x.db")} {
		if s, err := sqlite.Open(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// Pending compares NotBefore with the store's clock.
func TestPendingUsesClock(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2025, 6, 2, 7, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"), sqlite.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.Enqueue(ctx, pool.OutboxMessage{Channel: "C", Key: "k", Op: "post", NotBefore: start.Add(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		want    int
	}{{0, 0}, {29 * time.Second, 0}, {time.Second, 1}}
	for _, st := range steps {
		clk.Advance(st.advance)
		got, err := s.Pending(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != st.want {
			t.Fatalf("at %v: %d pending, want %d", clk.Now(), len(got), st.want)
		}
		if st.want == 1 && (got[0].ID != id || !got[0].Created.Equal(start)) {
			t.Fatalf("got %+v", got[0])
		}
	}
	// Stored times are UTC whatever the zone given.
	paris, _ := time.LoadLocation("Europe/Paris")
	if _, err := s.AddAudit(ctx, pool.AuditEntry{Time: start.In(paris), Pool: "z"}); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := s.DB().QueryRowContext(ctx, "SELECT logged_at FROM audit WHERE pool = 'z'").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != "2025-06-02T07:00:00.000000000Z" {
		t.Fatalf("stored %q", raw)
	}
}

func BenchmarkEnqueueMarkSent(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := s.Enqueue(ctx, pool.OutboxMessage{Channel: "C", Key: "k", Op: "post", Text: "x"})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.MarkSent(ctx, id, pool.Sent{TS: "1"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLease(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchLease(b, s)
}

// A lease lapses by the store's clock.
func TestLeaseLapsesByClock(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2025, 6, 2, 7, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "l.db"), sqlite.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if held, _, err := s.TakeLease(ctx, "k", "a", "", start.Add(2*time.Minute)); err != nil || !held {
		t.Fatalf("take: %t, %v", held, err)
	}
	steps := []struct {
		advance time.Duration
		bTakes  bool
	}{{0, false}, {119 * time.Second, false}, {time.Second, true}}
	for _, st := range steps {
		clk.Advance(st.advance)
		held, cur, err := s.TakeLease(ctx, "k", "b", "", clk.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if held != st.bTakes {
			t.Fatalf("at %v: b took the lease %t, want %t (holder %+v)", clk.Now(), held, st.bTakes, cur)
		}
	}
}

// A database made before leases existed is brought up to date, its data kept.
func TestUpgradesFromVersion1(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "old.db")
	v1, err := fs.ReadFile(sqlite.Dialect().Migrations, "0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	d := sqlite.Dialect()
	d.Migrations = fstest.MapFS{"0001_init.sql": {Data: v1}}
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	old := sqlstore.New(db, d, sqlstore.Apply(nil))
	if err := old.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	old.Close()
	s, err := sqlite.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get(ctx, "k"); err != nil || v != "v" {
		t.Fatalf("after the upgrade k = %q, %v", v, err)
	}
	if held, _, err := s.TakeLease(ctx, "k", "a", "", time.Now().Add(time.Minute)); err != nil || !held {
		t.Fatalf("lease after the upgrade: %t, %v", held, err)
	}
}

func BenchmarkClaim(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Claim(ctx, "k"+strconv.Itoa(i), "o"); err != nil {
			b.Fatal(err)
		}
	}
}

// migrationFiles counts the migration files and returns the newest version.
func migrationFiles(t *testing.T) (n, newest int) {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		var v int
		if _, err := fmt.Sscanf(filepath.Base(f), "%04d_", &v); err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		n, newest = n+1, max(newest, v)
	}
	return n, newest
}

// A read marked pool.MayBeCached shows another replica's write at most the
// mark's age late, by the store's clock; an unmarked read shows it at once.
func TestCachedReadsAgeAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "r.db")
	clk := clock.NewFake(time.Date(2025, 6, 2, 7, 0, 0, 0, time.UTC))
	a, err := sqlite.Open(ctx, p, sqlite.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlite.Open(ctx, p, sqlite.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	shown := pool.MayBeCached(ctx, time.Second)
	mutes := func(ctx context.Context) int {
		t.Helper()
		ms, err := a.Mutes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(ms)
	}
	if n := mutes(shown); n != 0 {
		t.Fatalf("%d mutes at first", n)
	}
	if err := b.PutMute(ctx, pool.Mute{Pool: "linux-ci", Until: clk.Now().Add(time.Hour), By: "U1"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		advance time.Duration
		ctx     context.Context
		want    int
	}{
		{"marked, at once", 0, shown, 0},
		{"unmarked, at once", 0, ctx, 1},
		{"marked, just within the age", 999 * time.Millisecond, shown, 0},
		{"marked, at the age", time.Millisecond, shown, 1},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		if n := mutes(st.ctx); n != st.want {
			t.Errorf("%s: %d mutes, want %d", st.name, n, st.want)
		}
	}
}
