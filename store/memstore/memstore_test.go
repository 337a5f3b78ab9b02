package memstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/store/memstore"
	"github.com/poolbot/poolbot/store/storetest"
)

// The in-memory store passes the suite the SQL stores pass, so tests that
// use it see what SQLite and PostgreSQL would do.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	stores := map[*testing.T]*memstore.Store{}
	storetest.Run(t, func(t *testing.T) pool.Store {
		mu.Lock()
		defer mu.Unlock()
		s, ok := stores[t]
		if !ok {
			s = memstore.New(nil)
		} else {
			s = s.Reopen()
		}
		stores[t] = s
		return s
	})
}

// A closed store refuses every call, and Reopen finds what it kept, as a
// database opened again after a restart does.
func TestCloseAndReopen(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(nil)
	if err := s.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Put(ctx, "k", "w"); err == nil {
		t.Error("a closed store took a write")
	}
	if _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, pool.ErrNotFound) {
		t.Errorf("a closed store answered a read: %v", err)
	}
	if v, err := s.Reopen().Get(ctx, "k"); err != nil || v != "v" {
		t.Errorf("after Reopen: %q, %v; want v", v, err)
	}
}
