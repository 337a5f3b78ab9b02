package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// One statement records a new key or one whose until has passed; a key
// still remembered is left alone and no row changes. On PostgreSQL the
// conflicting row is locked and the WHERE re-checked, so of replicas racing
// with one key exactly one changes a row; SQLite runs one writer at a time.
const (
	qRemember = `INSERT INTO seen_requests (request_key, until_at) VALUES (?, ?)
		ON CONFLICT (request_key) DO UPDATE SET until_at = excluded.until_at
		WHERE seen_requests.until_at <= ?`
	qForget = `DELETE FROM seen_requests WHERE until_at <= ?`
)

func init() { allQueries = append(allQueries, qRemember, qForget) }

// pruneEvery is how often Remember deletes the expired keys: once a minute
// keeps the table to a few minutes of requests without a delete per
// request.
const pruneEvery = time.Minute

// pruneState is when Remember last deleted the expired keys.
type pruneState struct {
	mu   sync.Mutex
	last time.Time
}

// Remember records key until the instant until; see pool.Store. "Now" is
// the caller's: the signature window is checked on the clock that checks
// signatures, which need not be the store's.
func (s *Store) Remember(ctx context.Context, key string, now, until time.Time) (bool, error) {
	if key == "" || until.IsZero() {
		return false, fmt.Errorf("remember %q: a key and an end are needed", key)
	}
	res, err := s.db.ExecContext(ctx, s.q(qRemember), key, s.d.BindTime(until.UTC()), s.d.BindTime(now.UTC()))
	if err != nil {
		return false, fmt.Errorf("remember %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("remember %s: %w", key, err)
	}
	s.prune(ctx, now)
	return n == 1, nil
}

// prune deletes the expired keys, at most once every pruneEvery of now.
// A failure is left for the next time: the rows only take room.
func (s *Store) prune(ctx context.Context, now time.Time) {
	p := &s.seen
	p.mu.Lock()
	due := now.Sub(p.last) >= pruneEvery || now.Before(p.last)
	if due {
		p.last = now
	}
	p.mu.Unlock()
	if due {
		_, _ = s.db.ExecContext(ctx, s.q(qForget), s.d.BindTime(now.UTC()))
	}
}
