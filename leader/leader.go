// Package leader elects the one replica that runs the scheduler, the watcher
// and the outbox sender. On PostgreSQL the leader holds a session advisory
// lock on a dedicated connection; on SQLite the one process always leads.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Elector runs leader work on one replica at a time.
type Elector interface {
	// Run calls fn each time this replica becomes leader and cancels
	// leaderCtx as soon as it stops being leader; it waits for fn to return
	// before trying again. It returns when ctx is done, having released
	// the lock.
	Run(ctx context.Context, fn func(leaderCtx context.Context)) error
	// IsLeader reports whether fn is running now.
	IsLeader() bool
}

// DefaultKey is the advisory lock key poolbot replicas contend for.
const DefaultKey int64 = 0x706f6f6c626f74 // "poolbot"

// Options tune the PostgreSQL elector. The defaults bound a takeover to
// about 3 s when the leader dies (its connection closes and the server frees
// the lock at once) and to about 10 s when it is cut off silently.
type Options struct {
	// CheckInterval is how often the leader proves its connection alive
	// (default 1 s). A closed or terminated connection is noticed at once.
	CheckInterval time.Duration
	// CheckTimeout bounds each check (default 1 s).
	CheckTimeout time.Duration
	// DialTimeout bounds connecting (default 5 s).
	DialTimeout time.Duration
	// RetryInterval is how often a follower tries for the lock (default 1 s).
	RetryInterval time.Duration
	// SessionTimeout makes the server end the leader's session, and so free
	// the lock, when it hears nothing from it this long (idle_session_timeout
	// and TCP keepalives; default 6 s). It must exceed CheckInterval +
	// CheckTimeout: the leader gives up before the server frees the lock.
	SessionTimeout time.Duration
	// Logger receives leadership changes (default slog.Default()).
	Logger *slog.Logger
	// OnChange is called with true when this replica starts leading and
	// false when it stops (for metrics).
	OnChange func(leader bool)
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.CheckInterval, time.Second)
	def(&o.CheckTimeout, time.Second)
	def(&o.DialTimeout, 5*time.Second)
	def(&o.RetryInterval, time.Second)
	def(&o.SessionTimeout, 6*time.Second)
	if min := 2 * (o.CheckInterval + o.CheckTimeout); o.SessionTimeout < min {
		o.SessionTimeout = min
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Postgres elects a leader with pg_try_advisory_lock on a dedicated
// connection.
type Postgres struct {
	cfg    *pgx.ConnConfig
	key    int64
	id     string
	opts   Options
	leader atomic.Bool
}

// New returns an elector for the replica id contending for key on the
// database dsn names. The DSN is not echoed in errors.
func New(dsn string, key int64, id string, opts Options) (*Postgres, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("leader: the DSN does not parse")
	}
	opts.defaults()
	cfg.ConnectTimeout = opts.DialTimeout
	// The lock's holder shows in pg_stat_activity under this name.
	cfg.RuntimeParams["application_name"] = AppName(id)
	return &Postgres{cfg: cfg, key: key, id: id, opts: opts}, nil
}

// AppName is the application_name of an elector's connection.
func AppName(id string) string { return "poolbot-leader:" + id }

// IsLeader reports whether this replica leads now.
func (e *Postgres) IsLeader() bool { return e.leader.Load() }

