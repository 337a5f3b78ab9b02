package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/store"
	"github.com/poolbot/poolbot/store/postgres/pgtest"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     config.Store
		wantErr bool
	}{
		{"sqlite", config.Store{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "a.db")}, false},
		{"default driver", config.Store{Path: filepath.Join(t.TempDir(), "b.db")}, false},
		{"unknown driver", config.Store{Driver: "mysql"}, true},
		{"postgres without dsn", config.Store{Driver: "postgres"}, true},
	}
	if os.Getenv(pgtest.Env) != "" {
		tests = append(tests, struct {
			name    string
			cfg     config.Store
			wantErr bool
		}{"postgres", config.Store{Driver: "postgres", DSN: config.NewSecret(pgtest.DSN(t))}, false})
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
