package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/poolbot/poolbot/pool"
)

var _ pool.IntentStore = (*Store)(nil)

const (
	qBeginIntent = `INSERT INTO intents (kind, pool, actor, actor_name, channel, source, request_id, command, before_value,
		target, replica, step, message_key, notice, state, result, reported, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING id`
	qStepIntent   = `UPDATE intents SET step = ?, updated_at = ? WHERE id = ? AND state = 'open'`
	qFinishIntent = `UPDATE intents SET state = ?, result = ?, reported = ?, updated_at = ? WHERE id = ? AND state = 'open'`
	qReported     = `UPDATE intents SET reported = 1 WHERE request_id = ? AND state <> 'open'`
	qReportIntent = `UPDATE intents SET reported = 1 WHERE id = ? AND state <> 'open' AND reported = 0`
	qUnsettled    = `SELECT id, kind, pool, actor, actor_name, channel, source, request_id, command, before_value, target,
		replica, step, message_key, notice, state, result, reported, created_at, updated_at FROM intents
		WHERE reported = 0 ORDER BY id`
	// substr, not LIKE: SQLite's LIKE ignores case.
	qLeasesOf = `DELETE FROM leases WHERE substr(owner, 1, ?) = ? RETURNING lease_key`
)

func init() {
	allQueries = append(allQueries, qBeginIntent, qStepIntent, qFinishIntent, qReported, qReportIntent, qUnsettled, qLeasesOf)
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) enqueueIn(ctx context.Context, x execer, msgs []pool.OutboxMessage) error {
	for _, m := range msgs {
		var id int64
		if err := x.QueryRowContext(ctx, s.q(qEnqueue), m.Channel, m.Key, m.Op, m.Text, m.Blocks, s.t(orNow(m.Created, s.now())),
			int64(m.Attempts), s.t(m.NotBefore)).Scan(&id); err != nil {
			return fmt.Errorf("enqueue %s %s: %w", m.Op, m.Key, err)
		}
	}
	return nil
}

