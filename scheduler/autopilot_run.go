package scheduler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/poolbot/poolbot/autopilot"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/trace"
)

// History is the job history the autopilot learns from. Implementations
// must be safe for concurrent use; the scheduler calls them from one pass
// at a time.
type History interface {
	// Jobs returns the pool's finished jobs queued at or after since,
	// sorted by queued, and the instant the history begins (at or after
	// since): the hours before it are unknown, not idle. A pool with no
	// history returns no jobs and a zero instant. Errors are the store's.
	Jobs(ctx context.Context, pool string, since time.Time) ([]trace.Job, time.Time, error)
}

// poolDemand is a pool's demand learned so far.
type poolDemand struct {
	demand *Demand
	from   time.Time // where the history begins
}

// autoState is what the autopilot last did to a pool, kept in the store.
type autoState struct {
	Changed  time.Time `json:"changed"` // the last change applied
	Standby  int       `json:"standby"`
	TTL      int       `json:"ttl"`
	Reason   string    `json:"reason"`  // as first decided
	History  string    `json:"history"` // "9 days"
	Decided  time.Time `json:"decided"` // when this decision was first made
	Schedule string    `json:"schedule"`
}

func compileAutopilot(s *schedule, bad func(key, format string, args ...any)) {
	sc := s.cfg
	if !sc.Autopilot() {
		if m := strings.ToLower(strings.TrimSpace(sc.Mode)); m != "cron" {
			bad("mode", "%q is not a mode: \"cron\" (entries) or \"autopilot\"", sc.Mode)
		} else if len(sc.Entries) == 0 {
			bad("entries", "no entries")
		}
		return
	}
	if len(sc.Entries) > 0 {
		bad("entries", "an autopilot schedule has no cron entries: give them a schedule of their own, or drop mode = \"autopilot\"")
	}
	if _, _, err := autopilot.ParsePreference(sc.Preference); err != nil {
		bad("preference", "%v", err)
		return
	}
	switch {
	case sc.MinStandby != nil && *sc.MinStandby < 0:
		bad("min_standby", "must not be negative")
		return
	case sc.MaxStandby != nil && *sc.MaxStandby < 0:
		bad("max_standby", "must not be negative")
		return
	case sc.MinStandby != nil && sc.MaxStandby != nil && *sc.MinStandby > *sc.MaxStandby:
		bad("min_standby", "min_standby %d is more than max_standby %d", *sc.MinStandby, *sc.MaxStandby)
		return
	}
	if sc.WorkingHours != "" {
		if _, _, err := autopilot.ParseHours(sc.WorkingHours); err != nil {
			bad("working_hours", "%v", err)
			return
		}
	}
	if sc.WorkingDays != "" {
		if _, err := autopilot.ParseDays(sc.WorkingDays); err != nil {
			bad("working_days", "%v", err)
			return
		}
	}
	a, err := NewAutopilot(sc)
	if err != nil {
		bad("mode", "%v", err)
		return
	}
	a.loc = s.loc
	s.auto = a
}

// autopilotHoldEnd: a hold without an end lasts until the next midnight in
// the schedule's zone, as an autopilot has no next entry to end it.
func autopilotHoldEnd(sc *schedule, h pool.Override) time.Time {
	l := h.Created.In(sc.loc)
	return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, sc.loc)
}

// learn brings the pool's demand up to now from the history. After the
// first call it reads only the jobs the windows not sampled yet need. The
// caller holds s.pass.
func (s *Scheduler) learn(ctx context.Context, sc *schedule, name string, now time.Time) (*Demand, error) {
	s.mu.Lock()
	pd := s.demand[name]
	if pd == nil || pd.demand.lead != sc.auto.Lead || pd.demand.loc != sc.auto.loc {
		pd = &poolDemand{demand: sc.auto.NewDemand()}
		s.demand[name] = pd
	}
	s.mu.Unlock()
	full := now.Add(-historySpan)
	since := full
	if !pd.from.IsZero() {
		since = later(full, pd.demand.next.Add(-maxRunning))
	}
	jobs, from, err := s.o.History.Jobs(ctx, name, since)
	if err != nil {
		return nil, fmt.Errorf("job history of %s: %w", name, err)
	}
	if from.IsZero() && pd.from.IsZero() {
		return pd.demand, nil // no history yet
	}
	if pd.from.IsZero() || (!from.IsZero() && from.Before(pd.from)) {
		// The first read, or history that now reaches further back.
		if since.After(full) {
			if jobs, from, err = s.o.History.Jobs(ctx, name, full); err != nil {
				return nil, fmt.Errorf("job history of %s: %w", name, err)
			}
		}
		pd.from, pd.demand = from, sc.auto.NewDemand()
	}
	pd.demand.Learn(jobs, later(pd.from, full), now)
	return pd.demand, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// history describes how much history a forecast had: "9 days", "5 hours".
func history(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days of history", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours of history", int(d/time.Hour))
	}
	return "under 2 hours of history"
}

