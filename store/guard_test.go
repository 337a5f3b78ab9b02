package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/store"
)

// TestGuardStopsWritesWhenTheFileGoes: once the SQLite file is deleted,
// replaced or overwritten under a running store, every write (each one
// looking at the file, Recheck 0) or a Check as /readyz makes is refused
// with a message that says so (and keeps being refused), while reads go
// on; an untouched file keeps working.
func TestGuardStopsWritesWhenTheFileGoes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		break_ func(t *testing.T, path string)
		want   string
	}{
		{"untouched", func(*testing.T, string) {}, ""},
		{"deleted", func(t *testing.T, path string) {
			must(t, os.Remove(path))
		}, "was deleted"},
		{"replaced by another file", func(t *testing.T, path string) {
			other := path + ".new"
			b, err := os.ReadFile(path)
			must(t, err)
			must(t, os.WriteFile(other, b, 0o600))
			must(t, os.Rename(other, path))
		}, "was replaced by another file"},
		{"overwritten with garbage", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.WriteAt([]byte("garbage garbage garbage"), 0)
			must(t, err)
			must(t, f.Close())
		}, "no longer an SQLite database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "poolbot.db")
			st, err := store.Open(ctx, store.Database{Driver: "sqlite", Path: path})
			must(t, err)
			defer st.Close()
			must(t, st.Put(ctx, "before", "1"))
			g := st.(*store.Guarded)
			if g.Recheck <= 0 || g.Recheck > time.Second {
				t.Errorf("writes recheck the file every %v", g.Recheck)
			}
			g.Recheck = 0 // every write looks, rather than once in a while
			tt.break_(t, path)
			writes := map[string]func() error{
				"Put":      func() error { return st.Put(ctx, "after", "1") },
				"AddAudit": func() error { _, err := st.AddAudit(ctx, pool.AuditEntry{Actor: "U1", Command: "down x"}); return err },
				"TakeLease": func() error {
					_, _, err := st.TakeLease(ctx, "pool/x", "me", "", time.Now().Add(time.Minute))
					return err
				},
				"Enqueue": func() error {
					_, err := st.Enqueue(ctx, pool.OutboxMessage{Channel: "C", Key: "k", Op: "post"})
					return err
				},
				"Claim": func() error { _, err := st.Claim(ctx, "c", "me"); return err },
				// change finds the write-ahead records by a type assertion:
				// the guarded store must still offer them, and guard them.
				"BeginIntent": func() error {
					is, ok := st.(pool.IntentStore)
					if !ok {
						t.Fatal("a guarded store keeps no intents: changes would not be written ahead")
					}
					_, err := is.BeginIntent(ctx, pool.Intent{Pool: "x", Kind: "settings"})
					return err
				},
			}
			for name, w := range writes {
				err := w()
				if tt.want == "" {
					if err != nil {
						t.Errorf("%s on an untouched file: %v", name, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "takes no changes") {
					t.Errorf("%s after the file %s: %v", name, tt.name, err)
				}
				if pool.KindOf(err) != pool.KindUnavailable {
					t.Errorf("%s: kind %v, want unavailable", name, pool.KindOf(err))
				}
			}
			if err := g.Check(); (err == nil) != (tt.want == "") {
				t.Errorf("Check after the file %s: %v", tt.name, err)
			}
			if tt.want != "" {
				// Final: a new file at the path does not lift it.
				os.WriteFile(path, nil, 0o600)
				if err := st.Put(ctx, "again", "1"); err == nil {
					t.Error("a write went through after the fence")
				}
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "state.db")
	st, err := store.Open(context.Background(), store.Database{Driver: "sqlite", Path: good})
	must(t, err)
	st.Close()
	notDB := filepath.Join(dir, "notes.txt")
	must(t, os.WriteFile(notDB, []byte("hello, this is not a database"), 0o600))
	tests := []struct {
		name string
		cfg  store.Database
		want string
	}{
		{"existing database", store.Database{Driver: "sqlite", Path: good}, ""},
		{"new file in an existing directory", store.Database{Driver: "sqlite", Path: filepath.Join(dir, "new.db")}, ""},
		{"postgres has no path", store.Database{Driver: "postgres", Path: "/nonexistent/x.db"}, ""},
		{"missing directory", store.Database{Driver: "sqlite", Path: filepath.Join(dir, "nope", "state.db")}, "does not exist"},
		{"a file as directory", store.Database{Driver: "sqlite", Path: filepath.Join(notDB, "state.db")}, "is not a directory"},
		{"a directory as file", store.Database{Driver: "sqlite", Path: dir}, "not a regular file"},
		{"not a database", store.Database{Driver: "sqlite", Path: notDB}, "not an SQLite database"},
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		must(t, os.Mkdir(ro, 0o555))
		tests = append(tests, struct {
			name string
			cfg  store.Database
			want string
		}{"read-only directory", store.Database{Driver: "sqlite", Path: filepath.Join(ro, "state.db")}, "cannot create files"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := store.CheckPath(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
