// Package pgtest gives tests a PostgreSQL database of their own on the
// server named by POOLBOT_TEST_POSTGRES.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env names the variable holding the test server's DSN; RequireEnv, set to
// 1, makes tests fail instead of skipping when it is unset.
const (
	Env        = "POOLBOT_TEST_POSTGRES"
	RequireEnv = "POOLBOT_REQUIRE_POSTGRES"
)

// ServerDSN returns the test server's DSN, or skips t (fails it when
// POOLBOT_REQUIRE_POSTGRES=1) when there is none.
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s is not set and %s=1: start a server with .ci/postgres.sh", Env, RequireEnv)
		}
		t.Skipf("no PostgreSQL: set %s to a DSN (e.g. source .ci/postgres.sh) to run this test", Env)
	}
	return dsn
}

var (
	mu      sync.Mutex
	schemas = map[testing.TB]string{}
)

// DSN returns a DSN whose search_path is a schema of t's own, created now
// and dropped when t ends. Called again with the same t it returns the same
// schema, so a test can close a store and reopen it.
func DSN(t testing.TB) string {
	t.Helper()
	server := ServerDSN(t)
	mu.Lock()
	schema, ok := schemas[t]
	mu.Unlock()
	if !ok {
		var b [6]byte
		rand.Read(b[:])
		schema = "poolbot_test_" + hex.EncodeToString(b[:])
		exec(t, server, "CREATE SCHEMA "+schema)
		mu.Lock()
		schemas[t] = schema
		mu.Unlock()
		t.Cleanup(func() {
			exec(t, server, "DROP SCHEMA "+schema+" CASCADE")
			mu.Lock()
			delete(schemas, t)
			mu.Unlock()
		})
	}
	return withParam(t, server, "search_path", schema)
}

func withParam(t testing.TB, dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("%s does not parse as a URL", Env)
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
