// Package memstore is pool.Store and pool.IntentStore in memory: what the
// SQLite and PostgreSQL stores do, proven by the same conformance suite
// (store/storetest), without a file or a server. Tests of the packages that
// keep state use it to test their own logic quickly; poolbot itself keeps
// its state in SQLite or PostgreSQL.
package memstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

// Store keeps poolbot's state in memory. One mutex guards it all, so each
// method is one atomic step, as a transaction is in the SQL stores. Safe
// for concurrent use.
type Store struct {
	d      *data
	clk    clock.Clock
	closed bool // under d.mu
}

var (
	_ pool.Store       = (*Store)(nil)
	_ pool.IntentStore = (*Store)(nil)
)

// errClosed is what a closed store answers.
var errClosed = errors.New("memstore: the store is closed")

type data struct {
	mu sync.Mutex

	lastAudit, lastOutbox, lastIntent int64

	audit     []pool.AuditEntry // ID order
	saved     map[string]pool.Saved
	overrides map[[2]string]pool.Override // pool, kind
	mutes     map[[2]string]pool.Mute     // pool, condition
	alerts    map[string]pool.Alert
	outbox    map[int64]*pool.OutboxMessage
	sent      map[string]pool.Sent
	kv        map[string]string
	claims    map[string]string
	leases    map[string]pool.Lease
	seen      map[string]time.Time
	pruned    time.Time // when Remember last forgot expired keys
	jobs      map[jobKey]pool.Job
	cursors   map[string]string
	intents   map[int64]*pool.Intent
}

type jobKey struct {
	pool string
	id   uint64
}

// New returns an empty store that reads "now" from clk (the wall clock when
// nil): Pending leaves out messages whose NotBefore is after it, leases
// lapse by it, and records given a zero time get it.
func New(clk clock.Clock) *Store {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Store{clk: clk, d: &data{
		saved: map[string]pool.Saved{}, overrides: map[[2]string]pool.Override{}, mutes: map[[2]string]pool.Mute{},
		alerts: map[string]pool.Alert{}, outbox: map[int64]*pool.OutboxMessage{}, sent: map[string]pool.Sent{},
		kv: map[string]string{}, claims: map[string]string{}, leases: map[string]pool.Lease{}, seen: map[string]time.Time{},
		jobs: map[jobKey]pool.Job{}, cursors: map[string]string{}, intents: map[int64]*pool.Intent{},
	}}
}

// Reopen returns a store on the same state, as opening a database again
// after a restart does; the receiver may be closed.
func (s *Store) Reopen() *Store { return &Store{d: s.d, clk: s.clk} }

// Close closes the store: every later call fails. The state stays, for
// Reopen.
func (s *Store) Close() error {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	s.closed = true
	return nil
}

// lock takes the state's lock, or fails when the store is closed or ctx is
// done; the caller unlocks when err is nil.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.d.mu.Lock()
	if s.closed {
		s.d.mu.Unlock()
		return errClosed
	}
	return nil
}

func (s *Store) now() time.Time { return s.clk.Now().UTC() }

// utc is t as a store gives it back: in UTC, with no monotonic reading.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return utc(t)
}

func copySettings(st pool.Settings) pool.Settings {
	c := func(p *int) *int {
		if p == nil {
			return nil
		}
		return pool.Int(*p)
	}
	out := pool.Settings{Standby: c(st.Standby), Max: c(st.Max), TTLMinutes: c(st.TTLMinutes)}
	if st.Recycle != nil {
		out.Recycle = pool.Bool(*st.Recycle)
	}
	return out
}

func (s *Store) AddAudit(ctx context.Context, e pool.AuditEntry) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, fmt.Errorf("add audit entry: %w", err)
	}
	defer s.d.mu.Unlock()
	return s.addAudit(e), nil
}

func (s *Store) addAudit(e pool.AuditEntry) int64 {
	s.d.lastAudit++
	e.ID, e.Time = s.d.lastAudit, orNow(e.Time, s.now())
	s.d.audit = append(s.d.audit, e)
	return e.ID
}

