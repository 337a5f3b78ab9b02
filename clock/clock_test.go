package clock

import (
	"testing"
	"time"
)

func TestFakeWakesWaitersInOrder(t *testing.T) {
	t0 := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	a := f.After(2 * time.Minute)
	b := f.After(time.Minute)
	f.Advance(90 * time.Second)
	select {
	case got := <-b:
		if want := t0.Add(90 * time.Second); !got.Equal(want) {
			t.Fatalf("b woke at %v, want %v", got, want)
		}
	default:
		t.Fatal("waiter due after 1m did not wake at 1m30s")
	}
	select {
	case <-a:
		t.Fatal("waiter due after 2m woke at 1m30s")
	default:
	}
	if f.Waiters() != 1 {
		t.Fatalf("Waiters() = %d, want 1", f.Waiters())
	}
	f.Advance(30 * time.Second)
	if got := <-a; !got.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("a woke at %v", got)
	}
}

func TestFakeNeverGoesBack(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	f.Set(t0.Add(-time.Hour))
	if !f.Now().Equal(t0) {
		t.Fatalf("Now() = %v after setting the past, want %v", f.Now(), t0)
	}
}

func TestFakeWaitFor(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	done := make(chan struct{})
	go func() {
		<-f.After(time.Second)
		close(done)
	}()
	f.WaitFor(1)
	f.Advance(time.Second)
	<-done
}

func TestScaledRunsFaster(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewScaled(start, 3600)
	got := <-s.After(time.Hour) // one real second at most
	if got.Sub(start) < time.Hour {
		t.Fatalf("After(1h) fired at %v, before an hour of clock time", got.Sub(start))
	}
}
