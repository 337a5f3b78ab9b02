package scheduler

import (
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
)

func TestWorking(t *testing.T) {
	h := newHarness(t, paris(2, 0, 0), demo("Europe/Paris"))
	// Monday 2 March 2026 onwards: weekdays 07:00 standby 2, 20:00 standby 0.
	cases := []struct {
		at   time.Time
		pool string
		want bool
	}{
		{paris(3, 6, 59), "linux-ci", false},
		{paris(3, 7, 0), "linux-ci", true},
		{paris(3, 12, 0), "windows-ci", true},
		{paris(3, 19, 59), "linux-ci", true},
		{paris(3, 20, 0), "linux-ci", false},
		{paris(3, 23, 0), "linux-ci", false},
		{paris(7, 12, 0), "linux-ci", false},   // Saturday
		{paris(8, 23, 0), "linux-ci", false},   // Sunday
		{paris(3, 23, 0), "gpu-nightly", true}, // no schedule: always
	}
	for _, c := range cases {
		h.clk.Set(c.at)
		got, err := h.s.Working(h.ctx, c.pool)
		if err != nil || got != c.want {
			t.Errorf("%s at %s: working %t (%v), want %t", c.pool, c.at.Format("Mon 15:04"), got, err, c.want)
		}
	}

	// A hold that keeps the pool up is working hours until it ends; a hold
	// that takes it down is not.
	h = newHarness(t, paris(3, 19, 0), demo("Europe/Paris"))
	if _, err := h.s.Hold(h.ctx, "linux-ci", pool.Settings{Standby: pool.Int(2)}, paris(3, 22, 0), "U1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Hold(h.ctx, "windows-ci", pool.Settings{Standby: pool.Int(0)}, paris(3, 22, 0), "U1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		pool string
		want bool
	}{
		{paris(3, 19, 30), "windows-ci", true}, // the schedule still has it up
		{paris(3, 21, 0), "linux-ci", true},
		{paris(3, 21, 0), "windows-ci", false},
		{paris(3, 22, 0), "linux-ci", false},
	} {
		h.clk.Set(c.at)
		got, err := h.s.Working(h.ctx, c.pool)
		if err != nil || got != c.want {
			t.Errorf("with holds, %s at %s: working %t (%v), want %t", c.pool, c.at.Format("Mon 15:04"), got, err, c.want)
		}
	}
}
