package memstore_test

import (
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
