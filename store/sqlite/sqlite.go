// Package sqlite is poolbot's embedded store: one SQLite file through
// modernc.org/sqlite (pure Go, so the static binary keeps working), in WAL
// mode, its schema brought up to date by versioned migrations when opened.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is pool.Store on an SQLite file.
type Store struct {
	*sqlstore.Store
}

// Option changes how Open sets up the store.
type Option = sqlstore.Option

// WithClock makes the store read "now" from c: Pending leaves out messages
// whose NotBefore is after c.Now(), and records given a zero time get c.Now().
// The default is the wall clock.
func WithClock(c clock.Clock) Option { return sqlstore.WithClock(c) }

// BusyTimeout is how long a writer waits for another's lock.
const BusyTimeout = 10 * time.Second

// Dialect is SQLite's: ? placeholders, times as fixed-width UTC text.
func Dialect() sqlstore.Dialect {
	sub, _ := fs.Sub(migrations, "migrations")
	return sqlstore.Dialect{
		Name:       "sqlite",
		BindTime:   func(t time.Time) any { return t.UTC().Format(sqlstore.TimeLayout) },
		Migrations: sub,
	}
}

// Open opens (creating if needed) the SQLite database at path and migrates it.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" || strings.ContainsRune(path, '?') || path == ":memory:" {
		return nil, fmt.Errorf("open sqlite store: %q is not a file path", path)
	}
	// Transactions begin IMMEDIATE so that a read-then-write transaction
	// waits for the write lock up front instead of failing with SQLITE_BUSY.
	dsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate",
		path, BusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	// Writers serialize on the file anyway; a few connections let reads
	// run beside a write in WAL mode.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: journal mode is %s, want wal", path, mode)
	}
	s := sqlstore.New(db, Dialect(), sqlstore.Apply(opts))
	if err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return &Store{Store: s}, nil
}
