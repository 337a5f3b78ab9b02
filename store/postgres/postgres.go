// Package postgres is poolbot's store for several replicas: PostgreSQL
// through pgx (a pgxpool under database/sql), with the same schema and
// behaviour as the SQLite store, migrated when opened.
package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationLockKey is the advisory lock key replicas hold while migrating,
// so that two starting together do not both apply a migration.
const MigrationLockKey = 0x706f6f6c6d696772 // "poolmigr"

// Store is pool.Store on PostgreSQL.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

// Option changes how Open sets up the store.
type Option = sqlstore.Option

// WithClock makes the store read "now" from c: Pending leaves out messages
// whose NotBefore is after c.Now(), and records given a zero time get c.Now().
// The default is the wall clock.
func WithClock(c clock.Clock) Option { return sqlstore.WithClock(c) }

// Dialect is PostgreSQL's: $n placeholders, TIMESTAMPTZ times.
func Dialect() sqlstore.Dialect {
	sub, _ := fs.Sub(migrations, "migrations")
	return sqlstore.Dialect{
		Name:           "postgres",
		Dollar:         true,
		BindTime:       func(t time.Time) any { return t.UTC() },
		Migrations:     sub,
		LockMigrations: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", int64(MigrationLockKey)),
	}
}

// Open connects to the database dsn names (a pgx connection string or URL;
// search_path=… picks a schema) and migrates it. Errors never contain the
// DSN, which may hold a password.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: the DSN does not parse")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store on %s: %w", where(cfg), err)
	}
	if err := p.Ping(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("open postgres store on %s: %w", where(cfg), err)
	}
	db := stdlib.OpenDBFromPool(p)
	s := sqlstore.New(db, Dialect(), sqlstore.Apply(opts), func() error { p.Close(); return nil })
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open postgres store on %s: %w", where(cfg), err)
	}
	return &Store{Store: s, pool: p}, nil
}

// Pool is the connection pool, for health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// where names the server without credentials.
func where(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}
