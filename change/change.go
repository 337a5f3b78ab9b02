// Package change applies changes to pools: one change per pool at a time, each
// written to the audit trail before it is reported. Commands from Slack and
// the scheduler both change pools through a Changer, so they never race.
package change

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

// Actor is who asks for a change, and from where.
type Actor struct {
	ID        string // Slack user id, or "scheduler"
	Name      string
	Channel   string
	Source    string // "slack", "console", "scheduler", "watcher"
	RequestID string
}

// Holder is who holds a pool's lock.
type Holder struct {
	Actor   Actor
	Command string
	Since   time.Time
}

// Changer applies changes to pools.
type Changer struct {
	svc   pool.Service
	store pool.Store
	clock clock.Clock
	log   *slog.Logger

	mu      sync.Mutex
	holders map[string]Holder
}

// New returns a Changer over svc that audits to st.
func New(svc pool.Service, st pool.Store, clk clock.Clock, log *slog.Logger) *Changer {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Changer{svc: svc, store: st, clock: clk, log: log, holders: map[string]Holder{}}
}

// Service is the pool service changes are applied to.
func (c *Changer) Service() pool.Service { return c.svc }

// Lock takes the named pool for a change. While it is held, a second Lock of
// the same pool fails with a KindBusy error that says who holds it.
func (c *Changer) Lock(name string, a Actor, command string) (unlock func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.holders[name]; ok {
		who := h.Actor.Name
		if who == "" {
			who = h.Actor.ID
		}
		return nil, &pool.Error{Kind: pool.KindBusy, Pool: name,
			Msg: fmt.Sprintf("%s is being changed by %s (%q since %s); try again when it is done",
				name, who, h.Command, h.Since.UTC().Format("15:04:05 MST"))}
	}
	c.holders[name] = Holder{Actor: a, Command: command, Since: c.clock.Now()}
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.holders, name)
			c.mu.Unlock()
		})
	}, nil
}

// Holder reports who holds the named pool, if anyone.
func (c *Changer) Holder(name string) (Holder, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.holders[name]
	return h, ok
}

// Current returns the pool's settings as Azure DevOps has them now, without
// nodes, queue or scale set.
func (c *Changer) Current(ctx context.Context, name string) (pool.Pool, error) {
	pools, err := c.svc.List(ctx, pool.ListOptions{})
	if err != nil {
		return pool.Pool{}, err
	}
	for _, p := range pools {
		if p.Name == name {
			return p, nil
		}
	}
	return pool.Pool{}, pool.NotFound(name)
}

// Update changes the pool's settings. An invalid change is refused before any
// call; the change, or its failure, is audited before Update returns.
func (c *Changer) Update(ctx context.Context, a Actor, command, name string, s pool.Settings) (before, after pool.Pool, err error) {
	unlock, err := c.Lock(name, a, command)
	if err != nil {
		return pool.Pool{}, pool.Pool{}, err
	}
	defer unlock()
	return c.UpdateLocked(ctx, a, command, name, s)
}

// UpdateLocked is Update for a caller that already holds the pool's lock.
func (c *Changer) UpdateLocked(ctx context.Context, a Actor, command, name string, s pool.Settings) (before, after pool.Pool, err error) {
	before, err = c.Current(ctx, name)
	if err != nil {
		return before, before, err
	}
	if err := s.Validate(before); err != nil {
		return before, before, &pool.Error{Kind: pool.KindInvalid, Op: "change", Pool: name, Msg: err.Error(), Err: err}
	}
	after, err = c.svc.Update(ctx, name, s)
	if aerr := c.audit(ctx, a, command, name, settingsOf(before), settingsOf(after), err); aerr != nil {
		return before, after, aerr
	}
	if err != nil {
		return before, before, err
	}
	return before, after, nil
}

