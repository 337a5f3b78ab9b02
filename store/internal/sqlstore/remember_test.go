package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolbot/poolbot/store/sqlite"
)

// A burst of Remember calls is recorded in fewer statements than keys,
// each key new to exactly one caller, so that the group commit is what
// answered (a group whose statement failed would be recorded key by key).
func TestRememberBurstIsGrouped(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "poolbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	const callers, keys = 64, 32
	var firsts [keys]atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			first, err := st.Remember(ctx, fmt.Sprintf("slack/%d/v0=%02d", now.Unix(), i%keys), now, now.Add(5*time.Minute))
			if err != nil {
				t.Error(err)
			}
			if first {
				firsts[i%keys].Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	for k := range firsts {
		if n := firsts[k].Load(); n != 1 {
			t.Errorf("key %d new to %d callers, want 1", k, n)
		}
	}
	if n := st.RememberStatements(); n >= callers/2 {
		t.Errorf("%d calls took %d statements; want them grouped", callers, n)
	}
}
