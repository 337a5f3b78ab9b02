package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// Guarded is an SQLite store that refuses every write once its file is no
// longer the one it opened: deleted (the process would go on writing to an
// unlinked file, lost at restart), replaced by another file, or overwritten
// with something that is not an SQLite database. The refusal is final until
// a restart, and says what happened in words an operator and a Slack user
// understand, so that the replica stops taking changes instead of taking
// them into the void. Reads go on.
//
// Writes check the file first (one stat and a 16-byte read), at most every
// 250 ms; Check always does, for /readyz. Safe for concurrent use.
type Guarded struct {
	pool.Store
	path   string
	opened os.FileInfo

	// Recheck is how long a passed check holds for writes: a write looks
	// at the file at most this often, so that a busy store does not pay a
	// stat and a read per write, and what is written after the file goes
	// is a fraction of a second's worth. Guard sets 250ms; 0 checks every
	// write.
	Recheck time.Duration

	mu     sync.Mutex
	fenced error     // set once, for good
	okAt   time.Time // the last check that passed, wall clock
}

// guard is the check a write makes: Check, at most every Recheck.
func (g *Guarded) guard() error {
	g.mu.Lock()
	if g.fenced == nil && time.Since(g.okAt) < g.Recheck {
		g.mu.Unlock()
		return nil
	}
	g.mu.Unlock()
	return g.Check()
}

// Guard wraps st, opened from the SQLite file at path, so that its writes
// stop when the file is deleted or replaced.
func Guard(st pool.Store, path string) (*Guarded, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store file %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("store file %s: %w", path, err)
	}
	return &Guarded{Store: st, path: abs, opened: fi, Recheck: 250 * time.Millisecond}, nil
}

// Check reports whether the store's file is still the one it opened; after
// the first failure it keeps failing.
func (g *Guarded) Check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fenced != nil {
		return g.fenced
	}
	what := ""
	fi, err := os.Stat(g.path)
	switch {
	case os.IsNotExist(err):
		what = "was deleted"
	case err != nil:
		what = "cannot be read (" + err.Error() + ")"
	case !os.SameFile(fi, g.opened):
		what = "was replaced by another file"
	default:
		if ok, herr := hasHeader(g.path); herr != nil {
			what = "cannot be read (" + herr.Error() + ")"
		} else if !ok {
			what = "was overwritten: it is no longer an SQLite database"
		}
	}
	if what == "" {
		g.okAt = time.Now()
		return nil
	}
	g.fenced = &pool.Error{Kind: pool.KindUnavailable, Op: "store",
		Msg: fmt.Sprintf("poolbot's store file %s %s after poolbot opened it, so this replica takes no changes "+
			"(they would be lost at restart); an admin must restore the file and restart poolbot", g.path, what)}
	return g.fenced
}

// hasHeader reports whether the file at path starts as an SQLite database
// does (an empty file is one SQLite has yet to write).
func hasHeader(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, b)
	if n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
		return true, nil
	}
	if err != nil {
		return false, nil // shorter than a header: not a database
	}
	return bytes.Equal(b, sqliteHeader), nil
}

func (g *Guarded) AddAudit(ctx context.Context, e pool.AuditEntry) (int64, error) {
	if err := g.guard(); err != nil {
		return 0, err
	}
	return g.Store.AddAudit(ctx, e)
}

func (g *Guarded) SaveSettings(ctx context.Context, s pool.Saved) (bool, error) {
	if err := g.guard(); err != nil {
		return false, err
	}
	return g.Store.SaveSettings(ctx, s)
}

func (g *Guarded) ClearSavedSettings(ctx context.Context, p string) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.ClearSavedSettings(ctx, p)
}

func (g *Guarded) PutOverride(ctx context.Context, o pool.Override) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.PutOverride(ctx, o)
}

func (g *Guarded) DeleteOverride(ctx context.Context, p, kind string) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.DeleteOverride(ctx, p, kind)
}

func (g *Guarded) PutMute(ctx context.Context, m pool.Mute) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.PutMute(ctx, m)
}

func (g *Guarded) DeleteMute(ctx context.Context, p, condition string) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.DeleteMute(ctx, p, condition)
}

func (g *Guarded) PutAlert(ctx context.Context, a pool.Alert) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.PutAlert(ctx, a)
}

func (g *Guarded) Enqueue(ctx context.Context, m pool.OutboxMessage) (int64, error) {
	if err := g.guard(); err != nil {
		return 0, err
	}
	return g.Store.Enqueue(ctx, m)
}

func (g *Guarded) MarkSent(ctx context.Context, id int64, s pool.Sent) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.MarkSent(ctx, id, s)
}

func (g *Guarded) Retry(ctx context.Context, id int64, notBefore time.Time) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.Retry(ctx, id, notBefore)
}

func (g *Guarded) Refuse(ctx context.Context, id int64, reason string, at time.Time) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.Refuse(ctx, id, reason, at)
}

func (g *Guarded) Requeue(ctx context.Context, ids []int64) (int, error) {
	if err := g.guard(); err != nil {
		return 0, err
	}
	return g.Store.Requeue(ctx, ids)
}

func (g *Guarded) Put(ctx context.Context, key, value string) error {
	if err := g.guard(); err != nil {
		return err
	}
	return g.Store.Put(ctx, key, value)
}

func (g *Guarded) Claim(ctx context.Context, key, owner string) (bool, error) {
	if err := g.guard(); err != nil {
		return false, err
	}
	return g.Store.Claim(ctx, key, owner)
}

func (g *Guarded) TakeLease(ctx context.Context, key, owner, info string, until time.Time) (bool, pool.Lease, error) {
	if err := g.guard(); err != nil {
		return false, pool.Lease{}, err
	}
	return g.Store.TakeLease(ctx, key, owner, info, until)
}

// CheckPath reports whether db's store can be opened and written where it
// is configured: for SQLite, the directory exists and a file can be created
// in it, and the file, when it exists, is a writable regular file that is
// an SQLite database. PostgreSQL has no path to check.
func CheckPath(db Database) error {
	if db.Driver != "sqlite" {
		return nil
	}
	path := db.Path
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		return fmt.Errorf("store path %s: the directory %s does not exist", path, dir)
	case err != nil:
		return fmt.Errorf("store path %s: %w", path, err)
	case !di.IsDir():
		return fmt.Errorf("store path %s: %s is not a directory", path, dir)
	}
	// SQLite writes its -wal and -shm files beside the database: the
	// directory itself must take new files.
	f, err := os.CreateTemp(dir, ".poolbot-check-*")
	if err != nil {
		return fmt.Errorf("store path %s: cannot create files in %s: %w", path, dir, err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	fi, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return nil // created at the first start
	case err != nil:
		return fmt.Errorf("store path %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("store path %s: not a regular file", path)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("store path %s: cannot write the file: %w", path, err)
	}
	w.Close()
	if ok, err := hasHeader(path); err != nil {
		return fmt.Errorf("store path %s: %w", path, err)
	} else if !ok {
		return fmt.Errorf("store path %s: the file is not an SQLite database", path)
	}
	return nil
}