// SetImage changes the pool's image and remembers the one it replaced, for
// rollback.
func (c *Changer) SetImage(ctx context.Context, a Actor, command, name string, img pool.Image) (before, after pool.Image, err error) {
	unlock, err := c.Lock(name, a, command)
	if err != nil {
		return pool.Image{}, pool.Image{}, err
	}
	defer unlock()
	before, after, err = c.svc.SetImage(ctx, name, img)
	if err == nil {
		if perr := c.store.Put(ctx, PreviousImageKey(name), before.String()); perr != nil {
			err = fmt.Errorf("remember previous image of %s: %w", name, perr)
		}
	}
	if aerr := c.audit(ctx, a, command, name, before.String(), after.String(), err); aerr != nil {
		return before, after, aerr
	}
	return before, after, err
}

// PreviousImage returns the image the pool had before its last image change
// through poolbot.
func (c *Changer) PreviousImage(ctx context.Context, name string) (pool.Image, error) {
	v, err := c.store.Get(ctx, PreviousImageKey(name))
	if err != nil {
		return pool.Image{}, err
	}
	return pool.ParseImage(v)
}

// PreviousImageKey is the store key of a pool's previous image.
func PreviousImageKey(name string) string { return "image.previous/" + name }

// Create creates a scale set and links it as an elastic pool.
func (c *Changer) Create(ctx context.Context, a Actor, command string, spec pool.CreateSpec) (pool.Pool, error) {
	unlock, err := c.Lock(spec.Name, a, command)
	if err != nil {
		return pool.Pool{}, err
	}
	defer unlock()
	p, err := c.svc.Create(ctx, spec)
	after := ""
	if err == nil {
		after = settingsOf(p) + " image=" + spec.Image.Short()
	}
	if aerr := c.audit(ctx, a, command, spec.Name, "", after, err); aerr != nil {
		return p, aerr
	}
	return p, err
}

// Nodes reimages ("reimage") or deletes ("delete") nodes of a pool.
func (c *Changer) Nodes(ctx context.Context, a Actor, command, name, op string, ids []int) error {
	unlock, err := c.Lock(name, a, command)
	if err != nil {
		return err
	}
	defer unlock()
	switch op {
	case "reimage":
		err = c.svc.ReimageNodes(ctx, name, ids)
	case "delete":
		err = c.svc.DeleteNodes(ctx, name, ids)
	default:
		return fmt.Errorf("unknown node operation %q", op)
	}
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = fmt.Sprint(id)
	}
	return firstErr(c.audit(ctx, a, command, name, "", op+" nodes "+strings.Join(strs, ","), err), err)
}

// Audit records something that is not a change, such as a denial.
func (c *Changer) Audit(ctx context.Context, a Actor, command, name, result string) error {
	_, err := c.store.AddAudit(ctx, pool.AuditEntry{Time: c.clock.Now(), Actor: a.ID, ActorName: a.Name,
		Channel: a.Channel, Source: a.Source, Command: command, Pool: name, Result: result, RequestID: a.RequestID})
	if err != nil {
		return fmt.Errorf("write audit record: %w", err)
	}
	return nil
}

func (c *Changer) audit(ctx context.Context, a Actor, command, name, before, after string, opErr error) error {
	result := "ok"
	if opErr != nil {
		result = "error: " + opErr.Error()
	}
	_, err := c.store.AddAudit(ctx, pool.AuditEntry{Time: c.clock.Now(), Actor: a.ID, ActorName: a.Name,
		Channel: a.Channel, Source: a.Source, Command: command, Pool: name, Before: before, After: after,
		Result: result, RequestID: a.RequestID})
	if err != nil {
		c.log.Error("audit write failed", "pool", name, "command", command, "err", err)
		return fmt.Errorf("write audit record for %s: %w", name, err)
	}
	c.log.Info("change", "pool", name, "actor", a.ID, "source", a.Source, "command", command,
		"before", before, "after", after, "result", result, "request_id", a.RequestID)
	return nil
}

func settingsOf(p pool.Pool) string {
	return fmt.Sprintf("standby=%d max=%d ttl=%d recycle=%t", p.Standby, p.Max, p.TTLMinutes, p.Recycle)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
