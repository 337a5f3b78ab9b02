package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/trace"
)

// traceHistory serves a trace as job history: the jobs that finished by
// the clock's now.
type traceHistory struct {
	mu    sync.Mutex
	jobs  []trace.Job
	now   func() time.Time
	calls int
	err   error
}

func (h *traceHistory) Jobs(_ context.Context, name string, since time.Time) ([]trace.Job, time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.err != nil {
		return nil, time.Time{}, h.err
	}
	now := h.now()
	var out []trace.Job
	var first time.Time
	for _, j := range h.jobs {
		if j.Pool != name || j.Queued.Add(j.Duration).After(now) {
			continue
		}
		if first.IsZero() {
			first = j.Queued
		}
		if !j.Queued.Before(since) {
			out = append(out, j)
		}
	}
	if first.IsZero() {
		return nil, time.Time{}, nil
	}
	return out, later(first.Truncate(24*time.Hour), since), nil
}

func autopilotSchedule() Schedule {
	return Schedule{Name: "auto", Pools: []string{"linux-ci"}, TimeZone: "Europe/Paris", Channel: "C-OPS",
		Mode: "autopilot", Preference: "balanced"}
}

// withHistory restarts the harness's scheduler with a job history.
func (h *harness) withHistory(hist History) {
	h.t.Helper()
	s, err := New(Options{Schedules: h.scs, Changer: h.ch, Store: h.st, Clock: h.clk, Owner: h.owner, History: hist})
	if err != nil {
		h.t.Fatal(err)
	}
	h.s = s
}

// The reference office's linux-ci from two weeks before Tuesday 3 March
// 2026 to the Friday; the history has the jobs finished by the clock's now.
func officeHistory(h *harness) *traceHistory {
	start := paris(3, 0, 0).Add(-14 * 24 * time.Hour)
	return &traceHistory{jobs: trace.Of(trace.Reference(11, start, 18*24*time.Hour), "linux-ci"), now: h.clk.Now}
}