// Run contends for leadership until ctx is done. See Elector.
func (e *Postgres) Run(ctx context.Context, fn func(leaderCtx context.Context)) error {
	log := e.opts.Logger.With("replica", e.id)
	for {
		conn := e.acquire(ctx, log)
		if conn == nil {
			return nil // ctx done
		}
		// Wait out the time an old leader whose session was cut takes to
		// notice, so that two never lead at once.
		if !sleep(ctx, e.opts.CheckInterval+e.opts.CheckTimeout) || !e.alive(ctx, conn) {
			conn.Close(context.Background())
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		reason := e.lead(ctx, conn, fn, log)
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("leadership lost", "reason", reason)
		if !sleep(ctx, e.opts.RetryInterval) {
			return nil
		}
	}
}

// acquire returns a connection holding the lock, or nil when ctx is done.
func (e *Postgres) acquire(ctx context.Context, log *slog.Logger) *pgx.Conn {
	var conn *pgx.Conn
	for {
		if conn == nil || conn.IsClosed() {
			c, err := e.connect(ctx)
			if err != nil && ctx.Err() == nil {
				log.Debug("leader election: cannot connect", "err", err)
			}
			conn = c
		}
		if conn != nil {
			tctx, cancel := context.WithTimeout(ctx, e.opts.CheckTimeout)
			var got bool
			err := conn.QueryRow(tctx, "SELECT pg_try_advisory_lock($1)", e.key).Scan(&got)
			cancel()
			switch {
			case err == nil && got:
				return conn
			case err != nil:
				if ctx.Err() == nil {
					log.Debug("leader election: try lock", "err", err)
				}
				conn.Close(context.Background())
				conn = nil
			}
		}
		if !sleep(ctx, e.opts.RetryInterval) {
			if conn != nil {
				conn.Close(context.Background())
			}
			return nil
		}
	}
}

func (e *Postgres) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, e.cfg)
	if err != nil {
		return nil, err
	}
	// Let the server drop a leader it no longer hears from. Best effort:
	// idle_session_timeout exists from PostgreSQL 14.
	secs := int(e.opts.SessionTimeout / time.Second)
	for _, set := range []string{
		"SET idle_session_timeout = " + strconv.FormatInt(e.opts.SessionTimeout.Milliseconds(), 10),
		"SET tcp_keepalives_idle = " + strconv.Itoa(max(secs/3, 1)),
		"SET tcp_keepalives_interval = " + strconv.Itoa(max(secs/6, 1)),
		"SET tcp_keepalives_count = 2",
	} {
		tctx, cancel := context.WithTimeout(ctx, e.opts.CheckTimeout)
		_, err := conn.Exec(tctx, set)
		cancel()
		if err != nil && conn.IsClosed() {
			return nil, fmt.Errorf("set up leader connection: %w", err)
		}
	}
	return conn, nil
}

func (e *Postgres) alive(ctx context.Context, conn *pgx.Conn) bool {
	tctx, cancel := context.WithTimeout(ctx, e.opts.CheckTimeout)
	defer cancel()
	return conn.Ping(tctx) == nil
}

// lead runs fn while the connection holding the lock lives. It returns why
// leadership ended, after fn has returned and the connection is closed.
func (e *Postgres) lead(ctx context.Context, conn *pgx.Conn, fn func(context.Context), log *slog.Logger) string {
	defer conn.Close(context.Background()) // closing the session frees the lock
	leaderCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	e.setLeader(true)
	log.Info("leading")
	go func() {
		defer close(done)
		fn(leaderCtx)
	}()
	reason := e.watch(leaderCtx, conn, done)
	cancel()
	<-done
	e.setLeader(false)
	return reason
}

// watch returns when the connection is lost, ctx is done or fn returned.
// Between checks it blocks reading the connection, so that a closed socket
// or a terminated backend is noticed at once, not at the next check.
func (e *Postgres) watch(ctx context.Context, conn *pgx.Conn, done <-chan struct{}) string {
	for {
		wctx, cancel := context.WithTimeout(ctx, e.opts.CheckInterval)
		go func() {
			select {
			case <-done:
				cancel()
			case <-wctx.Done():
			}
		}()
		err := conn.PgConn().WaitForNotification(wctx)
		cancel()
		select {
		case <-done:
			return "leader work returned"
		default:
		}
		if ctx.Err() != nil {
			return "stopped"
		}
		if err != nil && !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
			return "connection lost: " + err.Error()
		}
		if !e.alive(ctx, conn) {
			if ctx.Err() != nil {
				return "stopped"
			}
			return "connection check failed"
		}
	}
}

func (e *Postgres) setLeader(v bool) {
	e.leader.Store(v)
	if e.opts.OnChange != nil {
		e.opts.OnChange(v)
	}
}

// Holder returns the id of the replica holding key on the database dsn
// names, or "" when none does.
func Holder(ctx context.Context, dsn string, key int64) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", fmt.Errorf("leader holder: connect: %w", err)
	}
	defer conn.Close(context.Background())
	var name string
	err = conn.QueryRow(ctx, `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND l.classid = ($1::bigint >> 32)::bigint::oid AND l.objid = ($1::bigint & 4294967295)::bigint::oid`, key).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("leader holder: %w", err)
	}
	const prefix = "poolbot-leader:"
	if len(name) >= len(prefix) && name[:len(prefix)] == prefix {
		return name[len(prefix):], nil
	}
	return name, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Single is the elector of a lone process on SQLite: it always leads.
type Single struct {
	leader atomic.Bool
}

// NewSingle returns an elector that leads at once.
func NewSingle() *Single { return &Single{} }

// Run calls fn with ctx and returns when ctx is done.
func (s *Single) Run(ctx context.Context, fn func(leaderCtx context.Context)) error {
	s.leader.Store(true)
	fn(ctx)
	s.leader.Store(false)
	<-ctx.Done()
	return nil
}

// IsLeader reports whether fn is running.
func (s *Single) IsLeader() bool { return s.leader.Load() }
