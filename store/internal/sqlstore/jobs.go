package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/poolbot/poolbot/pool"
)

const (
	qAddJob = `INSERT INTO jobs (pool, request_id, queued_at, assigned_at, started_at, finished_at, result, definition, demands)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (pool, request_id) DO UPDATE SET queued_at = excluded.queued_at, assigned_at = excluded.assigned_at,
		started_at = excluded.started_at, finished_at = excluded.finished_at, result = excluded.result,
		definition = excluded.definition, demands = excluded.demands`
	qPutJobCursor = `INSERT INTO job_cursors (pool, cursor_value) VALUES (?, ?)
		ON CONFLICT (pool) DO UPDATE SET cursor_value = excluded.cursor_value`
	qJobCursor  = `SELECT cursor_value FROM job_cursors WHERE pool = ?`
	qDeleteJobs = `DELETE FROM jobs WHERE finished_at < ?`
	jobCols     = `pool, request_id, queued_at, assigned_at, started_at, finished_at, result, definition, demands`
)

// AddJobs records jobs and the pool's cursor in one transaction. A job
// without a finish or queue time is refused: the table holds finished jobs.
func (s *Store) AddJobs(ctx context.Context, p string, jobs []pool.Job, cursor string) error {
	defer s.writing()()
	for _, j := range jobs {
		if j.Queued.IsZero() || j.Finished.IsZero() {
			return fmt.Errorf("add jobs of %s: request %d is not a finished job (queued %v, finished %v)", p, j.RequestID, j.Queued, j.Finished)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add jobs of %s: %w", p, err)
	}
	defer tx.Rollback()
	if len(jobs) > 0 {
		st, err := tx.PrepareContext(ctx, s.q(qAddJob))
		if err != nil {
			return fmt.Errorf("add jobs of %s: %w", p, err)
		}
		defer st.Close()
		for _, j := range jobs {
			demands, err := json.Marshal(nonNil(j.Demands))
			if err != nil {
				return fmt.Errorf("add jobs of %s: %w", p, err)
			}
			if _, err := st.ExecContext(ctx, p, int64(j.RequestID), s.t(j.Queued), s.t(j.Assigned), s.t(j.Started), s.t(j.Finished),
				j.Result, j.Definition, string(demands)); err != nil {
				return fmt.Errorf("add job %d of %s: %w", j.RequestID, p, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(qPutJobCursor), p, cursor); err != nil {
		return fmt.Errorf("save job cursor of %s: %w", p, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add jobs of %s: %w", p, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// JobCursor returns the pool's job history cursor.
func (s *Store) JobCursor(ctx context.Context, p string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q(qJobCursor), p).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("job cursor of %s: %w", p, pool.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("job cursor of %s: %w", p, err)
	}
	return v, nil
}

// Jobs returns the jobs queued in [q.From, q.To), oldest first.
func (s *Store) Jobs(ctx context.Context, q pool.JobsQuery) ([]pool.Job, error) {
	var where []string
	var args []any
	if q.Pool != "" {
		where, args = append(where, "pool = ?"), append(args, q.Pool)
	}
	if !q.From.IsZero() {
		where, args = append(where, "queued_at >= ?"), append(args, s.t(q.From))
	}
	if !q.To.IsZero() {
		where, args = append(where, "queued_at < ?"), append(args, s.t(q.To))
	}
	query := "SELECT " + jobCols + " FROM jobs"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY queued_at, pool, request_id"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	defer rows.Close()
	var out []pool.Job
	for rows.Next() {
		var j pool.Job
		var id int64
		var queued, assigned, started, finished nullTime
		var demands string
		if err := rows.Scan(&j.Pool, &id, &queued, &assigned, &started, &finished, &j.Result, &j.Definition, &demands); err != nil {
			return nil, fmt.Errorf("read jobs: %w", err)
		}
		j.RequestID = uint64(id)
		j.Queued, j.Assigned, j.Started, j.Finished = queued.t, assigned.t, started.t, finished.t
		if err := json.Unmarshal([]byte(demands), &j.Demands); err != nil {
			return nil, fmt.Errorf("read jobs: demands of %s/%d: %w", j.Pool, id, err)
		}
		if len(j.Demands) == 0 {
			j.Demands = nil
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	return out, nil
}

// DeleteJobs removes the jobs that finished before the instant.
func (s *Store) DeleteJobs(ctx context.Context, before time.Time) (int64, error) {
	defer s.writing()()
	res, err := s.db.ExecContext(ctx, s.q(qDeleteJobs), s.t(before))
	if err != nil {
		return 0, fmt.Errorf("delete jobs finished before %s: %w", before.Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete jobs: %w", err)
	}
	return n, nil
}
