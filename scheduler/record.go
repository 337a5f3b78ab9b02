package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/poolbot/poolbot/pool"
)

// loadRecord reads the JSON record of a pool kept under key: nil when there
// is none, or when it cannot be read (logged; the caller then behaves as on
// a first start, which is safe). what names the record in errors and logs.
func loadRecord[T any](ctx context.Context, s *Scheduler, key, name, what string) (*T, error) {
	v, err := s.o.Store.Get(ctx, key)
	if errors.Is(err, pool.ErrNotFound) || (err == nil && v == "") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", what, name, err)
	}
	var r T
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		s.o.Logger.Warn("unreadable "+what+" record", "pool", name, "err", err)
		return nil, nil
	}
	return &r, nil
}

// putRecord writes a pool's JSON record under key.
func putRecord(ctx context.Context, s *Scheduler, key, name, what string, r any) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.o.Store.Put(ctx, key, string(b)); err != nil {
		return fmt.Errorf("record %s of %s: %w", what, name, err)
	}
	return nil
}