func TestAutopilotFollowsDemand(t *testing.T) {
	h := newHarness(t, paris(3, 3, 0), autopilotSchedule())
	hist := officeHistory(h)
	h.withHistory(hist)
	// At night: no standby, a freed agent goes at once.
	h.reconcileAt(paris(3, 3, 0))
	if p := h.svc.get("linux-ci"); p.Standby != 0 || p.TTLMinutes != 1 {
		t.Fatalf("at 03:00: standby %d ttl %d, want 0 and 1", p.Standby, p.TTLMinutes)
	}
	// Before the office's peak: agents ready by 08:00.
	h.reconcileAt(paris(3, 7, 55))
	p := h.svc.get("linux-ci")
	if p.Standby < 2 || p.TTLMinutes != 3 {
		t.Fatalf("at 07:55: standby %d ttl %d, want at least 2 and 3", p.Standby, p.TTLMinutes)
	}
	if p.Max != 10 {
		t.Errorf("max changed to %d", p.Max)
	}
	msgs := h.messages()
	if len(msgs) != 2 {
		t.Fatalf("messages: %q", msgs)
	}
	last := msgs[1]
	for _, want := range []string{"C-OPS ⏰ linux-ci: standby ", ": expecting ", " jobs by 08:05", "autopilot balanced", "14 days of history"} {
		if !strings.Contains(last, want) {
			t.Errorf("%q does not say %q", last, want)
		}
	}
	// The audit trail names the scheduler and the autopilot.
	recs, err := h.st.Audit(h.ctx, pool.AuditQuery{Pool: "linux-ci"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Actor != "scheduler" || recs[0].Result != "ok" || !strings.Contains(recs[0].Command, "(autopilot balanced)") {
		t.Errorf("audit: %+v", recs)
	}
}

func TestAutopilotOneChangePerFiveMinutes(t *testing.T) {
	h := newHarness(t, paris(3, 10, 0), autopilotSchedule())
	h.withHistory(officeHistory(h))
	h.reconcileAt(paris(3, 10, 0))
	n := h.svc.nUpdates()
	if n != 1 {
		t.Fatalf("%d updates at 10:00, want 1", n)
	}
	want := h.svc.get("linux-ci").Standby
	// Someone sets it by hand; the autopilot sets it back, but not within
	// five minutes of its last change, and once.
	h.svc.set("linux-ci", pool.Settings{Standby: pool.Int(want + 3)})
	h.reconcileAt(paris(3, 10, 2))
	h.reconcileAt(paris(3, 10, 4))
	if h.svc.nUpdates() != n {
		t.Fatalf("changed again within 5 minutes: %q", h.svc.updates)
	}
	h.reconcileAt(paris(3, 10, 5))
	h.reconcileAt(paris(3, 10, 6))
	if h.svc.nUpdates() != n+1 || h.svc.get("linux-ci").Standby != want {
		t.Fatalf("updates %q, standby %d, want %d", h.svc.updates, h.svc.get("linux-ci").Standby, want)
	}
	// Through the hour, as the day's jobs come in: changes only when the
	// value differs, never two within five minutes.
	for m := 7; m < 60; m++ {
		h.reconcileAt(paris(3, 10, m))
	}
	var last time.Time
	for _, u := range h.svc.updates {
		at, err := time.Parse(time.RFC3339, strings.Fields(u)[0])
		if err != nil {
			t.Fatal(err)
		}
		if !last.IsZero() && at.Sub(last) < 5*time.Minute {
			t.Errorf("updates %s apart: %q", at.Sub(last), h.svc.updates)
		}
		last = at
	}
}

func TestAutopilotHoldAndSkip(t *testing.T) {
	h := newHarness(t, paris(3, 21, 0), autopilotSchedule())
	h.withHistory(officeHistory(h))
	h.reconcileAt(paris(3, 21, 0))
	h.want("linux-ci", 0, 10)
	// `up linux-ci for=2h` at 21:00: the hold stands over the autopilot.
	end, err := h.s.Hold(h.ctx, "linux-ci", pool.Settings{Standby: pool.Int(3)}, paris(3, 23, 0), "U1")
	if err != nil || !end.Equal(paris(3, 23, 0)) {
		t.Fatalf("hold: %v %v", end, err)
	}
	h.reconcileAt(paris(3, 21, 10))
	h.want("linux-ci", 3, 10) // applied by the scheduler, the command did not
	h.reconcileAt(paris(3, 22, 55))
	h.want("linux-ci", 3, 10)
	h.reconcileAt(paris(3, 23, 0))
	h.want("linux-ci", 0, 10)
	// A hold without an end lasts the day.
	end, err = h.s.Hold(h.ctx, "linux-ci", pool.Settings{Standby: pool.Int(2)}, time.Time{}, "U1")
	if err != nil || !end.Equal(paris(4, 0, 0)) {
		t.Fatalf("hold: %v %v", end, err)
	}
	h.reconcileAt(paris(3, 23, 30))
	h.want("linux-ci", 2, 10)
	h.reconcileAt(paris(4, 0, 5))
	h.want("linux-ci", 0, 10)
	// skip pauses the autopilot for an hour.
	h.clk.Set(paris(4, 7, 0))
	ch, err := h.s.Skip(h.ctx, "linux-ci", "U1")
	if err != nil || !ch.Skipped || !ch.At.Equal(paris(4, 8, 0)) {
		t.Fatalf("skip: %+v %v", ch, err)
	}
	h.reconcileAt(paris(4, 7, 55))
	h.want("linux-ci", 0, 10)
	h.reconcileAt(paris(4, 8, 0))
	if h.svc.get("linux-ci").Standby == 0 {
		t.Error("the autopilot did not resume after the skip")
	}
}

func TestAutopilotWithoutHistoryLeavesPool(t *testing.T) {
	h := newHarness(t, paris(3, 9, 0), autopilotSchedule())
	hist := &traceHistory{now: h.clk.Now}
	h.withHistory(hist)
	h.reconcileAt(paris(3, 9, 0))
	h.want("linux-ci", 2, 10)
	if h.svc.nUpdates() != 0 || hist.calls == 0 {
		t.Fatalf("updates %q, history read %d times", h.svc.updates, hist.calls)
	}
	// A history that fails is an error of the pass; nothing changes.
	hist.err = errors.New("database is locked")
	h.clk.Set(paris(3, 9, 5))
	if err := h.s.Reconcile(h.ctx); err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("reconcile: %v", err)
	}
	h.want("linux-ci", 2, 10)
	// Half a day of history is enough to start.
	hist.err = nil
	hist.jobs = trace.Of(trace.Reference(3, paris(2, 0, 0), 20*time.Hour), "linux-ci")
	h.reconcileAt(paris(3, 7, 55))
	if p := h.svc.get("linux-ci"); p.Standby == 2 && p.TTLMinutes == 30 {
		t.Fatalf("no change with a day of history")
	}
	if msgs := h.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "hours of history") {
		t.Errorf("messages %q", msgs)
	}
}

