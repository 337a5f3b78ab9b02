// Package sqlstore implements pool.Store over database/sql for both SQLite
// and PostgreSQL. The two differ only in a Dialect: placeholders, how a time
// is bound, and their migrations.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

// Dialect is what differs between databases.
type Dialect struct {
	Name string
	// Dollar numbers placeholders $1, $2… (PostgreSQL) instead of ?.
	Dollar bool
	// BindTime turns a UTC time into the value stored; zero times are NULL.
	BindTime func(time.Time) any
	// Migrations holds NNNN_name.sql files, applied in order of NNNN.
	Migrations fs.FS
	// LockMigrations, if set, runs first in the migration transaction so
	// that replicas starting together migrate one at a time.
	LockMigrations string
}

// Options are the settings common to both stores.
type Options struct {
	// Clock gives "now" to Pending (messages whose NotBefore is after now
	// wait) and to records written with a zero time.
	Clock clock.Clock
}

// Option sets an Option.
type Option func(*Options)

// WithClock makes the store read time from c instead of the wall clock.
func WithClock(c clock.Clock) Option { return func(o *Options) { o.Clock = c } }

// Apply returns the options with defaults.
func Apply(opts []Option) Options {
	o := Options{Clock: clock.Real{}}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Store is pool.Store on a database/sql handle.
type Store struct {
	db       *preparedDB
	d        Dialect
	clk      clock.Clock
	queries  map[string]string // rebound queries, by their ?-form
	closers  []func() error
	seen     pruneState    // Remember's pruning
	cache    readCache     // answers of reads marked pool.MayBeCached
	remember rememberGroup // Remember's group commit
}

var _ pool.Store = (*Store)(nil)

// New returns a store on db; call Migrate before use. closers run on Close
// after db is closed.
func New(db *sql.DB, d Dialect, o Options, closers ...func() error) *Store {
	s := &Store{d: d, clk: o.Clock, queries: map[string]string{}, closers: closers}
	var known map[string]bool
	if !d.Dollar {
		// SQLite; pgx keeps prepared statements of its own.
		known = map[string]bool{}
	}
	for _, q := range allQueries {
		s.queries[q] = rebind(q, d.Dollar)
		if known != nil {
			known[s.queries[q]] = true
		}
	}
	s.db = newPreparedDB(db, known)
	return s
}

// DB is the underlying handle, for tests and health checks.
func (s *Store) DB() *sql.DB { return s.db.DB }

func rebind(q string, dollar bool) string {
	if !dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Store) q(query string) string {
	if r, ok := s.queries[query]; ok {
		return r
	}
	return rebind(query, s.d.Dollar)
}

func (s *Store) t(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.d.BindTime(t.UTC())
}

// Migrate brings the schema up to the newest migration. It records each
// applied version in schema_migrations.
func (s *Store) Migrate(ctx context.Context) error {
	migs, err := readMigrations(s.d.Migrations)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: begin: %w", s.d.Name, err)
	}
	defer tx.Rollback()
	if s.d.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, s.d.LockMigrations); err != nil {
			return fmt.Errorf("migrate %s: lock: %w", s.d.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate %s: create schema_migrations: %w", s.d.Name, err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate %s: read version: %w", s.d.Name, err)
	}
	if n := len(migs); n > 0 && current > migs[n-1].version {
		return fmt.Errorf("migrate %s: the database is at schema version %d, newer than this poolbot knows (%d)", s.d.Name, current, migs[n-1].version)
	}
	for _, m := range migs {
		if m.version <= current {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate %s: %04d_%s: %w", s.d.Name, m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
			m.version, m.name, s.clk.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("migrate %s: record %04d: %w", s.d.Name, m.version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", s.d.Name, err)
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func readMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var migs []migration
	seen := map[int]string{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name it NNNN_what.sql", n)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same version", prev, n)
		}
		seen[v] = n
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		migs = append(migs, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	return migs, nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	for _, c := range s.closers {
		err = errors.Join(err, c())
	}
	return err
}

// Queries, in the ?-form; New rebinds them once for the dialect.
const (
	qAddAudit = `INSERT INTO audit (logged_at, actor, actor_name, channel, source, command, pool, before_value, after_value, result, request_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	qAuditAll  = `SELECT id, logged_at, actor, actor_name, channel, source, command, pool, before_value, after_value, result, request_id FROM audit ORDER BY id DESC LIMIT ?`
	qAuditPool = `SELECT id, logged_at, actor, actor_name, channel, source, command, pool, before_value, after_value, result, request_id FROM audit WHERE pool = ? ORDER BY id DESC LIMIT ?`

	qSaveSettings = `INSERT INTO saved_settings (pool, standby, max_agents, ttl_minutes, recycle, saved_at, saved_by)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pool) DO NOTHING`
	qSavedSettings      = `SELECT pool, standby, max_agents, ttl_minutes, recycle, saved_at, saved_by FROM saved_settings WHERE pool = ?`
	qClearSavedSettings = `DELETE FROM saved_settings WHERE pool = ?`

	qPutOverride = `INSERT INTO overrides (pool, kind, standby, max_agents, ttl_minutes, recycle, until_at, skip_at, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (pool, kind) DO UPDATE SET standby = excluded.standby, max_agents = excluded.max_agents,
		ttl_minutes = excluded.ttl_minutes, recycle = excluded.recycle, until_at = excluded.until_at,
		skip_at = excluded.skip_at, created_by = excluded.created_by, created_at = excluded.created_at`
	qDeleteOverride = `DELETE FROM overrides WHERE pool = ? AND kind = ?`
	qOverrides      = `SELECT pool, kind, standby, max_agents, ttl_minutes, recycle, until_at, skip_at, created_by, created_at FROM overrides ORDER BY pool, kind`

	qPutMute = `INSERT INTO mutes (pool, alert_condition, until_at, muted_by) VALUES (?, ?, ?, ?)
		ON CONFLICT (pool, alert_condition) DO UPDATE SET until_at = excluded.until_at, muted_by = excluded.muted_by`
	qMutes      = `SELECT pool, alert_condition, until_at, muted_by FROM mutes ORDER BY pool, alert_condition`
	qDeleteMute = `DELETE FROM mutes WHERE pool = ? AND alert_condition = ?`

	qPutAlert = `INSERT INTO alerts (alert_key, pool, alert_condition, severity, firing, incident, fire_count, summary, detail, channel,
		message_key, started_at, updated_at, notified_at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (alert_key) DO UPDATE SET pool = excluded.pool, alert_condition = excluded.alert_condition,
		severity = excluded.severity, firing = excluded.firing, incident = excluded.incident, fire_count = excluded.fire_count,
		summary = excluded.summary, detail = excluded.detail, channel = excluded.channel, message_key = excluded.message_key,
		started_at = excluded.started_at, updated_at = excluded.updated_at, notified_at = excluded.notified_at,
		resolved_at = excluded.resolved_at`
	qAlerts = `SELECT alert_key, pool, alert_condition, severity, firing, incident, fire_count, summary, detail, channel,
		message_key, started_at, updated_at, notified_at, resolved_at FROM alerts ORDER BY alert_key`

	qEnqueue = `INSERT INTO outbox (channel, message_key, op, text, blocks, created_at, attempts, not_before)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	qPending = `SELECT id, channel, message_key, op, text, blocks, created_at, attempts, not_before FROM outbox
		WHERE refused_at IS NULL AND (not_before IS NULL OR not_before <= ?) ORDER BY id LIMIT ?`
	qRefuse  = `UPDATE outbox SET refused_at = ?, refusal = ?, attempts = attempts + 1 WHERE id = ?`
	qRefused = `SELECT id, channel, message_key, op, text, blocks, created_at, attempts, not_before, refused_at, refusal
		FROM outbox WHERE refused_at IS NOT NULL ORDER BY id LIMIT ?`
	qRequeueAll = `UPDATE outbox SET refused_at = NULL, refusal = '', attempts = 0, not_before = NULL WHERE refused_at IS NOT NULL`
	qRequeue    = `UPDATE outbox SET refused_at = NULL, refusal = '', attempts = 0, not_before = NULL WHERE id = ? AND refused_at IS NOT NULL`
	qTakeOutbox = `DELETE FROM outbox WHERE id = ? RETURNING channel, message_key, op`
	qRecordSent = `INSERT INTO sent (message_key, channel, ts) VALUES (?, ?, ?)
		ON CONFLICT (message_key) DO UPDATE SET channel = excluded.channel, ts = excluded.ts`
	// An update or reply whose original was never recorded was posted in
	// its place: that post becomes the key's message, unless one exists.
	qRecordSentIfNone = `INSERT INTO sent (message_key, channel, ts) VALUES (?, ?, ?)
		ON CONFLICT (message_key) DO NOTHING`
	qRetry       = `UPDATE outbox SET attempts = attempts + 1, not_before = ? WHERE id = ?`
	qSentMessage = `SELECT message_key, channel, ts FROM sent WHERE message_key = ?`

	qGet = `SELECT v FROM kv WHERE k = ?`
	qPut = `INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`

	qClaim = `INSERT INTO claims (claim_key, owner, claimed_at) VALUES (?, ?, ?) ON CONFLICT (claim_key) DO NOTHING`

	// One statement takes a free key, a lapsed lease or the owner's own. On
	// PostgreSQL the conflicting row is locked and the WHERE re-checked on
	// its newest version, so of replicas racing for a key exactly one wins;
	// SQLite runs one writer at a time. A refused update returns no row.
	qTakeLease = `INSERT INTO leases (lease_key, owner, info, until_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (lease_key) DO UPDATE SET owner = excluded.owner, info = excluded.info, until_at = excluded.until_at
		WHERE leases.owner = excluded.owner OR leases.until_at <= ?
		RETURNING until_at`
	qLease        = `SELECT owner, info, until_at FROM leases WHERE lease_key = ?`
	qLiveLease    = `SELECT owner, info, until_at FROM leases WHERE lease_key = ? AND until_at > ?`
	qReleaseLease = `DELETE FROM leases WHERE lease_key = ? AND owner = ?`
)

var allQueries = []string{qAddAudit, qAuditAll, qAuditPool, qSaveSettings, qSavedSettings, qClearSavedSettings,
	qPutOverride, qDeleteOverride, qOverrides, qPutMute, qMutes, qDeleteMute, qPutAlert, qAlerts,
	qEnqueue, qPending, qRefuse, qRefused, qRequeueAll, qRequeue, qTakeOutbox, qRecordSent, qRetry, qSentMessage, qGet, qPut, qClaim,
	qTakeLease, qLease, qLiveLease, qReleaseLease}

func (s *Store) now() time.Time { return s.clk.Now().UTC() }

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

func (s *Store) AddAudit(ctx context.Context, e pool.AuditEntry) (int64, error) {
	defer s.writing()()
	var id int64
	err := s.db.QueryRowContext(ctx, s.q(qAddAudit), s.t(orNow(e.Time, s.now())), e.Actor, e.ActorName, e.Channel, e.Source,
		e.Command, e.Pool, e.Before, e.After, e.Result, e.RequestID).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add audit entry: %w", err)
	}
	return id, nil
}

func (s *Store) Audit(ctx context.Context, q pool.AuditQuery) ([]pool.AuditEntry, error) {
	return cached(s, ctx, "audit/"+strconv.Itoa(q.Limit)+"/"+q.Pool, cloned, func() ([]pool.AuditEntry, error) { return s.audit(ctx, q) })
}

func (s *Store) audit(ctx context.Context, q pool.AuditQuery) ([]pool.AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	var rows *sql.Rows
	var err error
	if q.Pool == "" {
		rows, err = s.db.QueryContext(ctx, s.q(qAuditAll), limit)
	} else {
		rows, err = s.db.QueryContext(ctx, s.q(qAuditPool), q.Pool, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var out []pool.AuditEntry
	for rows.Next() {
		var e pool.AuditEntry
		var at nullTime
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.ActorName, &e.Channel, &e.Source, &e.Command, &e.Pool,
			&e.Before, &e.After, &e.Result, &e.RequestID); err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		e.Time = at.t
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	return out, nil
}

func intArg(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

func boolArg(p *bool) any {
	if p == nil {
		return nil
	}
	return *p
}

type settingsCols struct {
	standby, max, ttl sql.NullInt64
	recycle           sql.NullBool
}

func (c settingsCols) settings() pool.Settings {
	var s pool.Settings
	if c.standby.Valid {
		s.Standby = pool.Int(int(c.standby.Int64))
	}
	if c.max.Valid {
		s.Max = pool.Int(int(c.max.Int64))
	}
	if c.ttl.Valid {
		s.TTLMinutes = pool.Int(int(c.ttl.Int64))
	}
	if c.recycle.Valid {
		s.Recycle = pool.Bool(c.recycle.Bool)
	}
	return s
}

func (s *Store) SaveSettings(ctx context.Context, v pool.Saved) (bool, error) {
	defer s.writing()()
	st := v.Settings
	res, err := s.db.ExecContext(ctx, s.q(qSaveSettings), v.Pool, intArg(st.Standby), intArg(st.Max), intArg(st.TTLMinutes),
		boolArg(st.Recycle), s.t(orNow(v.Time, s.now())), v.By)
	if err != nil {
		return false, fmt.Errorf("save settings of %s: %w", v.Pool, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("save settings of %s: %w", v.Pool, err)
	}
	return n == 1, nil
}

func (s *Store) SavedSettings(ctx context.Context, p string) (pool.Saved, error) {
	var v pool.Saved
	var c settingsCols
	var at nullTime
	err := s.db.QueryRowContext(ctx, s.q(qSavedSettings), p).Scan(&v.Pool, &c.standby, &c.max, &c.ttl, &c.recycle, &at, &v.By)
	if errors.Is(err, sql.ErrNoRows) {
		return pool.Saved{}, fmt.Errorf("saved settings of %s: %w", p, pool.ErrNotFound)
	}
	if err != nil {
		return pool.Saved{}, fmt.Errorf("saved settings of %s: %w", p, err)
	}
	v.Settings = c.settings()
	v.Time = at.t
	return v, nil
}

func (s *Store) ClearSavedSettings(ctx context.Context, p string) error {
	defer s.writing()()
	if _, err := s.db.ExecContext(ctx, s.q(qClearSavedSettings), p); err != nil {
		return fmt.Errorf("clear saved settings of %s: %w", p, err)
	}
	return nil
}

func (s *Store) PutOverride(ctx context.Context, o pool.Override) error {
	defer s.writing()()
	st := o.Settings
	_, err := s.db.ExecContext(ctx, s.q(qPutOverride), o.Pool, o.Kind, intArg(st.Standby), intArg(st.Max), intArg(st.TTLMinutes),
		boolArg(st.Recycle), s.t(o.Until), s.t(o.SkipAt), o.By, s.t(orNow(o.Created, s.now())))
	if err != nil {
		return fmt.Errorf("put %s override of %s: %w", o.Kind, o.Pool, err)
	}
	return nil
}

func (s *Store) DeleteOverride(ctx context.Context, p, kind string) error {
	defer s.writing()()
	if _, err := s.db.ExecContext(ctx, s.q(qDeleteOverride), p, kind); err != nil {
		return fmt.Errorf("delete %s override of %s: %w", kind, p, err)
	}
	return nil
}

func (s *Store) Overrides(ctx context.Context) ([]pool.Override, error) {
	return cached(s, ctx, "overrides", cloned, func() ([]pool.Override, error) { return s.overrides(ctx) })
}

func (s *Store) overrides(ctx context.Context) ([]pool.Override, error) {
	rows, err := s.db.QueryContext(ctx, s.q(qOverrides))
	if err != nil {
		return nil, fmt.Errorf("read overrides: %w", err)
	}
	defer rows.Close()
	var out []pool.Override
	for rows.Next() {
		var o pool.Override
		var c settingsCols
		var until, skip, created nullTime
		if err := rows.Scan(&o.Pool, &o.Kind, &c.standby, &c.max, &c.ttl, &c.recycle, &until, &skip, &o.By, &created); err != nil {
			return nil, fmt.Errorf("read overrides: %w", err)
		}
		o.Settings, o.Until, o.SkipAt, o.Created = c.settings(), until.t, skip.t, created.t
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read overrides: %w", err)
	}
	return out, nil
}

func (s *Store) PutMute(ctx context.Context, m pool.Mute) error {
	defer s.writing()()
	if _, err := s.db.ExecContext(ctx, s.q(qPutMute), m.Pool, m.Condition, s.t(m.Until), m.By); err != nil {
		return fmt.Errorf("mute %s %s: %w", m.Pool, m.Condition, err)
	}
	return nil
}

func (s *Store) Mutes(ctx context.Context) ([]pool.Mute, error) {
	return cached(s, ctx, "mutes", cloned, func() ([]pool.Mute, error) { return s.mutes(ctx) })
}

func (s *Store) mutes(ctx context.Context) ([]pool.Mute, error) {
	rows, err := s.db.QueryContext(ctx, s.q(qMutes))
	if err != nil {
		return nil, fmt.Errorf("read mutes: %w", err)
	}
	defer rows.Close()
	var out []pool.Mute
	for rows.Next() {
		var m pool.Mute
		var until nullTime
		if err := rows.Scan(&m.Pool, &m.Condition, &until, &m.By); err != nil {
			return nil, fmt.Errorf("read mutes: %w", err)
		}
		m.Until = until.t
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read mutes: %w", err)
	}
	return out, nil
}

func (s *Store) DeleteMute(ctx context.Context, p, condition string) error {
	defer s.writing()()
	if _, err := s.db.ExecContext(ctx, s.q(qDeleteMute), p, condition); err != nil {
		return fmt.Errorf("unmute %s %s: %w", p, condition, err)
	}
	return nil
}

func (s *Store) PutAlert(ctx context.Context, a pool.Alert) error {
	defer s.writing()()
	_, err := s.db.ExecContext(ctx, s.q(qPutAlert), a.Key, a.Pool, a.Condition, a.Severity, a.Firing, int64(a.Incident), int64(a.Count),
		a.Summary, a.Detail, a.Channel, a.MessageKey, s.t(a.StartedAt), s.t(a.UpdatedAt), s.t(a.NotifiedAt), s.t(a.ResolvedAt))
	if err != nil {
		return fmt.Errorf("put alert %s: %w", a.Key, err)
	}
	return nil
}

func (s *Store) Alerts(ctx context.Context) ([]pool.Alert, error) {
	rows, err := s.db.QueryContext(ctx, s.q(qAlerts))
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	defer rows.Close()
	var out []pool.Alert
	for rows.Next() {
		var a pool.Alert
		var incident, count int64
		var started, updated, notified, resolved nullTime
		if err := rows.Scan(&a.Key, &a.Pool, &a.Condition, &a.Severity, &a.Firing, &incident, &count, &a.Summary, &a.Detail,
			&a.Channel, &a.MessageKey, &started, &updated, &notified, &resolved); err != nil {
			return nil, fmt.Errorf("read alerts: %w", err)
		}
		a.Incident, a.Count = int(incident), int(count)
		a.StartedAt, a.UpdatedAt, a.NotifiedAt, a.ResolvedAt = started.t, updated.t, notified.t, resolved.t
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	return out, nil
}

func (s *Store) Enqueue(ctx context.Context, m pool.OutboxMessage) (int64, error) {
	defer s.writing()()
	var id int64
	err := s.db.QueryRowContext(ctx, s.q(qEnqueue), m.Channel, m.Key, m.Op, m.Text, m.Blocks, s.t(orNow(m.Created, s.now())),
		int64(m.Attempts), s.t(m.NotBefore)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("enqueue %s %s: %w", m.Op, m.Key, err)
	}
	return id, nil
}

// Pending returns unsent messages in ID order, leaving out those whose
// NotBefore is after the store clock's now. limit <= 0 means 100.
func (s *Store) Pending(ctx context.Context, limit int) ([]pool.OutboxMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, s.q(qPending), s.d.BindTime(s.now()), limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []pool.OutboxMessage
	for rows.Next() {
		var m pool.OutboxMessage
		var attempts int64
		var created, notBefore nullTime
		if err := rows.Scan(&m.ID, &m.Channel, &m.Key, &m.Op, &m.Text, &m.Blocks, &created, &attempts, &notBefore); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		m.Attempts, m.Created, m.NotBefore = int(attempts), created.t, notBefore.t
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// MarkSent removes message id from the outbox and, for a post, records the
// Slack message it became under its key, in one transaction. sent.Key and
// sent.Channel default to the message's.
func (s *Store) MarkSent(ctx context.Context, id int64, sent pool.Sent) error {
	defer s.writing()()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark message %d sent: %w", id, err)
	}
	defer tx.Rollback()
	var channel, key, op string
	err = tx.QueryRowContext(ctx, s.q(qTakeOutbox), id).Scan(&channel, &key, &op)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("mark message %d sent: %w", id, pool.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mark message %d sent: %w", id, err)
	}
	if op == "post" || sent.TS != "" {
		if sent.Key == "" {
			sent.Key = key
		}
		if sent.Channel == "" {
			sent.Channel = channel
		}
		q := qRecordSent
		if op != "post" {
			q = qRecordSentIfNone
		}
		if _, err := tx.ExecContext(ctx, s.q(q), sent.Key, sent.Channel, sent.TS); err != nil {
			return fmt.Errorf("mark message %d sent: record %s: %w", id, sent.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark message %d sent: %w", id, err)
	}
	return nil
}

func (s *Store) Retry(ctx context.Context, id int64, notBefore time.Time) error {
	defer s.writing()()
	res, err := s.db.ExecContext(ctx, s.q(qRetry), s.t(notBefore), id)
	if err != nil {
		return fmt.Errorf("retry message %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("retry message %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("retry message %d: %w", id, pool.ErrNotFound)
	}
	return nil
}

// Refuse sets message id aside as a dead letter; see pool.Store.
func (s *Store) Refuse(ctx context.Context, id int64, reason string, at time.Time) error {
	defer s.writing()()
	res, err := s.db.ExecContext(ctx, s.q(qRefuse), s.d.BindTime(orNow(at, s.now()).UTC()), reason, id)
	if err != nil {
		return fmt.Errorf("refuse message %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("refuse message %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("refuse message %d: %w", id, pool.ErrNotFound)
	}
	return nil
}

// Refused lists the dead letters in ID order. limit <= 0 means 100.
func (s *Store) Refused(ctx context.Context, limit int) ([]pool.OutboxMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, s.q(qRefused), limit)
	if err != nil {
		return nil, fmt.Errorf("read refused messages: %w", err)
	}
	defer rows.Close()
	var out []pool.OutboxMessage
	for rows.Next() {
		var m pool.OutboxMessage
		var attempts int64
		var created, notBefore, refused nullTime
		if err := rows.Scan(&m.ID, &m.Channel, &m.Key, &m.Op, &m.Text, &m.Blocks, &created, &attempts, &notBefore,
			&refused, &m.Refusal); err != nil {
			return nil, fmt.Errorf("read refused messages: %w", err)
		}
		m.Attempts, m.Created, m.NotBefore, m.RefusedAt = int(attempts), created.t, notBefore.t, refused.t
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read refused messages: %w", err)
	}
	return out, nil
}

// Requeue makes dead letters pending again; see pool.Store.
func (s *Store) Requeue(ctx context.Context, ids []int64) (int, error) {
	defer s.writing()()
	if len(ids) == 0 {
		res, err := s.db.ExecContext(ctx, s.q(qRequeueAll))
		if err != nil {
			return 0, fmt.Errorf("requeue refused messages: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("requeue refused messages: %w", err)
		}
		return int(n), nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("requeue refused messages: %w", err)
	}
	defer tx.Rollback()
	total := 0
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, s.q(qRequeue), id)
		if err != nil {
			return 0, fmt.Errorf("requeue message %d: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("requeue message %d: %w", id, err)
		}
		total += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("requeue refused messages: %w", err)
	}
	return total, nil
}

func (s *Store) SentMessage(ctx context.Context, key string) (pool.Sent, error) {
	var v pool.Sent
	err := s.db.QueryRowContext(ctx, s.q(qSentMessage), key).Scan(&v.Key, &v.Channel, &v.TS)
	if errors.Is(err, sql.ErrNoRows) {
		return pool.Sent{}, fmt.Errorf("sent message %s: %w", key, pool.ErrNotFound)
	}
	if err != nil {
		return pool.Sent{}, fmt.Errorf("sent message %s: %w", key, err)
	}
	return v, nil
}

func (s *Store) Get(ctx context.Context, key string) (string, error) {
	return cached(s, ctx, "kv/"+key, same, func() (string, error) { return s.get(ctx, key) })
}

func (s *Store) get(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q(qGet), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("get %s: %w", key, pool.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get %s: %w", key, err)
	}
	return v, nil
}

func (s *Store) Put(ctx context.Context, key, value string) error {
	defer s.writing()()
	if _, err := s.db.ExecContext(ctx, s.q(qPut), key, value); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (s *Store) Claim(ctx context.Context, key, owner string) (bool, error) {
	defer s.writing()()
	res, err := s.db.ExecContext(ctx, s.q(qClaim), key, owner, s.d.BindTime(s.now()))
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	return n == 1, nil
}

// TakeLease takes, renews, or reports who holds the lease on key; see
// pool.Store. "Now" is the store clock's.
func (s *Store) TakeLease(ctx context.Context, key, owner, info string, until time.Time) (bool, pool.Lease, error) {
	defer s.writing()()
	if key == "" || owner == "" || until.IsZero() {
		return false, pool.Lease{}, fmt.Errorf("take lease %q: a key, an owner and an end are needed", key)
	}
	// A holder that releases between the refused upsert and the read
	// leaves nothing to report: try again, a few times at most.
	for range 3 {
		var at nullTime
		err := s.db.QueryRowContext(ctx, s.q(qTakeLease), key, owner, info, s.d.BindTime(until.UTC()), s.d.BindTime(s.now())).Scan(&at)
		if err == nil {
			return true, pool.Lease{Key: key, Owner: owner, Info: info, Until: at.t}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, pool.Lease{}, fmt.Errorf("take lease %s: %w", key, err)
		}
		cur := pool.Lease{Key: key}
		err = s.db.QueryRowContext(ctx, s.q(qLease), key).Scan(&cur.Owner, &cur.Info, &at)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return false, pool.Lease{}, fmt.Errorf("take lease %s: read holder: %w", key, err)
		}
		cur.Until = at.t
		return false, cur, nil
	}
	return false, pool.Lease{}, fmt.Errorf("take lease %s: taken and released repeatedly while trying", key)
}

// ReleaseLease ends owner's lease on key, if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, key, owner string) error {
	defer s.writing()()
	if _, err := s.db.ExecContext(ctx, s.q(qReleaseLease), key, owner); err != nil {
		return fmt.Errorf("release lease %s: %w", key, err)
	}
	return nil
}

// CurrentLease returns the unlapsed lease on key, or pool.ErrNotFound.
func (s *Store) CurrentLease(ctx context.Context, key string) (pool.Lease, error) {
	l, err := cached(s, ctx, "lease/"+key, same, func() (pool.Lease, error) { return s.currentLease(ctx, key) })
	if err == nil && !l.Until.After(s.now()) {
		// Kept, it has lapsed since.
		return pool.Lease{}, fmt.Errorf("lease %s: %w", key, pool.ErrNotFound)
	}
	return l, err
}

func (s *Store) currentLease(ctx context.Context, key string) (pool.Lease, error) {
	l := pool.Lease{Key: key}
	var at nullTime
	err := s.db.QueryRowContext(ctx, s.q(qLiveLease), key, s.d.BindTime(s.now())).Scan(&l.Owner, &l.Info, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return pool.Lease{}, fmt.Errorf("lease %s: %w", key, pool.ErrNotFound)
	}
	if err != nil {
		return pool.Lease{}, fmt.Errorf("lease %s: %w", key, err)
	}
	l.Until = at.t
	return l, nil
}

// nullTime scans a time stored as a time, as text, or NULL (the zero time),
// and gives it in UTC.
type nullTime struct{ t time.Time }

// TimeLayout is how SQLite stores times: fixed width, so that text order is
// time order.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

func (n *nullTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		n.t = time.Time{}
	case time.Time:
		n.t = x.UTC()
	case string:
		return n.parse(x)
	case []byte:
		return n.parse(string(x))
	default:
		return fmt.Errorf("cannot read %T as a time", v)
	}
	return nil
}

func (n *nullTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("read time %q: %w", s, err)
	}
	n.t = t.UTC()
	return nil
}
