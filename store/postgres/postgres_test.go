package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/store/postgres"
	"github.com/poolbot/poolbot/store/postgres/pgtest"
	"github.com/poolbot/poolbot/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) pool.Store {
		s, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Replicas starting together migrate once: the advisory lock serializes them.
func TestMigratesOnceAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	type opened struct {
		s   *postgres.Store
		err error
	}
	ch := make(chan opened, 3)
	for i := 0; i < 3; i++ {
		go func() {
			s, err := postgres.Open(ctx, dsn)
			ch <- opened{s, err}
		}()
	}
	var last *postgres.Store
	for i := 0; i < 3; i++ {
		o := <-ch
		if o.err != nil {
			t.Fatal(o.err)
		}
		defer o.s.Close()
		last = o.s
	}
	var n int
	if err := last.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want, _ := migrationFiles(t); n != want {
		t.Fatalf("%d migration rows, want %d (the files in migrations/)", n, want)
	}
}

func TestErrorsHideThePassword(t *testing.T) {
	dsn := "postgres://poolbot:hunter2-secret@127.0.0.1:1/poolbot?sslmode=disable&connect_timeout=1"
	_, err := postgres.Open(context.Background(), dsn)
	if err == nil {
		t.Fatal("connected to port 1")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func BenchmarkLease(b *testing.B) {
	s, err := postgres.Open(context.Background(), pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchLease(b, s)
}
