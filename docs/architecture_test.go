// Package docs holds poolbot's documentation; its test keeps
// architecture.md's package table true to the code.
package docs

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/poolbot/poolbot/"

// imports returns each package of the module (by its path in the module)
// and the module's packages its non-test files import.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs := map[string]map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		if pkgs[dir] == nil {
			pkgs[dir] = map[string]bool{}
		}
		for _, im := range f.Imports {
			if p, ok := strings.CutPrefix(strings.Trim(im.Path.Value, `"`), module); ok {
				pkgs[dir][p] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for dir, set := range pkgs {
		var l []string
		for p := range set {
			l = append(l, p)
		}
		slices.Sort(l)
		out[dir] = l
	}
	return out
}

var code = regexp.MustCompile("`([^`]+)`")

// table reads architecture.md's package table: for each package named in a
// row's first column, the module's packages its third column names.
func table(t *testing.T, doc string, known map[string][]string) map[string][]string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "| package | provides | depends on |")
	if !ok {
		t.Fatal("architecture.md has no package table")
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(rest, "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cols := strings.Split(line, " | ")
		if len(cols) < 3 {
			t.Fatalf("a row without three columns: %s", line)
		}
		var deps []string
		for _, m := range code.FindAllStringSubmatch(cols[len(cols)-1], -1) {
			if _, ok := known[m[1]]; ok && !slices.Contains(deps, m[1]) {
				deps = append(deps, m[1])
			}
		}
		slices.Sort(deps)
		for _, m := range code.FindAllStringSubmatch(cols[0], -1) {
			if _, dup := rows[m[1]]; dup {
				t.Errorf("%s has two rows", m[1])
			}
			rows[m[1]] = deps
		}
	}
	return rows
}

// TestPackageTableMatchesImports: every package has a row, and its "depends
// on" names exactly the module's packages it imports (third-party modules
// are named in words beside them and not checked).
func TestPackageTableMatchesImports(t *testing.T) {
	doc, err := os.ReadFile("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	got := imports(t, "..")
	rows := table(t, string(doc), got)
	var dirs []string
	for d := range got {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	for _, d := range dirs {
		row, ok := rows[d]
		if !ok {
			t.Errorf("architecture.md has no row for %s (imports %v)", d, got[d])
			continue
		}
		if !slices.Equal(row, got[d]) {
			t.Errorf("%s: the table says it depends on %v; it imports %v", d, row, got[d])
		}
	}
	for p := range rows {
		if _, ok := got[p]; !ok {
			t.Errorf("architecture.md has a row for %s, which is no package", p)
		}
	}
}

// TestConfigIsALeaf: only app and cmd/... import config, in their tests
// too; every other package takes options of its own, which app translates
// the file into. The table cannot say this: a new row could name config.
func TestConfigIsALeaf(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		dir, _ := filepath.Rel("..", filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		if dir == "app" || dir == "config" || dir == "cmd" || strings.HasPrefix(dir, "cmd/") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, im := range f.Imports {
			if strings.Trim(im.Path.Value, `"`) == module+"config" {
				t.Errorf("%s imports config: only app and cmd/... may; give %s options of its own and translate them in app", filepath.ToSlash(path), dir)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
