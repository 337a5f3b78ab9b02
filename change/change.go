// Package change applies changes to pools: one change per pool at a time, each
// written to the audit trail before it is reported. Commands from Slack and
// the scheduler both change pools through a Changer, so they never race.
package change

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/snapshot"
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
	Replica string // the replica holding it, when the lock is shared through the store
}

// How long a pool's lease in the store lasts unrenewed, and how often its
// holder renews it: a replica that dies frees its pools within the TTL.
const (
	DefaultLeaseTTL   = 2 * time.Minute
	DefaultLeaseRenew = 30 * time.Second
)

// storeTimeout bounds a renewal or a release, which run on no caller's
// context.
const storeTimeout = 10 * time.Second

// Changer applies changes to pools.
type Changer struct {
	svc   pool.Service
	store Store
	clock clock.Clock
	log   *slog.Logger

	replica    string // "": the lock is this process's alone
	ttl, renew time.Duration

	intents pool.IntentStore     // nil: changes are audited after the call only
	channel string               // where recovered changes are told when their own channel is unknown
	mine    map[int64]time.Time  // intents this process began (under mu), which are not a dead process's
	untold  map[string]time.Time // request ids whose finished changes wait for their reply (under mu)
	replied func(context.Context, pool.Intent) (bool, error)
	dirty   atomic.Bool // a change's record failed: Reconcile has work

	mu      sync.Mutex
	holders map[string]Holder
}

// Option changes how New sets up a Changer.
type Option func(*Changer)

// WithReplica makes the pool lock hold across every replica on the store:
// Lock also takes a lease on the pool in the store, owned by id and a token
// of the lock's own, and renews it while the change lasts. id names the
// replica (hostname-pid). Without it the lock is this process's alone.
func WithReplica(id string) Option { return func(c *Changer) { c.replica = id } }

// WithLeaseTiming sets how long a pool's lease lasts unrenewed and how
// often its holder renews it; renew must be well below ttl. The defaults
// are DefaultLeaseTTL and DefaultLeaseRenew.
func WithLeaseTiming(ttl, renew time.Duration) Option {
	return func(c *Changer) { c.ttl, c.renew = ttl, renew }
}

// Store is what a Changer keeps: the audit trail, the Slack messages it
// queues, its values (the previous image, rollouts) and the pools' leases.
// When st is also a pool.IntentStore, changes are written ahead to it.
// Implementations are safe for concurrent use.
type Store interface {
	pool.AuditLog
	pool.Enqueuer
	pool.KV
	pool.Leases
}

// New returns a Changer over svc that audits to st.
func New(svc pool.Service, st Store, clk clock.Clock, log *slog.Logger, opts ...Option) *Changer {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Changer{svc: svc, store: st, clock: clk, log: log, holders: map[string]Holder{},
		ttl: DefaultLeaseTTL, renew: DefaultLeaseRenew}
	for _, o := range opts {
		o(c)
	}
	if c.ttl <= 0 {
		c.ttl = DefaultLeaseTTL
	}
	if c.renew <= 0 || c.renew >= c.ttl {
		c.renew = c.ttl / 4
	}
	c.intents, _ = st.(pool.IntentStore)
	c.mine, c.untold = map[int64]time.Time{}, map[string]time.Time{}
	return c
}

// WithChannel names the channel told of a change recovered after a restart
// when the change's own channel is unknown.
func WithChannel(ch string) Option { return func(c *Changer) { c.channel = ch } }

// Service is the pool service changes are applied to.
func (c *Changer) Service() pool.Service { return c.svc }

// LeaseKey is the store key of a pool's lease.
func LeaseKey(name string) string { return "change/" + name }

