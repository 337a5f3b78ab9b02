package leader_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolbot/poolbot/leader"
	"github.com/poolbot/poolbot/store/postgres/pgtest"
)

// fast options keep the tests short; the defaults are tested once.
var fast = leader.Options{
	CheckInterval: 100 * time.Millisecond,
	CheckTimeout:  300 * time.Millisecond,
	RetryInterval: 50 * time.Millisecond,
	DialTimeout:   2 * time.Second,
}

// cluster is several electors on one lock, recording who leads when.
type cluster struct {
	t        *testing.T
	dsn      string
	key      int64
	electors []*leader.Postgres
	cancels  []context.CancelFunc
	stopped  []chan struct{}

	active     atomic.Int32
	violations atomic.Int32
	mu         sync.Mutex
	lostAt     map[int]time.Time // when each replica's leaderCtx was cancelled
}

func newCluster(t *testing.T, n int, opts leader.Options) *cluster {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	c := &cluster{t: t, dsn: pgtest.ServerDSN(t), key: int64(binary.LittleEndian.Uint64(b[:]) >> 1), lostAt: map[int]time.Time{}}
	for i := 0; i < n; i++ {
		e, err := leader.New(c.dsn, c.key, fmt.Sprintf("replica-%d", i), opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		c.electors = append(c.electors, e)
		c.cancels = append(c.cancels, cancel)
		c.stopped = append(c.stopped, stopped)
		go func(i int) {
			defer close(stopped)
			e.Run(ctx, func(leaderCtx context.Context) {
				if c.active.Add(1) > 1 {
					c.violations.Add(1)
				}
				<-leaderCtx.Done()
				c.mu.Lock()
				c.lostAt[i] = time.Now()
				c.mu.Unlock()
				c.active.Add(-1)
			})
		}(i)
	}
	t.Cleanup(func() {
		for i := range c.cancels {
			c.cancels[i]()
			<-c.stopped[i]
		}
		if v := c.violations.Load(); v > 0 {
			t.Errorf("two replicas led at once %d times", v)
		}
	})
	return c
}

// waitLeader polls until exactly one replica other than not leads, and
// returns it and how long that took.
func (c *cluster) waitLeader(not int, bound time.Duration) (int, time.Duration) {
	c.t.Helper()
	start := time.Now()
	for time.Since(start) < bound {
		leaders := []int{}
		for i, e := range c.electors {
			if e.IsLeader() {
				leaders = append(leaders, i)
			}
		}
		if len(leaders) > 1 {
			c.t.Fatalf("replicas %v lead at once", leaders)
		}
		if len(leaders) == 1 && leaders[0] != not {
			return leaders[0], time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no new leader within %v", bound)
	return -1, 0
}

func TestOneLeadsAndAnotherTakesOverWhenItStops(t *testing.T) {
	c := newCluster(t, 3, fast)
	first, _ := c.waitLeader(-1, 10*time.Second)
	holder, err := leader.Holder(context.Background(), c.dsn, c.key)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("replica-%d", first); holder != want {
		t.Fatalf("pg_locks says %q holds the lock, want %q", holder, want)
	}
	stoppedAt := time.Now()
	c.cancels[first]()
	<-c.stopped[first]
	if c.electors[first].IsLeader() {
		t.Fatal("stopped replica still leads")
	}
	second, took := c.waitLeader(first, 15*time.Second)
	t.Logf("replica-%d took over from replica-%d in %v (Run returned after %v)", second, first, took, time.Since(stoppedAt)-took)
}

func TestTerminatedConnectionStopsLeaderAtOnce(t *testing.T) {
	c := newCluster(t, 3, fast)
	first, _ := c.waitLeader(-1, 10*time.Second)
	killedAt := terminate(t, c.dsn, leader.AppName(fmt.Sprintf("replica-%d", first)))
	var lost time.Time
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c.mu.Lock()
		lost = c.lostAt[first]
		c.mu.Unlock()
		if !lost.IsZero() {
			break
		}
	}
	if lost.IsZero() {
		t.Fatal("leader work not cancelled after its connection was terminated")
	}
	// At once: well before the next check would have found out.
	if d := lost.Sub(killedAt); d > fast.CheckInterval+fast.CheckTimeout {
		t.Errorf("leader work cancelled %v after the connection was terminated", d)
	}
	next, took := c.waitLeader(-1, 15*time.Second)
	t.Logf("leader work stopped %v after termination; replica-%d leads %v later", lost.Sub(killedAt), next, took)
}

// With the default options a takeover stays within 15 s.
func TestTakeoverBoundWithDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	c := newCluster(t, 2, leader.Options{})
	first, _ := c.waitLeader(-1, 15*time.Second)
	terminate(t, c.dsn, leader.AppName(fmt.Sprintf("replica-%d", first)))
	c.cancels[first]() // the replica dies with its connection
	second, took := c.waitLeader(first, 15*time.Second)
	t.Logf("replica-%d took over in %v", second, took)
}

// terminate kills the backend of the connection named app, as a crash or a
// network cut would, and returns when.
func terminate(t *testing.T, dsn, app string) time.Time {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	at := time.Now()
	if err := conn.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("terminated %d backends named %s", n, app)
	}
	return at
}

func TestLeaderWorkReturningHandsOver(t *testing.T) {
	dsn := pgtest.ServerDSN(t)
	var b [8]byte
	rand.Read(b[:])
	key := int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		e, err := leader.New(dsn, key, fmt.Sprint(i), fast)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Leader work that gives up at once: leadership is released and
			// the replicas take turns.
			e.Run(ctx, func(context.Context) { calls.Add(1) })
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); calls.Load() < 3 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	cancel()
	wg.Wait()
	if calls.Load() < 3 {
		t.Fatalf("leader work called %d times", calls.Load())
	}
}

func TestNewRejectsBadDSNWithoutEchoingIt(t *testing.T) {
	_, err := leader.New("postgres://u:hunter2@[::1", 1, "a", leader.Options{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"hunter2", "::1"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error echoes the DSN: %v", err)
		}
	}
}

func TestSingleAlwaysLeads(t *testing.T) {
	s := leader.NewSingle()
	var e leader.Elector = s
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- e.Run(ctx, func(leaderCtx context.Context) {
			close(started)
			<-leaderCtx.Done()
		})
	}()
	<-started
	if !s.IsLeader() {
		t.Fatal("single elector does not lead")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.IsLeader() {
		t.Fatal("still leads after Run returned")
	}
}
