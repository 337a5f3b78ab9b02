// Package scheduler sets pools' standby, max and ttl by the clock. A schedule
// is desired state, not a list of actions: at any instant a pool should have
// the settings folded from its schedule's entries up to that instant, so a
// restart, a missed tick or a whole weekend of downtime changes nothing. The
// scheduler reconciles at start-up, at every entry's instant and
// periodically, through the same Changer as commands from Slack.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackmsg"
)

// Store is what the scheduler keeps: the overrides it applies and expires,
// the settings saved before a scale-down, claims that make each change
// happen once across replicas, its own values (see FailureKey) and the
// messages it queues. Implementations are safe for concurrent use.
type Store interface {
	pool.OverrideStore
	pool.SavedStore
	pool.Claims
	pool.KV
	pool.Enqueuer
}

// Options configure a Scheduler.
type Options struct {
	Schedules []Schedule
	Service   pool.Service // defaults to Changer.Service()
	Changer   *change.Changer
	Store     Store
	Clock     clock.Clock
	Logger    *slog.Logger
	// DefaultChannel receives the changes of schedules without a channel.
	DefaultChannel string
	// Interval between passes besides those at entries' instants (default 5m).
	Interval time.Duration
	// Owner names this process in claims, so that a change is applied once
	// across replicas; keep it stable across restarts (default: host name).
	Owner string
	// OnApplied is called after each change applied, for metrics.
	OnApplied func(pool string, c pool.Change)
	// History is the job history autopilot schedules learn from; without
	// it they leave their pools alone.
	History History
}

// Retry timing of a change that failed.
const (
	maxFailures = 3 // failures in a row before the watcher is told
	firstRetry  = 30 * time.Second
	maxRetry    = 10 * time.Minute
	busyRetry   = 30 * time.Second // a person holds the pool
)

// Actor is who the scheduler's changes are audited as.
var Actor = change.Actor{ID: "scheduler", Name: "scheduler", Source: "scheduler"}

// takeoverAfter is how old a claim whose change never landed must be to be
// taken for a dead replica's (see claimTimeKey).
const takeoverAfter = 2 * time.Minute

// Scheduler applies schedules to pools.
type Scheduler struct {
	o         Options
	schedules []*schedule
	wake      chan struct{}

	pass sync.Mutex // one pass at a time

	mu       sync.Mutex
	failures map[string]*failure
	warned   map[string]bool // conflicts already logged
	demand   map[string]*poolDemand
	since    time.Time // when Run started: when this replica began to lead
}

// leading returns when this replica began to lead; zero outside Run.
func (s *Scheduler) leading() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.since
}

type failure struct {
	n     int
	next  time.Time
	since time.Time
}

// New parses and validates the schedules; its errors name the schedule and
// the entry.
func New(o Options) (*Scheduler, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Minute
	}
	if o.Service == nil && o.Changer != nil {
		o.Service = o.Changer.Service()
	}
	if o.Owner == "" {
		o.Owner, _ = os.Hostname()
		if o.Owner == "" {
			o.Owner = "poolbot"
		}
	}
	s := &Scheduler{o: o, wake: make(chan struct{}, 1), failures: map[string]*failure{}, warned: map[string]bool{}, demand: map[string]*poolDemand{}}
	var errs []error
	for _, sc := range o.Schedules {
		c, probs := compile(sc)
		for _, p := range probs {
			errs = append(errs, p.err(sc.Name))
		}
		s.schedules = append(s.schedules, c)
	}
	for _, p := range overlaps(o.Schedules) {
		errs = append(errs, p.err(o.Schedules[p.schedule].Name))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Run reconciles at start, at each entry's instant, at the end of each hold,
// and every Interval, until ctx is done. It waits on the Clock. Run is
// called when this replica becomes the leader: changes another replica
// claimed before then and left unfinished are taken over in its first pass.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	s.since = s.o.Clock.Now()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.since = time.Time{}
		s.mu.Unlock()
	}()
	for {
		if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("schedule pass", "err", err)
		}
		now := s.o.Clock.Now()
		d := s.nextWake(ctx, now).Sub(now)
		select {
		case <-ctx.Done():
			return nil
		case <-s.o.Clock.After(d):
		case <-s.wake:
		}
	}
}

