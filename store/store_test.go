package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/poolbot/poolbot/store"
	"github.com/poolbot/poolbot/store/postgres/pgtest"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     store.Database
		wantErr bool
	}{
		{"sqlite", store.Database{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "a.db")}, false},
		{"unknown driver", store.Database{Driver: "mysql"}, true},
		{"postgres without dsn", store.Database{Driver: "postgres"}, true},
	}
	if os.Getenv(pgtest.Env) != "" {
		tests = append(tests, struct {
			name    string
			cfg     store.Database
			wantErr bool
		}{"postgres", store.Database{Driver: "postgres", DSN: pgtest.DSN(t)}, false})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := store.Open(ctx, tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer s.Close()
			if err := s.Put(ctx, "k", "v"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
