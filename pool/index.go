package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Index is a list of pool names kept as JSON under one key of a KV: the
// pools with an image build or a rollout under way, which the leader steps
// on. Its zero value is not usable; name the key.
//
// Add and Remove read, change and write the list: two writers of one Index
// at once may lose one's change, so an Index has one writer at a time (the
// leader's step, or the pool's change lock).
type Index struct {
	Key string
}

// Names returns the pools in the index, in the order they were added;
// none when the key was never written.
func (x Index) Names(ctx context.Context, kv KV) ([]string, error) {
	v, err := kv.Get(ctx, x.Key)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal([]byte(v), &names); err != nil {
		return nil, fmt.Errorf("index %s in the store: %w", x.Key, err)
	}
	return names, nil
}

// Set adds name to the index when in is true and removes it when false,
// writing only when that changes the list.
func (x Index) Set(ctx context.Context, kv KV, name string, in bool) error {
	names, err := x.Names(ctx, kv)
	if err != nil {
		return err
	}
	i := slices.Index(names, name)
	switch {
	case in && i < 0:
		names = append(names, name)
	case !in && i >= 0:
		names = slices.Delete(names, i, i+1)
	default:
		return nil
	}
	b, err := json.Marshal(names)
	if err != nil {
		return err
	}
	return kv.Put(ctx, x.Key, string(b))
}
