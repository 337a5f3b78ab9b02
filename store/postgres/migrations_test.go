package postgres_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// migrationFiles counts the migration files and returns the highest
// version among them: what a migrated database must record.
func migrationFiles(t *testing.T) (n, version int) {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		n++
		version = max(version, v)
	}
	return n, version
}