func (s *Store) Audit(ctx context.Context, q pool.AuditQuery) ([]pool.AuditEntry, error) {
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer s.d.mu.Unlock()
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	var out []pool.AuditEntry
	for i := len(s.d.audit) - 1; i >= 0 && len(out) < limit; i-- {
		if e := s.d.audit[i]; q.Pool == "" || e.Pool == q.Pool {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *Store) SaveSettings(ctx context.Context, v pool.Saved) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, fmt.Errorf("save settings of %s: %w", v.Pool, err)
	}
	defer s.d.mu.Unlock()
	if _, ok := s.d.saved[v.Pool]; ok {
		return false, nil
	}
	v.Settings, v.Time = copySettings(v.Settings), orNow(v.Time, s.now())
	s.d.saved[v.Pool] = v
	return true, nil
}

func (s *Store) SavedSettings(ctx context.Context, p string) (pool.Saved, error) {
	if err := s.lock(ctx); err != nil {
		return pool.Saved{}, fmt.Errorf("saved settings of %s: %w", p, err)
	}
	defer s.d.mu.Unlock()
	v, ok := s.d.saved[p]
	if !ok {
		return pool.Saved{}, fmt.Errorf("saved settings of %s: %w", p, pool.ErrNotFound)
	}
	v.Settings = copySettings(v.Settings)
	return v, nil
}

func (s *Store) ClearSavedSettings(ctx context.Context, p string) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("clear saved settings of %s: %w", p, err)
	}
	defer s.d.mu.Unlock()
	delete(s.d.saved, p)
	return nil
}

func (s *Store) PutOverride(ctx context.Context, o pool.Override) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("put %s override of %s: %w", o.Kind, o.Pool, err)
	}
	defer s.d.mu.Unlock()
	o.Settings, o.Until, o.SkipAt, o.Created = copySettings(o.Settings), utc(o.Until), utc(o.SkipAt), orNow(o.Created, s.now())
	s.d.overrides[[2]string{o.Pool, o.Kind}] = o
	return nil
}

func (s *Store) DeleteOverride(ctx context.Context, p, kind string) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("delete %s override of %s: %w", kind, p, err)
	}
	defer s.d.mu.Unlock()
	delete(s.d.overrides, [2]string{p, kind})
	return nil
}

func (s *Store) Overrides(ctx context.Context) ([]pool.Override, error) {
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("read overrides: %w", err)
	}
	defer s.d.mu.Unlock()
	var out []pool.Override
	for _, k := range sortedPairs(s.d.overrides) {
		o := s.d.overrides[k]
		o.Settings = copySettings(o.Settings)
		out = append(out, o)
	}
	return out, nil
}

func sortedPairs[V any](m map[[2]string]V) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	return keys
}

func (s *Store) PutMute(ctx context.Context, m pool.Mute) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("mute %s %s: %w", m.Pool, m.Condition, err)
	}
	defer s.d.mu.Unlock()
	m.Until = utc(m.Until)
	s.d.mutes[[2]string{m.Pool, m.Condition}] = m
	return nil
}

func (s *Store) Mutes(ctx context.Context) ([]pool.Mute, error) {
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("read mutes: %w", err)
	}
	defer s.d.mu.Unlock()
	var out []pool.Mute
	for _, k := range sortedPairs(s.d.mutes) {
		out = append(out, s.d.mutes[k])
	}
	return out, nil
}

func (s *Store) DeleteMute(ctx context.Context, p, condition string) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("unmute %s %s: %w", p, condition, err)
	}
	defer s.d.mu.Unlock()
	delete(s.d.mutes, [2]string{p, condition})
	return nil
}

func (s *Store) PutAlert(ctx context.Context, a pool.Alert) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("put alert %s: %w", a.Key, err)
	}
	defer s.d.mu.Unlock()
	a.StartedAt, a.UpdatedAt, a.NotifiedAt, a.ResolvedAt = utc(a.StartedAt), utc(a.UpdatedAt), utc(a.NotifiedAt), utc(a.ResolvedAt)
	s.d.alerts[a.Key] = a
	return nil
}