func (s *Scheduler) loadAutoState(ctx context.Context, name string) (*autoState, error) {
	return loadRecord[autoState](ctx, s, autoStateKey(name), name, "autopilot state")
}

// sameDecision reports whether r decides what st did: the same settings on
// the same history and schedule. The reason's words name the time they
// look ahead to, so the stored reason and Decided stay those of when the
// decision was first made.
func (st autoState) sameDecision(r autoState) bool {
	return st.Standby == r.Standby && st.TTL == r.TTL && st.History == r.History &&
		st.Schedule == r.Schedule && st.Changed.Equal(r.Changed)
}

func (s *Scheduler) putAutoState(ctx context.Context, name string, st autoState) error {
	return putRecord(ctx, s, autoStateKey(name), name, "autopilot state", st)
}

// reconcileAutopilot sets the pool's standby and ttl from its demand,
// through the Changer, at most once per autoInterval and only when they
// differ. A hold or a skip in force leaves the pool alone.
func (s *Scheduler) reconcileAutopilot(ctx context.Context, sc *schedule, p pool.Pool, ov overrides, now time.Time) error {
	name := p.Name
	s.mu.Lock()
	f := s.failures[name]
	s.mu.Unlock()
	if f != nil && now.Before(f.next) {
		return nil
	}
	if ov.hold != nil {
		// The hold's settings stand; the command that held usually applied
		// them already.
		dd := diff(ov.hold.Settings, p)
		if dd.Empty() {
			return nil
		}
		key := "autopilot/" + name + "/hold/" + ov.hold.Created.UTC().Format(time.RFC3339Nano)
		if mine, err := s.claim(ctx, name, key); err != nil || !mine {
			return err
		}
		if _, _, err := s.o.Changer.Update(ctx, Actor, fmt.Sprintf("schedule %s: %s (hold)", sc.cfg.Name, dd.String()), p, dd); err != nil {
			return s.failed(ctx, name, err)
		}
		s.succeeded(ctx, name)
		return nil
	}
	if ov.skip != nil && now.Before(ov.skip.SkipAt) {
		return nil
	}
	if s.o.History == nil {
		s.warnOnce(name+"/history", "autopilot without job history: the pool is left as it is", "pool", name, "schedule", sc.cfg.Name)
		return nil
	}
	d, err := s.learn(ctx, sc, name, now)
	if err != nil {
		return err
	}
	dec := sc.auto.Decide(now, d, p.Max)
	if !dec.Known {
		s.warnOnce(name+"/nohistory", "autopilot has no job history yet: the pool is left as it is", "pool", name, "schedule", sc.cfg.Name)
		return nil
	}
	st, err := s.loadAutoState(ctx, name)
	if err != nil {
		return err
	}
	want := pool.Settings{Standby: pool.Int(dec.Standby), TTLMinutes: pool.Int(dec.TTL)}
	dd := diff(want, p)
	rec := autoState{Standby: dec.Standby, TTL: dec.TTL, Reason: dec.Reason(), History: history(dec.History), Decided: now, Schedule: sc.cfg.Name}
	if st != nil {
		rec.Changed = st.Changed
	}
	if dd.Empty() {
		if st != nil && st.sameDecision(rec) {
			return nil // nothing new to keep: a pass writes only what changed
		}
		return s.putAutoState(ctx, name, rec)
	}
	if st != nil && now.Sub(st.Changed) < autoInterval {
		return nil // one change per pool per interval
	}
	key := "autopilot/" + name + "/" + now.Truncate(autoInterval).UTC().Format(time.RFC3339)
	mine, err := s.claim(ctx, name, key)
	if err != nil || !mine {
		return err
	}
	command := fmt.Sprintf("schedule %s: %s (autopilot %s)", sc.cfg.Name, dd.String(), sc.auto.Preference)
	if _, _, err := s.o.Changer.Update(ctx, Actor, command, p, dd); err != nil {
		return s.failed(ctx, name, err)
	}
	rec.Changed = now
	if err := s.putAutoState(ctx, name, rec); err != nil {
		return err
	}
	s.succeeded(ctx, name)
	text := fmt.Sprintf("⏰ %s: %s (was %d; ttl %d; schedule %s, autopilot %s, %s)", name, dec.Reason(), p.Standby, dec.TTL,
		sc.cfg.Name, sc.auto.Preference, history(dec.History))
	s.o.Logger.Info("autopilot change", "pool", name, "schedule", sc.cfg.Name, "settings", dd.String(), "reason", dec.Reason())
	if err := s.post(ctx, sc, key, text); err != nil {
		s.o.Logger.Error("post autopilot change", "pool", name, "err", err)
	}
	if s.o.OnApplied != nil {
		s.o.OnApplied(name, pool.Change{At: now, Pool: name, Schedule: sc.cfg.Name, Settings: dd})
	}
	return nil
}

