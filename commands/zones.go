package commands

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/clock"
)

// Zones tells the time zone of a Slack user, so that times are shown in
// the reader's zone. Implementations are safe for concurrent use.
type Zones interface {
	// Zone returns the user's zone, or an error when it cannot be told
	// (unknown user, Slack unreachable); the caller then falls back.
	Zone(ctx context.Context, userID string) (*time.Location, error)
}

// How long SlackZones trusts what it learnt: a zone changes when someone
// travels, and a failed lookup is not retried on every command.
const (
	zoneTTL       = 6 * time.Hour
	zoneFailedTTL = 5 * time.Minute
)

// SlackZones reads users' zones from Slack's users.info (its tz field) and
// caches them. Two commands of one uncached user at once may both ask Slack.
type SlackZones struct {
	api   *slack.Client
	clock clock.Clock

	mu    sync.Mutex
	cache map[string]cachedZone
}

type cachedZone struct {
	loc     *time.Location
	err     error
	expires time.Time
}

// NewSlackZones returns Zones reading users.info through api.
func NewSlackZones(api *slack.Client, clk clock.Clock) *SlackZones {
	if clk == nil {
		clk = clock.Real{}
	}
	return &SlackZones{api: api, clock: clk, cache: map[string]cachedZone{}}
}

// Zone returns the user's zone from the cache or users.info.
func (z *SlackZones) Zone(ctx context.Context, userID string) (*time.Location, error) {
	now := z.clock.Now()
	z.mu.Lock()
	c, ok := z.cache[userID]
	z.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.loc, c.err
	}
	loc, err := z.lookup(ctx, userID)
	ttl := zoneTTL
	if err != nil {
		ttl = zoneFailedTTL
	}
	z.mu.Lock()
	z.cache[userID] = cachedZone{loc: loc, err: err, expires: now.Add(ttl)}
	z.mu.Unlock()
	return loc, err
}

func (z *SlackZones) lookup(ctx context.Context, userID string) (*time.Location, error) {
	u, err := z.api.GetUserInfoContext(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("users.info %s: %w", userID, err)
	}
	if u.TZ == "" {
		return nil, fmt.Errorf("users.info %s: no time zone", userID)
	}
	loc, err := time.LoadLocation(u.TZ)
	if err != nil {
		return nil, fmt.Errorf("users.info %s: time zone %q: %w", userID, u.TZ, err)
	}
	return loc, nil
}

// readerZone is the zone times are shown in: the reader's own, else the
// pool's schedule's, else UTC.
func (c *call) readerZone(ctx context.Context, poolName string) *time.Location {
	if loc := c.ownZone(ctx); loc != nil {
		return loc
	}
	return c.scheduleZone(ctx, poolName)
}

// ownZone is the reader's own zone, asked once per call; nil when unknown.
func (c *call) ownZone(ctx context.Context) *time.Location {
	if !c.zoneAsked {
		c.zoneAsked = true
		if z := c.h.o.Zones; z != nil && c.req.UserID != "" {
			if loc, err := z.Zone(ctx, c.req.UserID); err == nil {
				c.userZone = loc
			} else {
				c.h.o.Logger.Debug("reader's time zone unknown", "user", c.req.UserID, "err", err)
			}
		}
	}
	return c.userZone
}
