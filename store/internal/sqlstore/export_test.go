package sqlstore

import (
	"context"
	"time"
)

// RememberAlone is Remember without the group commit: each key in a
// statement (and commit) of its own, as Remember was before, for the benchmark.
func (s *Store) RememberAlone(ctx context.Context, key string, now, until time.Time) (bool, error) {
	first, err := s.rememberOne(ctx, &remembering{key: key, now: now, until: until})
	s.prune(ctx, now)
	return first, err
}

// RememberStatements is how many statements have recorded keys.
func (s *Store) RememberStatements() int64 { return s.remember.statements.Load() }