// BeginIntent records an open intent; see pool.IntentStore.
func (s *Store) BeginIntent(ctx context.Context, in pool.Intent, msgs ...pool.OutboxMessage) (int64, error) {
	defer s.writing()()
	notice := ""
	if in.Notice != nil {
		b, err := json.Marshal(in.Notice)
		if err != nil {
			return 0, fmt.Errorf("begin intent on %s: %w", in.Pool, err)
		}
		notice = string(b)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin intent on %s: %w", in.Pool, err)
	}
	defer tx.Rollback()
	now := s.now()
	var id int64
	if err := tx.QueryRowContext(ctx, s.q(qBeginIntent), in.Kind, in.Pool, in.Actor, in.ActorName, in.Channel, in.Source,
		in.RequestID, in.Command, in.Before, in.Target, in.Replica, in.Step, in.MessageKey, notice, pool.IntentOpen, "",
		s.t(orNow(in.Created, now)), s.t(now)).Scan(&id); err != nil {
		return 0, fmt.Errorf("begin intent on %s: %w", in.Pool, err)
	}
	if err := s.enqueueIn(ctx, tx, msgs); err != nil {
		return 0, fmt.Errorf("begin intent on %s: %w", in.Pool, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("begin intent on %s: %w", in.Pool, err)
	}
	return id, nil
}

// StepIntent records an open intent's progress; see pool.IntentStore.
func (s *Store) StepIntent(ctx context.Context, id int64, step string, o pool.Outcome) error {
	defer s.writing()()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("step intent %d: %w", id, err)
	}
	defer tx.Rollback()
	if err := one(tx.ExecContext(ctx, s.q(qStepIntent), step, s.t(s.now()), id)); err != nil {
		return fmt.Errorf("step intent %d: %w", id, err)
	}
	if err := s.writeOutcome(ctx, tx, o); err != nil {
		return fmt.Errorf("step intent %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("step intent %d: %w", id, err)
	}
	return nil
}

// writeOutcome writes o's audit entry, messages and values in tx.
func (s *Store) writeOutcome(ctx context.Context, tx *sql.Tx, o pool.Outcome) error {
	if e := o.Audit; e != nil {
		var aid int64
		if err := tx.QueryRowContext(ctx, s.q(qAddAudit), s.t(orNow(e.Time, s.now())), e.Actor, e.ActorName, e.Channel, e.Source,
			e.Command, e.Pool, e.Before, e.After, e.Result, e.RequestID).Scan(&aid); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if err := s.enqueueIn(ctx, tx, o.Messages); err != nil {
		return err
	}
	for k, v := range o.Puts {
		if _, err := tx.ExecContext(ctx, s.q(qPut), k, v); err != nil {
			return fmt.Errorf("put %s: %w", k, err)
		}
	}
	return nil
}

// FinishIntent closes an open intent with its outcome; see pool.IntentStore.
func (s *Store) FinishIntent(ctx context.Context, id int64, o pool.Outcome) error {
	defer s.writing()()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("finish intent %d: %w", id, err)
	}
	defer tx.Rollback()
	reported := 0
	if o.Reported {
		reported = 1
	}
	if err := one(tx.ExecContext(ctx, s.q(qFinishIntent), o.State, o.Result, reported, s.t(s.now()), id)); err != nil {
		return fmt.Errorf("finish intent %d: %w", id, err)
	}
	if err := s.writeOutcome(ctx, tx, o); err != nil {
		return fmt.Errorf("finish intent %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("finish intent %d: %w", id, err)
	}
	return nil
}

// one turns an update that touched no row into pool.ErrNotFound.
func one(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return pool.ErrNotFound
	}
	return nil
}

// MarkReported marks the request's finished intents reported.
func (s *Store) MarkReported(ctx context.Context, requestID string) error {
	defer s.writing()()
	if requestID == "" {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.q(qReported), requestID); err != nil {
		return fmt.Errorf("mark request %s reported: %w", requestID, err)
	}
	return nil
}

// ReportIntent marks a finished intent reported and queues msgs with it.
func (s *Store) ReportIntent(ctx context.Context, id int64, msgs ...pool.OutboxMessage) error {
	defer s.writing()()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("report intent %d: %w", id, err)
	}
	defer tx.Rollback()
	if err := one(tx.ExecContext(ctx, s.q(qReportIntent), id)); err != nil {
		return fmt.Errorf("report intent %d: %w", id, err)
	}
	if err := s.enqueueIn(ctx, tx, msgs); err != nil {
		return fmt.Errorf("report intent %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("report intent %d: %w", id, err)
	}
	return nil
}

// Unsettled returns open and unreported intents, oldest first.
func (s *Store) Unsettled(ctx context.Context) ([]pool.Intent, error) {
	rows, err := s.db.QueryContext(ctx, s.q(qUnsettled))
	if err != nil {
		return nil, fmt.Errorf("read intents: %w", err)
	}
	defer rows.Close()
	var out []pool.Intent
	for rows.Next() {
		var in pool.Intent
		var notice string
		var reported int64
		var created, updated nullTime
		if err := rows.Scan(&in.ID, &in.Kind, &in.Pool, &in.Actor, &in.ActorName, &in.Channel, &in.Source, &in.RequestID,
			&in.Command, &in.Before, &in.Target, &in.Replica, &in.Step, &in.MessageKey, &notice, &in.State, &in.Result,
			&reported, &created, &updated); err != nil {
			return nil, fmt.Errorf("read intents: %w", err)
		}
		if notice != "" {
			in.Notice = &pool.OutboxMessage{}
			if err := json.Unmarshal([]byte(notice), in.Notice); err != nil {
				return nil, fmt.Errorf("read intent %d: notice: %w", in.ID, err)
			}
		}
		in.Reported, in.Created, in.Updated = reported != 0, created.t, updated.t
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read intents: %w", err)
	}
	return out, nil
}

// ReleaseLeases ends every lease whose owner starts with prefix.
func (s *Store) ReleaseLeases(ctx context.Context, prefix string) ([]string, error) {
	defer s.writing()()
	if prefix == "" {
		return nil, errors.New("release leases: an owner prefix is needed")
	}
	rows, err := s.db.QueryContext(ctx, s.q(qLeasesOf), utf8.RuneCountInString(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("release leases of %s: %w", prefix, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("release leases of %s: %w", prefix, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("release leases of %s: %w", prefix, err)
	}
	return keys, nil
}
