// Package store opens the pool.Store the configuration asks for: SQLite
// (embedded, one replica) or PostgreSQL (several replicas, one leader).
package store

import (
	"context"
	"fmt"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/store/internal/sqlstore"
	"github.com/poolbot/poolbot/store/postgres"
	"github.com/poolbot/poolbot/store/sqlite"
)

// Option changes how a store is set up.
type Option = sqlstore.Option

// WithClock makes the store read "now" from c (Pending's NotBefore, zero
// times on records); the default is the wall clock.
func WithClock(c clock.Clock) Option { return sqlstore.WithClock(c) }

// Database is the store poolbot keeps its state in ([store]), as app
// translates it: config has given its defaults (driver sqlite, path
// poolbot.db).
type Database struct {
	Driver string // "sqlite" or "postgres"
	Path   string // the SQLite file
	DSN    string // PostgreSQL's; a secret: never logged
}

// Open opens and migrates the store db names. An SQLite store is Guarded:
// its writes stop if its file is deleted or replaced.
func Open(ctx context.Context, db Database, opts ...Option) (pool.Store, error) {
	switch db.Driver {
	case "sqlite":
		path := db.Path
		st, err := sqlite.Open(ctx, path, opts...)
		if err != nil {
			return nil, err
		}
		g, err := Guard(st, path)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
		return g, nil
	case "postgres":
		if db.DSN == "" {
			return nil, fmt.Errorf("open store: driver postgres needs a dsn")
		}
		return postgres.Open(ctx, db.DSN, opts...)
	default:
		return nil, fmt.Errorf("open store: unknown driver %q (want sqlite or postgres)", db.Driver)
	}
}