func TestAutopilotNext(t *testing.T) {
	h := newHarness(t, paris(3, 4, 10), autopilotSchedule())
	h.withHistory(officeHistory(h))
	h.reconcileAt(paris(3, 4, 10))
	next, err := h.s.Next(h.ctx, "linux-ci", 3)
	if err != nil || len(next) != 3 {
		t.Fatalf("next: %+v %v", next, err)
	}
	// The morning's rise first, in Paris.
	if next[0].At.Location().String() != "Europe/Paris" || next[0].At.Hour() < 6 || next[0].At.Hour() > 8 || *next[0].Settings.Standby < 1 {
		t.Errorf("first change %+v", next[0])
	}
	if !strings.Contains(next[0].Schedule, "auto (autopilot balanced, 14 days of history)") {
		t.Errorf("schedule label %q", next[0].Schedule)
	}
	for i := 1; i < len(next); i++ {
		if !next[i].At.After(next[i-1].At) || *next[i].Settings.Standby == *next[i-1].Settings.Standby {
			t.Errorf("changes %d and %d: %+v %+v", i-1, i, next[i-1], next[i])
		}
	}
}

func TestAutopilotConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Schedule)
		key  string
		msg  string
	}{
		{"bad preference", func(s *Schedule) { s.Preference = "fastest" }, "preference", `no preference "fastest"`},
		{"cron entries", func(s *Schedule) { s.Entries = []Entry{{Cron: "0 7 * * *", Standby: pool.Int(1)}} }, "entries", "no cron entries"},
		{"bad mode", func(s *Schedule) { s.Mode = "auto" }, "mode", "not a mode"},
		{"min above max", func(s *Schedule) { s.MinStandby, s.MaxStandby = pool.Int(3), pool.Int(2) }, "min_standby", "more than max_standby"},
		{"bad hours", func(s *Schedule) { s.WorkingHours = "20:00-07:00" }, "working_hours", "ends before it starts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := autopilotSchedule()
			c.edit(&sc)
			errs := Validate([]Schedule{sc})
			if len(errs) != 1 || errs[0].Schedule != 0 || errs[0].Key != c.key || !strings.Contains(errs[0].Error(), c.msg) {
				t.Fatalf("errors %v, want one about %s saying %q", errs, c.key, c.msg)
			}
			if _, err := New(Options{Schedules: []Schedule{sc}}); err == nil {
				t.Error("New accepted it")
			}
		})
	}
	for _, p := range []string{"balanced", "Balanced", "most-cost-effective", "BestPerformance", "more_performance", ""} {
		sc := autopilotSchedule()
		sc.Preference = p
		if errs := Validate([]Schedule{sc}); len(errs) > 0 {
			t.Errorf("preference %q: %v", p, errs)
		}
	}
}

