package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testRemember: a key is new once until its end, new again after it, and
// the expired keys' records are deleted as later ones arrive.
func testRemember(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	const a, b = "slack/1741944413/v0=aa", "slack/1741944413/v0=bb"
	end := base.Add(5 * time.Minute)
	steps := []struct {
		name       string
		key        string
		now, until time.Time
		want       bool
	}{
		{"first", a, base, end, true},
		{"again at once", a, base.Add(time.Second), end, false},
		{"another key", b, base.Add(time.Second), end, true},
		{"just before the end", a, end.Add(-time.Microsecond), end, false},
		{"at the end", a, end, end.Add(5 * time.Minute), true}, // a new window for the same key
		{"again in the new window", a, end.Add(time.Minute), end.Add(6 * time.Minute), false},
	}
	for _, st := range steps {
		first, err := s.Remember(ctx, st.key, st.now, st.until)
		must(t, err)
		if first != st.want {
			t.Errorf("%s: Remember = %v, want %v", st.name, first, st.want)
		}
	}
	if _, err := s.Remember(ctx, "", base, end); err == nil {
		t.Error("an empty key was remembered")
	}

	// Records past their end are deleted: after a long quiet spell, one
	// more request leaves only itself (and what is still live).
	db, ok := s.(interface{ DB() *sql.DB })
	if !ok {
		return
	}
	later := base.Add(24 * time.Hour)
	for i := range 50 {
		_, err := s.Remember(ctx, fmt.Sprintf("slack/old/%d", i), later, later.Add(5*time.Minute))
		must(t, err)
	}
	last := later.Add(time.Hour)
	_, err := s.Remember(ctx, "slack/last", last, last.Add(5*time.Minute))
	must(t, err)
	var n int
	must(t, db.DB().QueryRowContext(ctx, "SELECT count(*) FROM seen_requests").Scan(&n))
	if n != 1 {
		t.Errorf("%d records remembered after the others expired, want 1", n)
	}
}

// testRememberRace: replicas taking the same request at once run it once.
func testRememberRace(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	const workers, rounds = 8, 5
	for r := range rounds {
		key := fmt.Sprintf("slack/%d/v0=race", r)
		var firsts atomic.Int64
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				first, err := s.Remember(ctx, key, base, base.Add(5*time.Minute))
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := firsts.Load(); n != 1 {
			t.Fatalf("round %d: %d callers were told the request is new, want 1", r, n)
		}
	}
}

// testRememberBurst: many requests at once, some of them the same request
// sent again, as a burst of commands brings them: each distinct key is new
// to exactly one caller, every caller returns with its key recorded (asked
// again, it is not new), and a call whose context has ended records nothing.
func testRememberBurst(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	const keys, copies = 24, 3
	var firsts [keys]atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range keys * copies {
		wg.Go(func() {
			<-start
			k := i % keys
			first, err := s.Remember(ctx, fmt.Sprintf("slack/burst/%02d", k), base, base.Add(5*time.Minute))
			if err != nil {
				t.Error(err)
				return
			}
			if first {
				firsts[k].Add(1)
			}
			// Returned: the key is committed, for this caller and any other.
			again, err := s.Remember(ctx, fmt.Sprintf("slack/burst/%02d", k), base.Add(time.Second), base.Add(5*time.Minute))
			if err != nil {
				t.Error(err)
			} else if again {
				t.Errorf("key %d: new again after a caller was answered", k)
			}
		})
	}
	close(start)
	wg.Wait()
	for k := range firsts {
		if n := firsts[k].Load(); n != 1 {
			t.Errorf("key %d: %d callers were told it is new, want 1", k, n)
		}
	}

	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Remember(done, "slack/cancelled", base, base.Add(5*time.Minute)); err == nil {
		t.Error("Remember with an ended context reported no error")
	}
	first, err := s.Remember(ctx, "slack/cancelled", base, base.Add(5*time.Minute))
	must(t, err)
	if !first {
		t.Error("a key whose Remember failed was recorded")
	}
}
