package sqlstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// readCache keeps the answers of reads marked pool.MayBeCached (status's:
// overrides, mutes, a pool's last changes, a rollout's key, a pool's lease)
// for the age the mark allows, and forgets them all at every write this
// store makes: a change made through this process is shown at once, and
// one made by another replica at most that age late.
type readCache struct {
	// begun and ended count the writes started and returned (committed or
	// failed): an answer is kept only from a read that began with no write
	// under way, and served only while no write has begun since.
	begun, ended atomic.Uint64

	mu      sync.Mutex
	answers map[string]cachedAnswer
}

type cachedAnswer struct {
	writes uint64    // readCache.begun when the read began
	at     time.Time // when it began, on the store's clock
	v      any
	err    error // nil or one wrapping pool.ErrNotFound
}

// writing marks a write's start; the function it returns, its end. Every
// write method but Remember's (the replay window, which no marked read
// shows) runs `defer s.writing()()`.
func (s *Store) writing() func() {
	s.cache.begun.Add(1)
	return func() { s.cache.ended.Add(1) }
}

// cached answers read for ctx from the cache when ctx allows it and no
// write began or ended since the kept answer's read began; else it reads,
// keeping the answer (or a not-found) for the next. clone copies an answer
// out, so that callers never share one.
func cached[T any](s *Store, ctx context.Context, key string, clone func(T) T, read func() (T, error)) (T, error) {
	age, ok := pool.CachedAge(ctx)
	if !ok {
		return read()
	}
	c := &s.cache
	// Ended first: if as many had ended then as had begun after, no write
	// was under way between the two loads.
	ended := c.ended.Load()
	writes, now := c.begun.Load(), s.clk.Now()
	c.mu.Lock()
	a, hit := c.answers[key]
	c.mu.Unlock()
	if hit && a.writes == writes && now.Sub(a.at) < age {
		return clone(a.v.(T)), a.err
	}
	v, err := read()
	if (err == nil || errors.Is(err, pool.ErrNotFound)) && ended == writes {
		// With a write under way, what is read may or may not hold it:
		// it is not kept.
		c.mu.Lock()
		if c.answers == nil {
			c.answers = map[string]cachedAnswer{}
		}
		c.answers[key] = cachedAnswer{writes: writes, at: now, v: clone(v), err: err}
		c.mu.Unlock()
	}
	return v, err
}

func same[T any](v T) T { return v }

func cloned[S ~[]E, E any](v S) S { return slices.Clone(v) }