func TestAutopilotWorkingHoursFloorAndSkipDates(t *testing.T) {
	sc := autopilotSchedule()
	sc.MinStandby, sc.MaxStandby, sc.WorkingHours, sc.WorkingDays = pool.Int(1), pool.Int(2), "05:00-19:00", "mon-fri"
	sc.Skip = []string{"2026-03-05"}
	h := newHarness(t, paris(3, 3, 0), sc)
	h.withHistory(officeHistory(h))
	h.reconcileAt(paris(3, 3, 0))
	h.want("linux-ci", 0, 10)
	h.reconcileAt(paris(3, 4, 55)) // the lead window reaches 05:00
	h.want("linux-ci", 1, 10)
	h.reconcileAt(paris(3, 10, 0))
	h.want("linux-ci", 2, 10) // capped
	h.reconcileAt(paris(5, 10, 0))
	h.want("linux-ci", 0, 10) // a skip date
	if w, err := h.s.Working(h.ctx, "linux-ci"); err != nil || w {
		t.Errorf("working on a skip date: %v %v", w, err)
	}
	h.reconcileAt(paris(6, 10, 0))
	h.want("linux-ci", 2, 10)
	if w, err := h.s.Working(h.ctx, "linux-ci"); err != nil || !w {
		t.Errorf("not working on Friday at 10:00: %v %v", w, err)
	}
}

// /pool schedule (Next) while passes run: the demand they share is learnt
// one at a time (go test -race).
func TestAutopilotNextDuringPasses(t *testing.T) {
	h := newHarness(t, paris(3, 9, 0), autopilotSchedule())
	h.withHistory(officeHistory(h))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			if _, err := h.s.Next(h.ctx, "linux-ci", 2); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for m := 0; m < 20; m++ {
		h.clk.Set(paris(3, 9, m))
		if err := h.s.Reconcile(h.ctx); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

// Floor keeps one agent warm where the chance of a job reaches it, though
// the preference's percentile says none: a job at 03:02 every night is
// seen by one 20-minute block of three in the 02:00 and 03:00 hours.
func TestAutopilotFloor(t *testing.T) {
	start := paris(3, 0, 0).Add(-10 * 24 * time.Hour)
	var jobs []trace.Job
	for d := range 10 {
		jobs = append(jobs, trace.Job{Pool: "linux-ci", Queued: start.Add(time.Duration(d)*24*time.Hour + 3*time.Hour + 2*time.Minute), Duration: 10 * time.Minute})
	}
	now := paris(3, 2, 55)
	for _, tc := range []struct {
		floor   float64
		standby int
		note    string
	}{
		{0, 0, ""},
		{0.3, 1, "a job in 33% of such windows"},
		{0.5, 0, ""},
	} {
		a, err := NewAutopilot(Schedule{Preference: "balanced", TimeZone: "Europe/Paris"})
		if err != nil {
			t.Fatal(err)
		}
		a.Floor = tc.floor
		d := a.NewDemand()
		d.Learn(jobs, start, now)
		dec := a.Decide(now, d, 10)
		if !dec.Known || dec.Standby != tc.standby || dec.Note != tc.note || dec.TTL != ttlQuiet {
			t.Errorf("floor %.1f: %+v (%s), want standby %d, note %q, ttl %d", tc.floor, dec, dec.Reason(), tc.standby, tc.note, ttlQuiet)
		}
	}
}

// A pass that decides what the last one did keeps the stored state as it
// was: the week's passes write only what changed.
func TestAutopilotKeepsAnUnchangedDecisionWithoutWriting(t *testing.T) {
	h := newHarness(t, paris(3, 3, 0), autopilotSchedule())
	h.withHistory(officeHistory(h))
	h.reconcileAt(paris(3, 3, 0))
	first, err := h.st.Get(h.ctx, autoStateKey("linux-ci"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []int{1, 2, 30} {
		h.reconcileAt(paris(3, 3, m))
		now, err := h.st.Get(h.ctx, autoStateKey("linux-ci"))
		if err != nil {
			t.Fatal(err)
		}
		if now != first {
			t.Fatalf("at 03:%02d the same decision was written again:\n%s\nwas\n%s", m, now, first)
		}
	}
	// A new decision is kept: by 07:55 the pool is brought up.
	h.reconcileAt(paris(3, 7, 55))
	later, err := h.st.Get(h.ctx, autoStateKey("linux-ci"))
	if err != nil {
		t.Fatal(err)
	}
	if later == first || !strings.Contains(later, `"standby":`) || strings.Contains(later, `"standby":0,`) {
		t.Errorf("at 07:55 the state is %s, want the new standby", later)
	}
}