// kick makes Run pass again now (after a hold or a skip).
func (s *Scheduler) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// nextWake is the earliest of: the next entry's instant, a hold's end, a
// retry, and now + Interval.
func (s *Scheduler) nextWake(ctx context.Context, now time.Time) time.Time {
	next := now.Add(s.o.Interval)
	earlier := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	for _, sc := range s.schedules {
		if o := sc.after(now, 1); len(o) > 0 {
			earlier(o[0].At)
		}
		if sc.auto != nil {
			earlier(now.Truncate(autoInterval).Add(autoInterval))
		}
	}
	if ovs, err := s.o.Store.Overrides(ctx); err == nil {
		skips := map[string]*pool.Override{}
		for i := range ovs {
			if ovs[i].Kind == "skip" {
				skips[ovs[i].Pool] = &ovs[i]
			}
		}
		for _, ov := range ovs {
			if ov.Kind != "hold" {
				continue
			}
			if sc := s.scheduleFor(ov.Pool); sc != nil {
				if end := sc.holdEnd(ov, skips[ov.Pool]); end.After(now) {
					earlier(end)
				}
			} else if ov.Until.After(now) {
				earlier(ov.Until)
			}
		}
	}
	s.mu.Lock()
	for _, f := range s.failures {
		if f.next.After(now) {
			earlier(f.next)
		}
	}
	s.mu.Unlock()
	if next.Before(now) {
		return now
	}
	return next
}

// scheduleFor returns the schedule that claims the pool, or nil.
func (s *Scheduler) scheduleFor(name string) *schedule {
	for _, sc := range s.schedules {
		if sc.matches(name) {
			return sc
		}
	}
	return nil
}

// overrides are a pool's hold and skip.
type overrides struct {
	hold, skip *pool.Override
}