func (s *Store) Alerts(ctx context.Context) ([]pool.Alert, error) {
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	defer s.d.mu.Unlock()
	keys := make([]string, 0, len(s.d.alerts))
	for k := range s.d.alerts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []pool.Alert
	for _, k := range keys {
		out = append(out, s.d.alerts[k])
	}
	return out, nil
}

func (s *Store) Enqueue(ctx context.Context, m pool.OutboxMessage) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, fmt.Errorf("enqueue %s %s: %w", m.Op, m.Key, err)
	}
	defer s.d.mu.Unlock()
	return s.enqueue(m), nil
}

func (s *Store) enqueue(m pool.OutboxMessage) int64 {
	s.d.lastOutbox++
	m.ID, m.Created, m.NotBefore = s.d.lastOutbox, orNow(m.Created, s.now()), utc(m.NotBefore)
	m.RefusedAt, m.Refusal = time.Time{}, ""
	s.d.outbox[m.ID] = &m
	return m.ID
}

// outboxWhere returns the messages ok keeps, in ID order, at most limit.
func (s *Store) outboxWhere(limit int, ok func(*pool.OutboxMessage) bool) []pool.OutboxMessage {
	ids := make([]int64, 0, len(s.d.outbox))
	for id, m := range s.d.outbox {
		if ok(m) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []pool.OutboxMessage
	for _, id := range ids[:min(limit, len(ids))] {
		out = append(out, *s.d.outbox[id])
	}
	return out
}

// Pending returns unsent messages in ID order, leaving out those whose
// NotBefore is after the store clock's now. limit <= 0 means 100.
func (s *Store) Pending(ctx context.Context, limit int) ([]pool.OutboxMessage, error) {
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer s.d.mu.Unlock()
	if limit <= 0 {
		limit = 100
	}
	now := s.now()
	return s.outboxWhere(limit, func(m *pool.OutboxMessage) bool {
		return m.RefusedAt.IsZero() && !m.NotBefore.After(now)
	}), nil
}

// MarkSent removes message id from the outbox and, for a post, records the
// Slack message it became under its key; see pool.Outbox.
func (s *Store) MarkSent(ctx context.Context, id int64, sent pool.Sent) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("mark message %d sent: %w", id, err)
	}
	defer s.d.mu.Unlock()
	m, ok := s.d.outbox[id]
	if !ok {
		return fmt.Errorf("mark message %d sent: %w", id, pool.ErrNotFound)
	}
	delete(s.d.outbox, id)
	if m.Op == "post" || sent.TS != "" {
		sent.Key = cmp.Or(sent.Key, m.Key)
		sent.Channel = cmp.Or(sent.Channel, m.Channel)
		if _, exists := s.d.sent[sent.Key]; m.Op == "post" || !exists {
			s.d.sent[sent.Key] = sent
		}
	}
	return nil
}

func (s *Store) Retry(ctx context.Context, id int64, notBefore time.Time) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("retry message %d: %w", id, err)
	}
	defer s.d.mu.Unlock()
	m, ok := s.d.outbox[id]
	if !ok {
		return fmt.Errorf("retry message %d: %w", id, pool.ErrNotFound)
	}
	m.Attempts++
	m.NotBefore = utc(notBefore)
	return nil
}

func (s *Store) SentMessage(ctx context.Context, key string) (pool.Sent, error) {
	if err := s.lock(ctx); err != nil {
		return pool.Sent{}, fmt.Errorf("sent message %s: %w", key, err)
	}
	defer s.d.mu.Unlock()
	v, ok := s.d.sent[key]
	if !ok {
		return pool.Sent{}, fmt.Errorf("sent message %s: %w", key, pool.ErrNotFound)
	}
	return v, nil
}

// Refuse sets message id aside as a dead letter; see pool.Outbox.
func (s *Store) Refuse(ctx context.Context, id int64, reason string, at time.Time) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("refuse message %d: %w", id, err)
	}
	defer s.d.mu.Unlock()
	m, ok := s.d.outbox[id]
	if !ok {
		return fmt.Errorf("refuse message %d: %w", id, pool.ErrNotFound)
	}
	m.RefusedAt, m.Refusal = orNow(at, s.now()), reason
	m.Attempts++
	return nil
}