func (s *Scheduler) warnOnce(key, msg string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.warned[key] {
		return
	}
	s.warned[key] = true
	s.o.Logger.Warn(msg, args...)
}

// nextAutopilot forecasts the pool's standby hour by hour from now and
// returns the first n changes of it, each named after the schedule with
// the preference and how much history it had.
func (s *Scheduler) nextAutopilot(ctx context.Context, sc *schedule, name string, n int) ([]pool.Change, error) {
	now := s.o.Clock.Now()
	label := fmt.Sprintf("%s (autopilot %s)", sc.cfg.Name, sc.auto.Preference)
	if s.o.History == nil {
		return nil, nil
	}
	// The demand is the passes' too: one at a time.
	s.pass.Lock()
	defer s.pass.Unlock()
	d, err := s.learn(ctx, sc, name, now)
	if err != nil {
		return nil, err
	}
	cur, err := s.o.Changer.Current(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	label = fmt.Sprintf("%s (autopilot %s, %s)", sc.cfg.Name, sc.auto.Preference, history(d.Span(now)))
	ov, err := s.overridesOf(ctx, name)
	if err != nil {
		return nil, err
	}
	prev := cur.Standby
	var out []pool.Change
	for t := now.Truncate(time.Hour).Add(time.Hour); len(out) < n && t.Sub(now) <= 7*24*time.Hour; t = t.Add(time.Hour) {
		dec := sc.auto.Decide(t.Add(-sc.auto.Lead), d, cur.Max)
		if !dec.Known || dec.Standby == prev {
			continue
		}
		prev = dec.Standby
		c := pool.Change{At: t.In(sc.loc), Pool: name, Schedule: label, Settings: pool.Settings{Standby: pool.Int(dec.Standby), TTLMinutes: pool.Int(dec.TTL)}}
		c.Skipped = ov.skip != nil && t.Before(ov.skip.SkipAt)
		out = append(out, c)
	}
	return out, nil
}

// skipAutopilot leaves the pool as it is for the next hour.
func (s *Scheduler) skipAutopilot(ctx context.Context, sc *schedule, name, by string, now time.Time) (pool.Change, error) {
	until := now.Add(time.Hour)
	if err := s.o.Store.PutOverride(ctx, pool.Override{Pool: name, Kind: "skip", SkipAt: until, By: by, Created: now}); err != nil {
		return pool.Change{}, fmt.Errorf("skip %s: %w", name, err)
	}
	s.kick()
	return pool.Change{At: until.In(sc.loc), Pool: name, Schedule: sc.cfg.Name + " (autopilot paused until then)", Skipped: true}, nil
}

// workingAutopilot: the pool works while a hold keeps it up, in the
// schedule's working hours, or while the autopilot keeps some standby.
func (s *Scheduler) workingAutopilot(ctx context.Context, sc *schedule, name string, ov overrides, now time.Time) (bool, error) {
	if h := ov.hold; h != nil && (h.Settings.Standby == nil || *h.Settings.Standby > 0) {
		return true, nil
	}
	if sc.auto.Working(now) {
		return true, nil
	}
	st, err := s.loadAutoState(ctx, name)
	if err != nil || st == nil {
		return true, err
	}
	return st.Standby > 0, nil
}
