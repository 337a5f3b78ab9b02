package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// preparedDB is a database/sql handle that runs the store's own queries
// as statements prepared once. SQLite's driver parses and plans a query
// on every call otherwise, which costs more than most of these queries
// take to run: a burst of `/pool status` (four reads and the replay
// check's write each) spent most of its store time in SQLite's parser.
// Queries that are not the store's fixed ones go straight to the handle.
type preparedDB struct {
	*sql.DB
	known map[string]bool // the rebound queries worth preparing; nil: none

	mu    sync.Mutex
	stmts sync.Map // query → *sql.Stmt
}

func newPreparedDB(db *sql.DB, known map[string]bool) *preparedDB {
	return &preparedDB{DB: db, known: known}
}

// stmt returns query prepared, or nil to run it unprepared: not one of
// the store's queries, or not preparable now (its table not migrated yet,
// ctx done), in which case the plain call reports the error as before.
func (p *preparedDB) stmt(ctx context.Context, query string) *sql.Stmt {
	if !p.known[query] {
		return nil
	}
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	st, err := p.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	p.stmts.Store(query, st)
	return st
}

func (p *preparedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.DB.ExecContext(ctx, query, args...)
}

func (p *preparedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.DB.QueryContext(ctx, query, args...)
}

func (p *preparedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.DB.QueryRowContext(ctx, query, args...)
}

// Close closes the prepared statements, then the handle.
func (p *preparedDB) Close() error {
	var err error
	p.stmts.Range(func(k, v any) bool {
		err = errors.Join(err, v.(*sql.Stmt).Close())
		p.stmts.Delete(k)
		return true
	})
	return errors.Join(err, p.DB.Close())
}