// Refused lists the dead letters in ID order. limit <= 0 means 100.
func (s *Store) Refused(ctx context.Context, limit int) ([]pool.OutboxMessage, error) {
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("read refused messages: %w", err)
	}
	defer s.d.mu.Unlock()
	if limit <= 0 {
		limit = 100
	}
	return s.outboxWhere(limit, func(m *pool.OutboxMessage) bool { return !m.RefusedAt.IsZero() }), nil
}

// Requeue makes dead letters pending again; see pool.DeadLetters.
func (s *Store) Requeue(ctx context.Context, ids []int64) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, fmt.Errorf("requeue refused messages: %w", err)
	}
	defer s.d.mu.Unlock()
	n := 0
	requeue := func(m *pool.OutboxMessage) {
		if m != nil && !m.RefusedAt.IsZero() {
			m.RefusedAt, m.Refusal, m.Attempts, m.NotBefore = time.Time{}, "", 0, time.Time{}
			n++
		}
	}
	if len(ids) == 0 {
		for _, m := range s.d.outbox {
			requeue(m)
		}
	}
	for _, id := range ids {
		requeue(s.d.outbox[id])
	}
	return n, nil
}

func (s *Store) Get(ctx context.Context, key string) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", fmt.Errorf("get %s: %w", key, err)
	}
	defer s.d.mu.Unlock()
	v, ok := s.d.kv[key]
	if !ok {
		return "", fmt.Errorf("get %s: %w", key, pool.ErrNotFound)
	}
	return v, nil
}

func (s *Store) Put(ctx context.Context, key, value string) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer s.d.mu.Unlock()
	s.d.kv[key] = value
	return nil
}

func (s *Store) Claim(ctx context.Context, key, owner string) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	defer s.d.mu.Unlock()
	if _, ok := s.d.claims[key]; ok {
		return false, nil
	}
	s.d.claims[key] = owner
	return true, nil
}

// TakeLease takes, renews, or reports who holds the lease on key; see
// pool.Leases. "Now" is the store clock's.
func (s *Store) TakeLease(ctx context.Context, key, owner, info string, until time.Time) (bool, pool.Lease, error) {
	if key == "" || owner == "" || until.IsZero() {
		return false, pool.Lease{}, fmt.Errorf("take lease %q: a key, an owner and an end are needed", key)
	}
	if err := s.lock(ctx); err != nil {
		return false, pool.Lease{}, fmt.Errorf("take lease %s: %w", key, err)
	}
	defer s.d.mu.Unlock()
	if cur, ok := s.d.leases[key]; ok && cur.Owner != owner && cur.Until.After(s.now()) {
		return false, cur, nil
	}
	l := pool.Lease{Key: key, Owner: owner, Info: info, Until: utc(until)}
	s.d.leases[key] = l
	return true, l, nil
}

// ReleaseLease ends owner's lease on key, if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, key, owner string) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("release lease %s: %w", key, err)
	}
	defer s.d.mu.Unlock()
	if cur, ok := s.d.leases[key]; ok && cur.Owner == owner {
		delete(s.d.leases, key)
	}
	return nil
}

// CurrentLease returns the unlapsed lease on key, or pool.ErrNotFound.
func (s *Store) CurrentLease(ctx context.Context, key string) (pool.Lease, error) {
	if err := s.lock(ctx); err != nil {
		return pool.Lease{}, fmt.Errorf("lease %s: %w", key, err)
	}
	defer s.d.mu.Unlock()
	cur, ok := s.d.leases[key]
	if !ok || !cur.Until.After(s.now()) {
		return pool.Lease{}, fmt.Errorf("lease %s: %w", key, pool.ErrNotFound)
	}
	return cur, nil
}

// pruneEvery is how often Remember forgets the expired keys, as the SQL
// stores do.
const pruneEvery = time.Minute