// Lock takes the named pool for a change. While it is held, a second Lock of
// the same pool fails with a KindBusy error that says who holds it: on this
// replica, or with WithReplica on any replica sharing the store. If the
// store does not answer, Lock fails with KindUnavailable rather than let a
// change go ahead unlocked.
func (c *Changer) Lock(ctx context.Context, name string, a Actor, command string) (unlock func(), err error) {
	h := Holder{Actor: a, Command: command, Since: c.clock.Now(), Replica: c.replica}
	c.mu.Lock()
	if cur, ok := c.holders[name]; ok {
		c.mu.Unlock()
		return nil, busy(name, cur)
	}
	c.holders[name] = h
	c.mu.Unlock()

	var l *lease
	if c.replica != "" {
		if l, err = c.takeLease(ctx, name, h); err != nil {
			c.forget(name)
			return nil, err
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if l != nil {
				c.release(l)
			}
			c.forget(name)
		})
	}, nil
}

func busy(name string, h Holder) error {
	who := h.Actor.Name
	if who == "" {
		who = h.Actor.ID
	}
	return &pool.Error{Kind: pool.KindBusy, Pool: name,
		Msg: fmt.Sprintf("%s is being changed by %s (%q since %s); try again when it is done",
			name, who, h.Command, h.Since.UTC().Format("15:04:05 MST"))}
}

func (c *Changer) forget(name string) {
	c.mu.Lock()
	delete(c.holders, name)
	c.mu.Unlock()
}

// lease is a pool's lease in the store while this replica holds it.
type lease struct {
	key, owner, info string
	stop, done       chan struct{}
}