// Reconcile brings every scheduled pool to its desired settings once. It
// lists the pools once.
func (s *Scheduler) Reconcile(ctx context.Context) error {
	if s.o.Changer == nil || s.o.Service == nil || s.o.Store == nil {
		return errors.New("scheduler: Reconcile needs Options.Changer and Options.Store")
	}
	s.pass.Lock()
	defer s.pass.Unlock()
	now := s.o.Clock.Now()
	pools, err := s.o.Service.List(ctx, pool.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pools: %w", err)
	}
	all, err := s.o.Store.Overrides(ctx)
	if err != nil {
		return fmt.Errorf("read overrides: %w", err)
	}
	var errs []error
	skips := map[string]*pool.Override{}
	for i := range all {
		if all[i].Kind == "skip" {
			skips[all[i].Pool] = &all[i]
		}
	}
	ovs := map[string]overrides{}
	for i := range all {
		ov := &all[i]
		sc := s.scheduleFor(ov.Pool)
		switch {
		case ov.Kind == "hold" && sc != nil && !sc.holdEnd(*ov, skips[ov.Pool]).After(now),
			ov.Kind == "hold" && sc == nil && !ov.Until.IsZero() && !ov.Until.After(now),
			ov.Kind == "skip" && ov.SkipAt.Before(now.Add(-lookback)):
			// Expired. A skip is kept as long as it is in the folded window,
			// or the skipped entry would come back.
			if err := s.o.Store.DeleteOverride(ctx, ov.Pool, ov.Kind); err != nil {
				errs = append(errs, fmt.Errorf("expire %s of %s: %w", ov.Kind, ov.Pool, err))
			} else {
				s.o.Logger.Info("override expired", "pool", ov.Pool, "kind", ov.Kind, "by", ov.By)
			}
			continue
		}
		o := ovs[ov.Pool]
		switch ov.Kind {
		case "hold":
			o.hold = ov
		case "skip":
			o.skip = ov
		}
		ovs[ov.Pool] = o
	}
	for _, p := range pools {
		var claims []*schedule
		for _, sc := range s.schedules {
			if sc.matches(p.Name) {
				claims = append(claims, sc)
			}
		}
		switch {
		case len(claims) == 0:
			continue
		case len(claims) > 1:
			err := fmt.Errorf("pool %s is claimed by schedules %s and %s: a config error; the pool is left alone",
				p.Name, claims[0].cfg.Name, claims[1].cfg.Name)
			s.mu.Lock()
			if !s.warned[p.Name] {
				s.o.Logger.Error("schedule conflict", "pool", p.Name, "err", err)
				s.warned[p.Name] = true
			}
			s.mu.Unlock()
			errs = append(errs, err)
			continue
		}
		if err := s.reconcilePool(ctx, claims[0], p, ovs[p.Name], now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// applied is what the scheduler last did to a pool, kept in the store.
type applied struct {
	At       time.Time     `json:"at"`             // the latest occurrence applied
	Settings pool.Settings `json:"settings"`       // what it wanted then
	Hold     string        `json:"hold,omitempty"` // the hold in force then
}

func (s *Scheduler) loadApplied(ctx context.Context, name string) (*applied, error) {
	return loadRecord[applied](ctx, s, appliedKey(name), name, "last scheduled change")
}

func (s *Scheduler) putApplied(ctx context.Context, name string, a applied) error {
	return putRecord(ctx, s, appliedKey(name), name, "last scheduled change", a)
}

// plan is what a pool should have now.
type plan struct {
	last      occurrence
	desired   pool.Settings
	restoring bool   // a restore not applied yet: clear the saved settings once it is
	hold      string // the hold in force, "" when none
}

// holdEnd is when a hold ends: its Until, or the first entry after it was
// made that is not skipped.
func (sc *schedule) holdEnd(h pool.Override, skip *pool.Override) time.Time {
	if !h.Until.IsZero() {
		return h.Until
	}
	if sc.auto != nil {
		return autopilotHoldEnd(sc, h)
	}
	for _, o := range sc.after(h.Created, 2) {
		if skip != nil && o.At.Equal(skip.SkipAt) {
			continue
		}
		return o.At
	}
	return time.Time{}
}

// past returns the occurrences up to now that take effect, folded window
// first; skipped ones are left out. Only each entry's latest one counts for
// fold (a later occurrence of an entry overlays every field an earlier one
// set), so only those are returned: the latest within lookback, or, for a
// schedule with sparse entries and none there, the one latest of all within
// farLookback.
func (sc *schedule) past(now time.Time, skip *pool.Override) []occurrence {
	var skipAt time.Time
	if skip != nil {
		skipAt = skip.SkipAt
	}
	latest := func(from time.Time) []occurrence {
		var occ []occurrence
		for _, e := range sc.entries {
			if o, ok := sc.latest(e, from, now, skipAt); ok {
				occ = append(occ, o)
			}
		}
		sortOccurrences(occ)
		return occ
	}
	occ := latest(now.Add(-lookback))
	if len(occ) == 0 {
		occ = latest(now.Add(-farLookback))
		occ = occ[max(len(occ)-1, 0):]
	}
	return occ
}

// fold returns the settings the occurrences leave, and the instant of the
// last restore among them. A restore starts again from the saved settings;
// later entries' fields overlay it.
func fold(occ []occurrence) (set pool.Settings, restoreAt time.Time) {
	for _, o := range occ {
		if o.Entry.restore {
			set, restoreAt = pool.Settings{}, o.At
		}
		set = overlay(set, o.Entry.settings)
	}
	return set, restoreAt
}

func (s *Scheduler) plan(ctx context.Context, sc *schedule, name string, now time.Time, a *applied, ov overrides) (plan, bool, error) {
	occ := sc.past(now, ov.skip)
	if len(occ) == 0 {
		return plan{}, false, nil
	}
	pl := plan{last: occ[len(occ)-1]}
	set, restoreAt := fold(occ)
	// A restore not applied yet brings back the settings saved before it;
	// once applied it constrains nothing more, so that a person's change
	// after it stands. Settings saved after the restore's instant belong to
	// a later scale-down (a first start after it, for one).
	var base pool.Settings
	if !restoreAt.IsZero() && (a == nil || restoreAt.After(a.At)) {
		saved, err := s.o.Store.SavedSettings(ctx, name)
		switch {
		case err == nil && !saved.Time.After(restoreAt):
			base, pl.restoring = saved.Settings, true
		case err == nil, errors.Is(err, pool.ErrNotFound):
			s.o.Logger.Debug("restore with nothing saved before it", "pool", name, "restore_at", restoreAt)
		default:
			return plan{}, false, fmt.Errorf("read saved settings of %s: %w", name, err)
		}
	}
	pl.desired = overlay(base, set)
	if ov.hold != nil {
		pl.desired = overlay(pl.desired, ov.hold.Settings)
		pl.hold = "hold/" + ov.hold.Created.UTC().Format(time.RFC3339Nano)
	}
	return pl, true, nil
}

func (s *Scheduler) reconcilePool(ctx context.Context, sc *schedule, p pool.Pool, ov overrides, now time.Time) error {
	if sc.auto != nil {
		return s.reconcileAutopilot(ctx, sc, p, ov, now)
	}
	name := p.Name
	s.mu.Lock()
	f := s.failures[name]
	s.mu.Unlock()
	if f != nil && now.Before(f.next) {
		return nil
	}
	a, err := s.loadApplied(ctx, name)
	if err != nil {
		return err
	}
	pl, ok, err := s.plan(ctx, sc, name, now, a, ov)
	if err != nil || !ok {
		return err
	}
	d := diff(pl.desired, p)
	rec := applied{At: pl.last.At, Settings: pl.desired, Hold: pl.hold}
	key := claimKey(name, pl.last.At)
	newOcc := a == nil || pl.last.At.After(a.At)
	if newOcc || !sameSettings(pl.desired, a.Settings) || pl.hold != a.Hold {
		note := ""
		if pl.restoring {
			note = "restore"
		}
		switch {
		case newOcc:
		case pl.hold != "" && pl.hold != a.Hold:
			key, note = key+"/"+pl.hold, "hold"
		case a.Hold != "" && pl.hold == "":
			key, note = key+"/resume/"+a.Hold, "hold ended"
		default:
			key += "/desired/" + pl.desired.String()
		}
		if d.Empty() {
			// Already there (a restart after the change, a hold applied by
			// the command itself): record it and finish a restore.
			if pl.restoring {
				if err := s.o.Store.ClearSavedSettings(ctx, name); err != nil {
					return fmt.Errorf("clear saved settings of %s: %w", name, err)
				}
			}
			return s.putApplied(ctx, name, rec)
		}
		mine, err := s.claim(ctx, name, key)
		if err != nil {
			return err
		}
		if !mine {
			// Another replica claimed this change. Only the leader schedules,
			// so if the pool still is not as the entry wants, that replica died
			// between its claim and the change: take it over, once.
			if p, err = s.o.Changer.Current(ctx, name); err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
			if d = diff(pl.desired, p); d.Empty() {
				return s.putApplied(ctx, name, rec)
			}
			v, err := s.o.Store.Get(ctx, claimTimeKey(key))
			since := s.leading()
			switch {
			case err != nil && !errors.Is(err, pool.ErrNotFound):
				return fmt.Errorf("read claim time %s: %w", key, err)
			case !since.IsZero():
				// Only the leader schedules: a change claimed before this
				// replica led (or whose claimant died before recording
				// when) was left by the previous leader. Take it now, not
				// at the next pass.
				at, perr := time.Parse(time.RFC3339Nano, v)
				if err == nil && perr == nil && !at.Before(since) && s.o.Clock.Now().Sub(at) < takeoverAfter {
					return nil
				}
			case errors.Is(err, pool.ErrNotFound):
				// The claimant has not recorded its time yet: count from now.
				return s.o.Store.Put(ctx, claimTimeKey(key), s.o.Clock.Now().UTC().Format(time.RFC3339Nano))
			default:
				if at, perr := time.Parse(time.RFC3339Nano, v); perr == nil && s.o.Clock.Now().Sub(at) < takeoverAfter {
					return nil // the claimant may still be at work
				}
			}
			if mine, err = s.claim(ctx, name, key+"/takeover"); err != nil || !mine {
				return err
			}
			s.o.Logger.Warn("taking over a scheduled change claimed by a replica that did not finish it", "pool", name, "key", key)
		}
		clearSaved := pl.restoring || (newOcc && pl.hold == "" && raisesOnly(d, p))
		return s.apply(ctx, sc, p, d, pl, rec, key, note, clearSaved)
	}

	// Nothing new from the schedule: has someone changed the pool by hand?
	drift := diff(a.Settings, p)
	if drift.Empty() {
		return nil
	}
	// The list may predate another replica's change; look again.
	if p, err = s.o.Changer.Current(ctx, name); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if drift = diff(a.Settings, p); drift.Empty() {
		return nil
	}
	d = diff(pl.desired, p)
	if sc.cfg.Correct {
		mine, err := s.claim(ctx, name, key+"/correct/"+pool.Of(p).String())
		if err != nil || !mine {
			return err
		}
		return s.apply(ctx, sc, p, d, pl, rec, key, "corrected", false)
	}
	mark := pl.last.At.UTC().Format(time.RFC3339) + " " + pool.Of(p).String()
	if prev, err := s.o.Store.Get(ctx, driftKey(name)); err == nil && prev == mark {
		return nil // reported already
	}
	var parts []string
	for _, fl := range fields(drift, p) {
		parts = append(parts, fmt.Sprintf("%s %d (schedule says %d)", fl.name, fl.old, fl.new))
	}
	text := fmt.Sprintf("⏰ %s was changed outside its schedule: %s; left as it is until the next entry (schedule %s)",
		name, strings.Join(parts, ", "), sc.cfg.Name)
	s.o.Logger.Warn("pool changed by hand", "pool", name, "schedule", sc.cfg.Name, "current", pool.Of(p).String(), "want", a.Settings.String())
	if err := s.post(ctx, sc, "schedule.drift/"+name+"/"+mark, text); err != nil {
		return err
	}
	return s.o.Store.Put(ctx, driftKey(name), mark)
}

func claimKey(name string, at time.Time) string {
	return "schedule/" + name + "/" + at.UTC().Format(time.RFC3339)
}

// claim takes key for this owner. A key this owner took before (a retry, or
// a restart between the claim and the change) is still ours.
func (s *Scheduler) claim(ctx context.Context, name, key string) (bool, error) {
	ok, err := s.o.Store.Claim(ctx, key, s.o.Owner)
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	mark := key + " " + s.o.Owner
	if ok {
		if err := s.o.Store.Put(ctx, claimTimeKey(key), s.o.Clock.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return false, fmt.Errorf("record claim time %s: %w", key, err)
		}
		if err := s.o.Store.Put(ctx, claimedKey(name), mark); err != nil {
			return false, fmt.Errorf("record claim %s: %w", key, err)
		}
		return true, nil
	}
	prev, err := s.o.Store.Get(ctx, claimedKey(name))
	if err != nil && !errors.Is(err, pool.ErrNotFound) {
		return false, fmt.Errorf("read claim of %s: %w", name, err)
	}
	if prev != mark {
		s.o.Logger.Debug("scheduled change claimed elsewhere", "pool", name, "key", key)
	}
	return prev == mark, nil
}

func (s *Scheduler) apply(ctx context.Context, sc *schedule, p pool.Pool, d pool.Settings, pl plan, rec applied, key, note string, clearSaved bool) error {
	name := p.Name
	now := s.o.Clock.Now()
	if lowers(d, p) {
		// Before a scale-down, remember what restore brings back; a second
		// scale-down keeps the first one's record.
		if _, err := s.o.Store.SaveSettings(ctx, pool.Saved{Pool: name, Settings: pool.Of(p), Time: now, By: Actor.ID}); err != nil {
			return s.failed(ctx, name, fmt.Errorf("save settings of %s before scale-down: %w", name, err))
		}
	}
	command := "schedule " + sc.cfg.Name + ": " + d.String()
	if note != "" {
		command += " (" + note + ")"
	}
	suffix := "schedule " + sc.cfg.Name
	if note != "" {
		suffix += ", " + note
	}
	text := fmt.Sprintf("⏰ %s: %s (%s)", name, describe(pl.desired, d, p), suffix)
	// The channel's line is queued with the change's audit entry, by the
	// Changer: if this process dies after the PATCH, the restart that
	// records the change posts it, and this pass's successor finds the pool
	// in place and posts nothing.
	var err error
	if ch := s.channel(sc); ch != "" {
		_, _, err = s.o.Changer.Announced(ctx, Actor, command, name, d,
			pool.OutboxMessage{Channel: ch, Key: key, Op: "post", Text: text, Created: now})
	} else {
		_, _, err = s.o.Changer.Update(ctx, Actor, command, p, d)
	}
	if err != nil {
		return s.failed(ctx, name, err)
	}
	if clearSaved {
		if err := s.o.Store.ClearSavedSettings(ctx, name); err != nil {
			return fmt.Errorf("clear saved settings of %s: %w", name, err)
		}
	}
	if err := s.putApplied(ctx, name, rec); err != nil {
		return err
	}
	s.succeeded(ctx, name)
	s.o.Logger.Info("scheduled change", "pool", name, "schedule", sc.cfg.Name, "at", pl.last.At, "settings", d.String(), "note", note)
	if s.o.OnApplied != nil {
		s.o.OnApplied(name, pool.Change{At: pl.last.At, Pool: name, Schedule: sc.cfg.Name, Settings: d, Restore: pl.restoring})
	}
	return nil
}

// channel is where a schedule's messages go; "" for none.
func (s *Scheduler) channel(sc *schedule) string {
	if sc.cfg.Channel != "" {
		return sc.cfg.Channel
	}
	return s.o.DefaultChannel
}

func (s *Scheduler) post(ctx context.Context, sc *schedule, key, text string) error {
	ch := s.channel(sc)
	if ch == "" {
		return nil
	}
	// The line names pools and quotes errors: escaped whole, as it holds no
	// mrkdwn of poolbot's.
	if _, err := s.o.Store.Enqueue(ctx, pool.OutboxMessage{Channel: ch, Key: key, Op: "post", Text: slackmsg.Escape(text),
		Created: s.o.Clock.Now()}); err != nil {
		return fmt.Errorf("queue message for %s: %w", ch, err)
	}
	return nil
}

// failed schedules a retry with back-off and, after maxFailures in a row,
// records the failure for the watcher. A pool a person is changing is
// retried soon, without counting.
func (s *Scheduler) failed(ctx context.Context, name string, err error) error {
	now := s.o.Clock.Now()
	s.mu.Lock()
	f := s.failures[name]
	if f == nil {
		f = &failure{since: now}
		s.failures[name] = f
	}
	if pool.KindOf(err) == pool.KindBusy {
		f.next = now.Add(busyRetry)
		s.mu.Unlock()
		s.o.Logger.Info("pool busy; scheduled change retried later", "pool", name, "err", err)
		return nil
	}
	f.n++
	wait := firstRetry << min(f.n-1, 10)
	if wait > maxRetry {
		wait = maxRetry
	}
	var pe *pool.Error
	if errors.As(err, &pe) && pe.RetryAfter > wait {
		wait = pe.RetryAfter
	}
	f.next = now.Add(wait)
	n, since := f.n, f.since
	s.mu.Unlock()
	if n >= maxFailures {
		msg := fmt.Sprintf("scheduled change of %s failed %d times since %s: %v", name, n, since.UTC().Format(time.RFC3339), err)
		if perr := s.o.Store.Put(ctx, FailureKey(name), msg); perr != nil {
			s.o.Logger.Error("record schedule failure", "pool", name, "err", perr)
		}
	}
	return fmt.Errorf("scheduled change of %s (attempt %d, next at %s): %w", name, n, f.next.UTC().Format(time.RFC3339), err)
}

func (s *Scheduler) succeeded(ctx context.Context, name string) {
	s.mu.Lock()
	delete(s.failures, name)
	s.mu.Unlock()
	if v, err := s.o.Store.Get(ctx, FailureKey(name)); err == nil && v != "" {
		if err := s.o.Store.Put(ctx, FailureKey(name), ""); err != nil {
			s.o.Logger.Error("clear schedule failure", "pool", name, "err", err)
		}
	}
}

// overlay returns a with b's set fields.
func overlay(a, b pool.Settings) pool.Settings {
	if b.Standby != nil {
		a.Standby = pool.Int(*b.Standby)
	}
	if b.Max != nil {
		a.Max = pool.Int(*b.Max)
	}
	if b.TTLMinutes != nil {
		a.TTLMinutes = pool.Int(*b.TTLMinutes)
	}
	if b.Recycle != nil {
		a.Recycle = pool.Bool(*b.Recycle)
	}
	return a
}

// diff returns the fields of want that p does not have.
func diff(want pool.Settings, p pool.Pool) pool.Settings {
	var d pool.Settings
	if want.Standby != nil && *want.Standby != p.Standby {
		d.Standby = pool.Int(*want.Standby)
	}
	if want.Max != nil && *want.Max != p.Max {
		d.Max = pool.Int(*want.Max)
	}
	if want.TTLMinutes != nil && *want.TTLMinutes != p.TTLMinutes {
		d.TTLMinutes = pool.Int(*want.TTLMinutes)
	}
	if want.Recycle != nil && *want.Recycle != p.Recycle {
		d.Recycle = pool.Bool(*want.Recycle)
	}
	return d
}

func sameSettings(a, b pool.Settings) bool { return a.String() == b.String() }

func lowers(d pool.Settings, p pool.Pool) bool {
	return (d.Standby != nil && *d.Standby < p.Standby) || (d.Max != nil && *d.Max < p.Max)
}

func raisesOnly(d pool.Settings, p pool.Pool) bool {
	return !lowers(d, p) && ((d.Standby != nil && *d.Standby > p.Standby) || (d.Max != nil && *d.Max > p.Max))
}

type field struct {
	name     string
	old, new int
	set      bool // in the change
}

// fields lists want's numeric fields against p, in a fixed order.
func fields(want pool.Settings, p pool.Pool) []field {
	var out []field
	add := func(name string, w *int, old int) {
		if w != nil {
			out = append(out, field{name: name, old: old, new: *w, set: *w != old})
		}
	}
	add("standby", want.Standby, p.Standby)
	add("max", want.Max, p.Max)
	add("ttl", want.TTLMinutes, p.TTLMinutes)
	return out
}

// describe renders a change the way it is posted: "standby 2 → 0, max 10".
func describe(desired, d pool.Settings, p pool.Pool) string {
	var parts []string
	for _, f := range fields(desired, p) {
		if f.set {
			parts = append(parts, fmt.Sprintf("%s %d → %d", f.name, f.old, f.new))
		} else {
			parts = append(parts, fmt.Sprintf("%s %d", f.name, f.new))
		}
	}
	if d.Recycle != nil {
		parts = append(parts, fmt.Sprintf("recycle %t → %t", p.Recycle, *d.Recycle))
	}
	return strings.Join(parts, ", ")
}

// sortChanges orders changes by instant, then pool.
func sortChanges(cs []pool.Change) {
	sort.SliceStable(cs, func(i, j int) bool {
		if !cs[i].At.Equal(cs[j].At) {
			return cs[i].At.Before(cs[j].At)
		}
		return cs[i].Pool < cs[j].Pool
	})
}