// Remember records key until the instant until; see pool.Replays.
func (s *Store) Remember(ctx context.Context, key string, now, until time.Time) (bool, error) {
	if key == "" || until.IsZero() {
		return false, fmt.Errorf("remember %q: a key and an end are needed", key)
	}
	if err := s.lock(ctx); err != nil {
		return false, fmt.Errorf("remember %s: %w", key, err)
	}
	defer s.d.mu.Unlock()
	recorded := false
	if cur, ok := s.d.seen[key]; !ok || !cur.After(now) {
		s.d.seen[key], recorded = utc(until), true
	}
	if now.Sub(s.d.pruned) >= pruneEvery || now.Before(s.d.pruned) {
		s.d.pruned = now
		for k, u := range s.d.seen {
			if !u.After(now) {
				delete(s.d.seen, k)
			}
		}
	}
	return recorded, nil
}

// AddJobs records jobs and the pool's cursor in one step. A job without a
// finish or queue time is refused: the store keeps finished jobs. As in the
// SQL stores, a job's Agent is not kept, and its Pool is p.
func (s *Store) AddJobs(ctx context.Context, p string, jobs []pool.Job, cursor string) error {
	for _, j := range jobs {
		if j.Queued.IsZero() || j.Finished.IsZero() {
			return fmt.Errorf("add jobs of %s: request %d is not a finished job (queued %v, finished %v)", p, j.RequestID, j.Queued, j.Finished)
		}
	}
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("add jobs of %s: %w", p, err)
	}
	defer s.d.mu.Unlock()
	for _, j := range jobs {
		j.Pool, j.Agent = p, ""
		j.Queued, j.Assigned, j.Started, j.Finished = utc(j.Queued), utc(j.Assigned), utc(j.Started), utc(j.Finished)
		j.Demands = slices.Clone(j.Demands)
		if len(j.Demands) == 0 {
			j.Demands = nil
		}
		s.d.jobs[jobKey{p, j.RequestID}] = j
	}
	s.d.cursors[p] = cursor
	return nil
}

// JobCursor returns the pool's job history cursor.
func (s *Store) JobCursor(ctx context.Context, p string) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", fmt.Errorf("job cursor of %s: %w", p, err)
	}
	defer s.d.mu.Unlock()
	v, ok := s.d.cursors[p]
	if !ok {
		return "", fmt.Errorf("job cursor of %s: %w", p, pool.ErrNotFound)
	}
	return v, nil
}

// Jobs returns the jobs queued in [q.From, q.To), oldest first.
func (s *Store) Jobs(ctx context.Context, q pool.JobsQuery) ([]pool.Job, error) {
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	defer s.d.mu.Unlock()
	var out []pool.Job
	for _, j := range s.d.jobs {
		if (q.Pool == "" || j.Pool == q.Pool) && (q.From.IsZero() || !j.Queued.Before(q.From)) && (q.To.IsZero() || j.Queued.Before(q.To)) {
			j.Demands = slices.Clone(j.Demands)
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b pool.Job) int {
		return cmp.Or(a.Queued.Compare(b.Queued), cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.RequestID, b.RequestID))
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// DeleteJobs removes the jobs that finished before the instant.
func (s *Store) DeleteJobs(ctx context.Context, before time.Time) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, fmt.Errorf("delete jobs: %w", err)
	}
	defer s.d.mu.Unlock()
	var n int64
	for k, j := range s.d.jobs {
		if j.Finished.Before(before) {
			delete(s.d.jobs, k)
			n++
		}
	}
	return n, nil
}

// BeginIntent records an open intent; see pool.IntentStore.
func (s *Store) BeginIntent(ctx context.Context, in pool.Intent, msgs ...pool.OutboxMessage) (int64, error) {
	notice, err := copyNotice(in.Notice)
	if err != nil {
		return 0, fmt.Errorf("begin intent on %s: %w", in.Pool, err)
	}
	if err := s.lock(ctx); err != nil {
		return 0, fmt.Errorf("begin intent on %s: %w", in.Pool, err)
	}
	defer s.d.mu.Unlock()
	now := s.now()
	s.d.lastIntent++
	in.ID, in.Notice, in.State, in.Result, in.Reported = s.d.lastIntent, notice, pool.IntentOpen, "", false
	in.Created, in.Updated = orNow(in.Created, now), now
	s.d.intents[in.ID] = &in
	for _, m := range msgs {
		s.enqueue(m)
	}
	return in.ID, nil
}

