package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// One statement records a new key or one whose until has passed; a key
// still remembered is left alone and no row changes. On PostgreSQL the
// conflicting row is locked and the WHERE re-checked, so of replicas racing
// with one key exactly one changes a row; SQLite runs one writer at a time.
const (
	qRemember = `INSERT INTO seen_requests (request_key, until_at) VALUES (?, ?)
		ON CONFLICT (request_key) DO UPDATE SET until_at = excluded.until_at
		WHERE seen_requests.until_at <= ?`
	qForget = `DELETE FROM seen_requests WHERE until_at <= ?`
)

func init() { allQueries = append(append(allQueries, qRemember, qForget), qRememberMany[1:]...) }

// pruneEvery is how often Remember deletes the expired keys: once a minute
// keeps the table to a few minutes of requests without a delete per
// request.
const pruneEvery = time.Minute

// pruneState is when Remember last deleted the expired keys.
type pruneState struct {
	mu   sync.Mutex
	last time.Time
}

// rememberTimeout bounds one group's commit. It is not any one
// caller's context that runs it (the group's other callers would fail with
// it), so it has a bound of its own: SQLite's busy timeout and a little.
const rememberTimeout = 15 * time.Second

// remembering is one Remember call in a group: its key and, once its group
// has committed, its answer.
type remembering struct {
	key        string
	now, until time.Time
	first      bool
	err        error
	lead       bool          // woken to commit the group waiting, itself among it
	wake       chan struct{} // answered, or told to lead
}

// rememberGroup commits concurrent Remember calls together (group commit).
// Calls that arrive while a commit runs wait, and are then committed in one
// statement by the first of them. A call that finds none running commits
// at once, alone, when it is the first in a while; during a burst (the call
// before it came within rememberBurst) it first waits up to rememberWindow
// for others to join. A commit costs about the same for one key as for a
// few (SQLite's WAL write, PostgreSQL's round trip and flush), so a burst of
// commands pays one per group instead of one per command. Each caller still
// returns only after its key is committed (or with the error that stopped
// it), so that the guarantee across replicas holds as for a lone write.
type rememberGroup struct {
	mu        sync.Mutex
	waiting   []*remembering
	running   bool          // a group is being gathered or committed
	gathering bool          // its first call waits for others to join
	full      chan struct{} // ends the gathering early: rememberFull joined
	last      time.Time     // when the last call arrived, on the wall clock

	statements atomic.Int64 // statements that recorded keys, for tests
}

const (
	// rememberWindow is the longest a group's first call waits for others:
	// a couple of milliseconds on a command's reply, against a commit's
	// worth of CPU for each call that joins.
	rememberWindow = 2 * time.Millisecond
	// rememberBurst is how close two calls come for a burst: about 50
	// commands a second and more.
	rememberBurst = 20 * time.Millisecond
	// rememberFull is a group that commits without waiting any longer:
	// as many as the default number of workers.
	rememberFull = 8
)

// Remember records key until the instant until; see pool.Store. "Now" is
// the caller's: the signature window is checked on the clock that checks
// signatures, which need not be the store's.
func (s *Store) Remember(ctx context.Context, key string, now, until time.Time) (bool, error) {
	if key == "" || until.IsZero() {
		return false, fmt.Errorf("remember %q: a key and an end are needed", key)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("remember %s: %w", key, err)
	}
	r := &remembering{key: key, now: now, until: until, wake: make(chan struct{}, 1)}
	g := &s.remember
	arrived := time.Now()
	g.mu.Lock()
	burst := arrived.Sub(g.last) < rememberBurst
	g.last = arrived
	g.waiting = append(g.waiting, r)
	if g.running {
		if g.gathering && len(g.waiting) >= rememberFull {
			select {
			case g.full <- struct{}{}:
			default:
			}
		}
		g.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			g.mu.Lock()
			if i := slices.Index(g.waiting, r); i >= 0 && !r.lead {
				// Not taken by a commit yet: leave without a trace.
				g.waiting = slices.Delete(g.waiting, i, i+1)
				g.mu.Unlock()
				return false, fmt.Errorf("remember %s: %w", key, ctx.Err())
			}
			g.mu.Unlock()
			<-r.wake // in a commit already, which is bounded; or told to lead
		}
		if !r.lead {
			return r.first, r.err
		}
		g.mu.Lock()
	} else {
		g.running = true
		if burst {
			s.gather(g)
		}
	}
	group := g.waiting
	g.waiting = nil
	g.mu.Unlock()

	defer s.handOff(g, r, group)
	s.commitRemembered(ctx, group)
	return r.first, r.err
}

// handOff ends the commit of group by r: it wakes the group's other
// callers, and the next group's first caller to commit it, so that r
// returns now rather than committing for others indefinitely. Should the
// commit panic, the others are told of an error (never that their request
// was seen) and the panic goes on in r.
func (s *Store) handOff(g *rememberGroup, r *remembering, group []*remembering) {
	p := recover()
	for _, w := range group {
		if p != nil {
			w.first, w.err = false, fmt.Errorf("remember %s: %v", w.key, p)
		}
		if w != r {
			w.wake <- struct{}{}
		}
	}
	g.mu.Lock()
	if len(g.waiting) > 0 {
		next := g.waiting[0]
		next.lead = true
		next.wake <- struct{}{}
	} else {
		g.running = false
	}
	g.mu.Unlock()
	if p != nil {
		panic(p)
	}
}

