package pool_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/poolbot/poolbot/pool"
)

// mapKV is a pool.KV in a map, failing every call once fail is set.
type mapKV struct {
	m    map[string]string
	puts int
	fail error
}

func (k *mapKV) Get(_ context.Context, key string) (string, error) {
	if k.fail != nil {
		return "", k.fail
	}
	v, ok := k.m[key]
	if !ok {
		return "", pool.ErrNotFound
	}
	return v, nil
}

func (k *mapKV) Put(_ context.Context, key, value string) error {
	if k.fail != nil {
		return k.fail
	}
	k.puts++
	k.m[key] = value
	return nil
}

func TestIndex(t *testing.T) {
	ctx := context.Background()
	x := pool.Index{Key: "image.rollouts"}
	kv := &mapKV{m: map[string]string{}}
	if names, err := x.Names(ctx, kv); err != nil || names != nil {
		t.Fatalf("never written: %v, %v; want none", names, err)
	}
	steps := []struct {
		name string
		in   bool
		want []string
		puts int // writes so far: none when the list stays as it was
	}{
		{"linux-ci", true, []string{"linux-ci"}, 1},
		{"mac-ci", true, []string{"linux-ci", "mac-ci"}, 2},
		{"linux-ci", true, []string{"linux-ci", "mac-ci"}, 2},
		{"linux-ci", false, []string{"mac-ci"}, 3},
		{"windows-ci", false, []string{"mac-ci"}, 3},
		{"mac-ci", false, []string{}, 4},
	}
	for _, st := range steps {
		if err := x.Set(ctx, kv, st.name, st.in); err != nil {
			t.Fatal(err)
		}
		got, err := x.Names(ctx, kv)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 || len(st.want) != 0 {
			if !reflect.DeepEqual(got, st.want) {
				t.Errorf("after %s %t: %v, want %v", st.name, st.in, got, st.want)
			}
		}
		if kv.puts != st.puts {
			t.Errorf("after %s %t: %d writes, want %d", st.name, st.in, kv.puts, st.puts)
		}
	}

	kv.m[x.Key] = "not json"
	if _, err := x.Names(ctx, kv); err == nil {
		t.Error("a damaged index read as a list")
	}
	if err := x.Set(ctx, kv, "linux-ci", true); err == nil || kv.m[x.Key] != "not json" {
		t.Errorf("a damaged index was overwritten (%v)", err)
	}
	down := errors.New("store down")
	kv.fail = down
	if err := x.Set(ctx, kv, "linux-ci", true); !errors.Is(err, down) {
		t.Errorf("store down: %v", err)
	}
}