// copyNotice gives the notice as the SQL stores keep it: through JSON.
func copyNotice(n *pool.OutboxMessage) (*pool.OutboxMessage, error) {
	if n == nil {
		return nil, nil
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	out := &pool.OutboxMessage{}
	return out, json.Unmarshal(b, out)
}

// openIntent returns the open intent id, or pool.ErrNotFound.
func (s *Store) openIntent(id int64) (*pool.Intent, error) {
	in, ok := s.d.intents[id]
	if !ok || in.State != pool.IntentOpen {
		return nil, pool.ErrNotFound
	}
	return in, nil
}

// writeOutcome writes o's audit entry, messages and values.
func (s *Store) writeOutcome(o pool.Outcome) {
	if o.Audit != nil {
		s.addAudit(*o.Audit)
	}
	for _, m := range o.Messages {
		s.enqueue(m)
	}
	for k, v := range o.Puts {
		s.d.kv[k] = v
	}
}

// StepIntent records an open intent's progress; see pool.IntentStore.
func (s *Store) StepIntent(ctx context.Context, id int64, step string, o pool.Outcome) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("step intent %d: %w", id, err)
	}
	defer s.d.mu.Unlock()
	in, err := s.openIntent(id)
	if err != nil {
		return fmt.Errorf("step intent %d: %w", id, err)
	}
	in.Step, in.Updated = step, s.now()
	s.writeOutcome(o)
	return nil
}

// FinishIntent closes an open intent with its outcome; see pool.IntentStore.
func (s *Store) FinishIntent(ctx context.Context, id int64, o pool.Outcome) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("finish intent %d: %w", id, err)
	}
	defer s.d.mu.Unlock()
	in, err := s.openIntent(id)
	if err != nil {
		return fmt.Errorf("finish intent %d: %w", id, err)
	}
	in.State, in.Result, in.Reported, in.Updated = o.State, o.Result, o.Reported, s.now()
	s.writeOutcome(o)
	return nil
}

// MarkReported marks the request's finished intents reported.
func (s *Store) MarkReported(ctx context.Context, requestID string) error {
	if requestID == "" {
		return nil
	}
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("mark request %s reported: %w", requestID, err)
	}
	defer s.d.mu.Unlock()
	for _, in := range s.d.intents {
		if in.RequestID == requestID && in.State != pool.IntentOpen {
			in.Reported = true
		}
	}
	return nil
}

// ReportIntent marks a finished intent reported and queues msgs with it.
func (s *Store) ReportIntent(ctx context.Context, id int64, msgs ...pool.OutboxMessage) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("report intent %d: %w", id, err)
	}
	defer s.d.mu.Unlock()
	in, ok := s.d.intents[id]
	if !ok || in.State == pool.IntentOpen || in.Reported {
		return fmt.Errorf("report intent %d: %w", id, pool.ErrNotFound)
	}
	in.Reported = true
	for _, m := range msgs {
		s.enqueue(m)
	}
	return nil
}

// Unsettled returns open and unreported intents, oldest first.
func (s *Store) Unsettled(ctx context.Context) ([]pool.Intent, error) {
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("read intents: %w", err)
	}
	defer s.d.mu.Unlock()
	var out []pool.Intent
	for _, in := range s.d.intents {
		if !in.Reported {
			c := *in
			c.Notice, _ = copyNotice(in.Notice) // it went through JSON once already
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b pool.Intent) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// ReleaseLeases ends every lease whose owner starts with prefix.
func (s *Store) ReleaseLeases(ctx context.Context, prefix string) ([]string, error) {
	if prefix == "" {
		return nil, errors.New("release leases: an owner prefix is needed")
	}
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("release leases of %s: %w", prefix, err)
	}
	defer s.d.mu.Unlock()
	var keys []string
	for k, l := range s.d.leases {
		if strings.HasPrefix(l.Owner, prefix) {
			delete(s.d.leases, k)
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}
