package pool

import (
	"context"
	"time"
)

type cachedKey struct{}

// MayBeCached marks ctx's Store reads as being for display only, such as a
// status reply: a store may answer them from a read of its own made at most
// maxAge ago, unless this process has written to the store since. Another
// replica's write may so be shown up to maxAge late. A read that decides
// anything (a lease before a change, a rollout's state before it is moved
// on) must not be marked.
func MayBeCached(ctx context.Context, maxAge time.Duration) context.Context {
	return context.WithValue(ctx, cachedKey{}, maxAge)
}

// CachedAge reports the age MayBeCached allows ctx's reads; false when ctx
// is not marked.
func CachedAge(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(cachedKey{}).(time.Duration)
	return d, ok && d > 0
}