// gather waits, g.mu held, for others to join the group being formed:
// rememberWindow at most, or until it is full.
func (s *Store) gather(g *rememberGroup) {
	if g.full == nil {
		g.full = make(chan struct{}, 1)
	}
	g.gathering = true
	g.mu.Unlock()
	t := time.NewTimer(rememberWindow)
	select {
	case <-t.C:
	case <-g.full:
	}
	t.Stop()
	g.mu.Lock()
	g.gathering = false
	select {
	case <-g.full: // a signal sent as the timer fired
	default:
	}
}

// commitRemembered records a group's keys and sets each one's answer.
func (s *Store) commitRemembered(ctx context.Context, group []*remembering) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rememberTimeout)
	defer cancel()
	if len(group) == 1 || !s.rememberTogether(ctx, group) {
		// One key, or a group whose statement failed: each alone, so
		// that each caller gets its own answer or error.
		for _, r := range group {
			r.first, r.err = s.rememberOne(ctx, r)
		}
	}
	last := group[0].now
	for _, r := range group {
		if r.now.After(last) {
			last = r.now
		}
	}
	s.prune(ctx, last)
}

// rememberOne records one key in a statement of its own.
func (s *Store) rememberOne(ctx context.Context, r *remembering) (bool, error) {
	s.remember.statements.Add(1)
	res, err := s.db.ExecContext(ctx, s.q(qRemember), r.key, s.d.BindTime(r.until.UTC()), s.d.BindTime(r.now.UTC()))
	if err != nil {
		return false, fmt.Errorf("remember %s: %w", r.key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("remember %s: %w", r.key, err)
	}
	return n == 1, nil
}

// rememberTogether records the group's keys in one statement, and so one
// commit, and reports whether it succeeded; only then are the answers set.
// A key twice in the group is new to its first caller only. The keys go in
// sorted, so that two replicas' groups lock common keys (PostgreSQL) in
// the same order. The statement's "now" is the group's earliest: a key
// whose record ends between two of the group's callers' nows is refused
// rather than taken anew, which errs on the side of a repeat not running
// (and cannot happen to a signed request, refused as stale by then).
func (s *Store) rememberTogether(ctx context.Context, group []*remembering) bool {
	sorted := slices.Clone(group)
	slices.SortStableFunc(sorted, func(a, b *remembering) int { return cmp.Compare(a.key, b.key) })
	distinct := slices.CompactFunc(slices.Clone(sorted), func(a, b *remembering) bool { return a.key == b.key })
	now := group[0].now
	for _, r := range group {
		if r.now.Before(now) {
			now = r.now
		}
	}
	recorded := map[string]bool{}
	for chunk := range slices.Chunk(distinct, rememberChunk) {
		args := make([]any, 0, 2*len(chunk)+1)
		for _, r := range chunk {
			args = append(args, r.key, s.d.BindTime(r.until.UTC()))
		}
		args = append(args, s.d.BindTime(now.UTC()))
		s.remember.statements.Add(1)
		rows, err := s.db.QueryContext(ctx, s.q(qRememberMany[len(chunk)]), args...)
		if err != nil {
			return false
		}
		for rows.Next() {
			var k string
			if rows.Scan(&k) != nil {
				rows.Close()
				return false
			}
			recorded[k] = true
		}
		if rows.Close() != nil || rows.Err() != nil {
			return false
		}
	}
	for i, r := range sorted {
		// Only the first of a key's callers can have recorded it.
		r.first, r.err = recorded[r.key] && (i == 0 || sorted[i-1].key != r.key), nil
	}
	return true
}

// rememberChunk is the most keys one statement records; a bigger group
// takes several, each its own commit.
const rememberChunk = 16

// qRememberMany[n] is qRemember for n keys at once, returning those it
// recorded (inserted, or taken over from an ended record).
var qRememberMany = func() []string {
	qs := make([]string, rememberChunk+1)
	for n := 1; n <= rememberChunk; n++ {
		qs[n] = `INSERT INTO seen_requests (request_key, until_at) VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, n-1) + `
		ON CONFLICT (request_key) DO UPDATE SET until_at = excluded.until_at
		WHERE seen_requests.until_at <= ? RETURNING request_key`
	}
	return qs
}()

// prune deletes the expired keys, at most once every pruneEvery of now.
// A failure is left for the next time: the rows only take room.
func (s *Store) prune(ctx context.Context, now time.Time) {
	p := &s.seen
	p.mu.Lock()
	due := now.Sub(p.last) >= pruneEvery || now.Before(p.last)
	if due {
		p.last = now
	}
	p.mu.Unlock()
	if due {
		_, _ = s.db.ExecContext(ctx, s.q(qForget), s.d.BindTime(now.UTC()))
	}
}