// leaseInfo is what a lease tells other replicas about its holder.
type leaseInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Channel   string    `json:"channel,omitempty"`
	Source    string    `json:"source,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Command   string    `json:"command"`
	Since     time.Time `json:"since"`
	Replica   string    `json:"replica"`
}

func (c *Changer) takeLease(ctx context.Context, name string, h Holder) (*lease, error) {
	info, err := json.Marshal(leaseInfo{ID: h.Actor.ID, Name: h.Actor.Name, Channel: h.Actor.Channel, Source: h.Actor.Source,
		RequestID: h.Actor.RequestID, Command: h.Command, Since: h.Since, Replica: h.Replica})
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	l := &lease{key: LeaseKey(name), owner: c.replica + "/" + token(), info: string(info),
		stop: make(chan struct{}), done: make(chan struct{})}
	held, cur, err := c.store.TakeLease(ctx, l.key, l.owner, l.info, h.Since.Add(c.ttl))
	if err != nil {
		c.log.Error("pool lock: store unreachable", "pool", name, "err", err)
		return nil, &pool.Error{Kind: pool.KindUnavailable, Op: "lock", Pool: name, Err: err,
			Msg: "poolbot's store did not answer, so the pool cannot be locked against other replicas; nothing was changed"}
	}
	if !held {
		return nil, busy(name, holderOf(cur))
	}
	go c.renewLease(name, l)
	return l, nil
}

// renewLease keeps l alive until it is stopped, so that a change longer than
// the TTL keeps its pool.
func (c *Changer) renewLease(name string, l *lease) {
	defer close(l.done)
	for {
		select {
		case <-l.stop:
			return
		case <-c.clock.After(c.renew):
		}
		select {
		case <-l.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		held, cur, err := c.store.TakeLease(ctx, l.key, l.owner, l.info, c.clock.Now().Add(c.ttl))
		cancel()
		switch {
		case err != nil:
			c.log.Warn("pool lock: renewal failed; the lease lapses unless a later one succeeds", "pool", name, "err", err)
		case !held:
			// It lapsed and another replica took it: two changes may now
			// overlap. Renewing further cannot undo that.
			c.log.Error("pool lock: lease lost to another replica", "pool", name, "holder", cur.Owner, "until", cur.Until)
			return
		}
	}
}

// release stops l's renewals, then gives the lease up. A failed release
// only delays the next change until the lease lapses.
func (c *Changer) release(l *lease) {
	close(l.stop)
	<-l.done // no renewal may take the lease again after the release
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := c.store.ReleaseLease(ctx, l.key, l.owner); err != nil {
		c.log.Warn("pool lock: release failed; the lease lapses by itself", "key", l.key, "err", err)
	}
}

// holderOf reads who holds a lease from its Info.
func holderOf(l pool.Lease) Holder {
	var in leaseInfo
	if err := json.Unmarshal([]byte(l.Info), &in); err != nil || in.ID == "" {
		return Holder{Actor: Actor{ID: l.Owner}, Command: "unknown", Replica: l.Owner}
	}
	return Holder{Actor: Actor{ID: in.ID, Name: in.Name, Channel: in.Channel, Source: in.Source, RequestID: in.RequestID},
		Command: in.Command, Since: in.Since, Replica: in.Replica}
}

func token() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Holder reports who holds the named pool, if anyone: on this replica, or
// with WithReplica on another. A store that does not answer reports no
// holder from other replicas.
func (c *Changer) Holder(ctx context.Context, name string) (Holder, bool) {
	c.mu.Lock()
	h, ok := c.holders[name]
	c.mu.Unlock()
	if ok || c.replica == "" {
		return h, ok
	}
	l, err := c.store.CurrentLease(ctx, LeaseKey(name))
	if err != nil {
		if !errors.Is(err, pool.ErrNotFound) {
			c.log.Warn("pool lock: cannot read the holder", "pool", name, "err", err)
		}
		return Holder{}, false
	}
	return holderOf(l), true
}

// Current returns the pool's settings as Azure DevOps has them now, without
// nodes, queue or scale set: read anew, not from a snapshot.
func (c *Changer) Current(ctx context.Context, name string) (pool.Pool, error) {
	return c.find(snapshot.Fresh(ctx), name)
}

// find returns the pool named name from a pool list read with ctx.
func (c *Changer) find(ctx context.Context, name string) (pool.Pool, error) {
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

// ChangedKey is the store key under which the Changer records when a
// pool's settings were last changed, by any replica: reads begun after it
// are as good as reads made under the pool's lock.
func ChangedKey(name string) string { return "change.settings/" + strings.ToLower(name) }

// clockMargin is how far replicas' clocks may disagree when one's read is
// compared with another's change.
const clockMargin = 2 * time.Second

// changed is the put that records a settings change of name as of now.
func (c *Changer) changed(name string) map[string]string {
	return map[string]string{ChangedKey(name): c.clock.Now().UTC().Format(time.RFC3339Nano)}
}

// read returns the pool as Azure DevOps has it, for a change made under its
// lock. Every change through poolbot holds that lock and records when it
// ended (ChangedKey, with its intent), so a pool list read since then (the
// command's own, from the snapshot) is what a read made now would return,
// and is taken instead of making one; a lease outlives the snapshot's age,
// so a replica that died mid-change had let go of the pool before any read
// taken here began. Without the intents, or when the store cannot say, the
// pool is read anew.
func (c *Changer) read(ctx context.Context, name string) (pool.Pool, error) {
	rctx := snapshot.Fresh(ctx)
	if c.intents != nil {
		// A read older than half a lease is never taken, whatever the
		// snapshot's age allows.
		since := c.clock.Now().Add(-c.ttl / 2)
		v, err := c.store.Get(ctx, ChangedKey(name))
		if err == nil {
			if t, perr := time.Parse(time.RFC3339Nano, v); perr == nil && t.Add(clockMargin).After(since) {
				since = t.Add(clockMargin)
			} else if perr != nil {
				err = perr
			}
		}
		if err == nil || errors.Is(err, pool.ErrNotFound) {
			rctx = snapshot.NotBefore(ctx, since)
		}
	}
	return c.find(rctx, name)
}

// Validate checks s against the pool as read (cur): the one check of a
// change's settings, made by Update against the pool read under its lock,
// and by a caller planning a change against the pool it read, which refuses
// it (of every pool, if one would refuse it) before it asks for confirmation
// or runs anything. It returns a KindInvalid error naming the pool. The
// service does not check again: Azure DevOps does.
func (c *Changer) Validate(cur pool.Pool, s pool.Settings) error {
	if err := s.Validate(cur); err != nil {
		return &pool.Error{Kind: pool.KindInvalid, Pool: cur.Name,
			Msg: fmt.Sprintf("%s: %v; nothing was changed", cur.Name, err), Err: err}
	}
	return nil
}

// Update changes the settings of cur, the pool the caller read (a command's
// pool list, the scheduler's). Under the pool's lock the Changer takes one
// read of it: the caller's own pool list when it began after the pool last
// changed (see read), else a read made anew. That read is the intent's
// before, written ahead of the call, the one check of s, and what the
// service's PATCH of s is sent against. An invalid s is refused before any
// write. The change, or its failure, is audited before Update returns.
// Cost: one read (none when the caller's is taken) and one PATCH.
func (c *Changer) Update(ctx context.Context, a Actor, command string, cur pool.Pool, s pool.Settings) (before, after pool.Pool, err error) {
	unlock, err := c.Lock(ctx, cur.Name, a, command)
	if err != nil {
		return pool.Pool{}, pool.Pool{}, err
	}
	defer unlock()
	return c.UpdateLocked(ctx, a, command, cur, s)
}

// UpdateLocked is Update for a caller that already holds the pool's lock.
func (c *Changer) UpdateLocked(ctx context.Context, a Actor, command string, cur pool.Pool, s pool.Settings) (before, after pool.Pool, err error) {
	return c.update(ctx, a, command, cur.Name, s, nil)
}

// Announced is Update that also queues notice for Slack when the change is
// applied, in the same transaction as its audit entry: whether this process
// finishes the change or a restart does, the channel hears of it once.
func (c *Changer) Announced(ctx context.Context, a Actor, command, name string, s pool.Settings, notice pool.OutboxMessage) (before, after pool.Pool, err error) {
	unlock, err := c.Lock(ctx, name, a, command)
	if err != nil {
		return pool.Pool{}, pool.Pool{}, err
	}
	defer unlock()
	return c.update(ctx, a, command, name, s, &notice)
}

// update reads the pool once under its lock (the intent's before and target
// must be what Azure DevOps has: see read), checks s once, writes the
// intent, sends s, and records the outcome with a context of its own: a
// caller cancelled (a SIGTERM, a Slack timeout) after the PATCH left must not
// leave it unrecorded. A call that failed but landed (the answer was lost)
// is an applied change; only then is the pool read again.
func (c *Changer) update(ctx context.Context, a Actor, command, name string, s pool.Settings, notice *pool.OutboxMessage) (before, after pool.Pool, err error) {
	before, err = c.read(ctx, name)
	if err != nil {
		return before, before, err
	}
	if err := c.Validate(before, s); err != nil {
		return before, before, err
	}
	target := settingsOf(s.Apply(before))
	id, err := c.begin(ctx, a, command, pool.Intent{Kind: "settings", Pool: name, Before: settingsOf(before), Target: target, Notice: notice})
	if err != nil {
		return before, before, err
	}
	after, err = c.svc.Update(ctx, before, s)
	if err != nil && id != 0 {
		lctx, cancel := detached(ctx)
		if cur, cerr := c.Current(lctx, name); cerr == nil && settingsOf(cur) == target && target != settingsOf(before) {
			c.log.Warn("change reported an error but reached Azure DevOps", "pool", name, "err", err)
			after, err = cur, nil
		}
		cancel()
	}
	if id == 0 {
		if aerr := c.audit(ctx, a, command, name, settingsOf(before), settingsOf(after), err); aerr != nil {
			return before, after, aerr
		}
		if err == nil && notice != nil {
			if _, qerr := c.store.Enqueue(ctx, *notice); qerr != nil {
				c.log.Error("change made but its message not queued", "pool", name, "err", qerr)
			}
		}
	} else {
		var msgs []pool.OutboxMessage
		if err == nil && notice != nil {
			msgs = append(msgs, *notice)
		}
		c.finish(ctx, id, a, command, name, settingsOf(before), settingsOf(after), err, msgs, c.changed(name), notice != nil)
	}
	if err != nil {
		return before, before, err
	}
	return before, after, nil
}

// SetImage changes the pool's image and remembers the one it replaced, for
// rollback. SwapImage is the same with its progress in a Slack message.
func (c *Changer) SetImage(ctx context.Context, a Actor, command, name string, img pool.Image) (before, after pool.Image, err error) {
	unlock, err := c.Lock(ctx, name, a, command)
	if err != nil {
		return pool.Image{}, pool.Image{}, err
	}
	defer unlock()
	cur, err := c.svc.Get(ctx, name)
	if err != nil {
		return pool.Image{}, pool.Image{}, err
	}
	if cur.ScaleSet != nil {
		before = cur.ScaleSet.Image
	}
	id, err := c.begin(ctx, a, command, pool.Intent{Kind: "image", Pool: name, Before: before.String(), Target: img.String(), Step: "set"})
	if err != nil {
		return before, before, err
	}
	before, after, err = c.setImage(ctx, name, before, img)
	if id == 0 {
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
	var puts map[string]string
	if err == nil {
		puts = map[string]string{PreviousImageKey(name): before.String()}
	}
	c.finish(ctx, id, a, command, name, before.String(), after.String(), err, nil, puts, false)
	return before, after, err
}

// setImage calls Azure, and looks again when the call fails: a lost answer
// to a change that landed is a change made.
func (c *Changer) setImage(ctx context.Context, name string, cur, img pool.Image) (before, after pool.Image, err error) {
	before, after, err = c.svc.SetImage(ctx, name, img)
	if err == nil {
		return before, after, nil
	}
	lctx, cancel := detached(ctx)
	defer cancel()
	if p, gerr := c.svc.Get(lctx, name); gerr == nil && p.ScaleSet != nil && p.ScaleSet.Image != cur && imageMatches(p.ScaleSet.Image, img) {
		c.log.Warn("image change reported an error but reached Azure", "pool", name, "err", err)
		return cur, p.ScaleSet.Image, nil
	}
	return cur, cur, err
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
	unlock, err := c.Lock(ctx, spec.Name, a, command)
	if err != nil {
		return pool.Pool{}, err
	}
	defer unlock()
	id, err := c.begin(ctx, a, command, pool.Intent{Kind: "create", Pool: spec.Name, Target: "image=" + spec.Image.Short()})
	if err != nil {
		return pool.Pool{}, err
	}
	p, err := c.svc.Create(ctx, spec)
	after := ""
	if err == nil {
		after = settingsOf(p) + " image=" + spec.Image.Short()
	}
	if id != 0 {
		c.finish(ctx, id, a, command, spec.Name, "", after, err, nil, nil, false)
		return p, err
	}
	if aerr := c.audit(ctx, a, command, spec.Name, "", after, err); aerr != nil {
		return p, aerr
	}
	return p, err
}

// Nodes reimages ("reimage") or deletes ("delete") nodes of a pool.
func (c *Changer) Nodes(ctx context.Context, a Actor, command, name, op string, ids []int) error {
	unlock, err := c.Lock(ctx, name, a, command)
	if err != nil {
		return err
	}
	defer unlock()
	return c.nodes(ctx, a, command, name, op, ids, 0)
}

// nodes acts on nodes under the pool's lock; within a long operation (in
// != 0) it is a step of that operation's intent, else an intent of its own.
func (c *Changer) nodes(ctx context.Context, a Actor, command, name, op string, ids []int, in int64) error {
	if op != "reimage" && op != "delete" {
		return fmt.Errorf("unknown node operation %q", op)
	}
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = fmt.Sprint(id)
	}
	what := op + " nodes " + strings.Join(strs, ",")
	id := in
	if id == 0 {
		var err error
		if id, err = c.begin(ctx, a, command, pool.Intent{Kind: "nodes", Pool: name, Target: what}); err != nil {
			return err
		}
	}
	var err error
	switch op {
	case "reimage":
		err = c.svc.ReimageNodes(ctx, name, ids)
	case "delete":
		err = c.svc.DeleteNodes(ctx, name, ids)
	}
	if id == 0 {
		return firstErr(c.audit(ctx, a, command, name, "", what, err), err)
	}
	if in == 0 {
		c.finish(ctx, id, a, command, name, "", what, err, nil, nil, false)
	}
	return err
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
	if n := NotesFrom(ctx); n != nil {
		n.change(name, before, after, result) // on the command's one line
		return nil
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
