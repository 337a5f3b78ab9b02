package scheduler

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
)

// pastAll is past as it was first written: every occurrence in lookback (or
// the latest within farLookback), which past now narrows to each entry's
// latest. Both must fold to the same settings and end on the same one.
func pastAll(sc *schedule, now time.Time, skip *pool.Override) []occurrence {
	keep := func(occ []occurrence) []occurrence {
		out := occ[:0]
		for _, o := range occ {
			if skip == nil || !o.At.Equal(skip.SkipAt) {
				out = append(out, o)
			}
		}
		return out
	}
	occ := keep(sc.between(now.Add(-lookback), now))
	if len(occ) == 0 {
		if far := keep(sc.between(now.Add(-farLookback), now)); len(far) > 0 {
			occ = far[len(far)-1:]
		}
	}
	return occ
}

// afterAll is after over fixed 8-day windows, as it was first written.
func afterAll(s *schedule, t time.Time, n int) []occurrence {
	var out []occurrence
	seen := map[string]bool{}
	for from := t; len(out) < n && from.Sub(t) < farLookback; from = from.Add(8 * 24 * time.Hour) {
		for _, o := range s.between(from, from.Add(8*24*time.Hour)) {
			k := fmt.Sprint(o.At.UTC(), o.Entry.index)
			if !o.At.After(t) || seen[k] {
				continue
			}
			seen[k] = true
			if out = append(out, o); len(out) == n {
				break
			}
		}
	}
	return out
}

// TestWindowsAgreeWithTheWholeSpan: past and after, which look at growing
// windows and only at the offsets' changes they need, answer what reading
// every occurrence of the whole span answers, for dense and sparse entries,
// restores, holidays and skips, in zones with and without daylight saving
// (Lord Howe moves by half an hour, Apia once skipped a day), around their
// changes and far from them.
func TestWindowsAgreeWithTheWholeSpan(t *testing.T) {
	crons := []string{"* * * * *", "*/7 * * * *", "30 2 * * *", "0 1-3 * * *", "45 6 * * 1-5", "0 18 * * 5", "0 0 1 * *",
		"15 9 29 2 *", "0 12 * * 0", "*/20 7-19 * * 1-5"}
	zones := []string{"UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kolkata"}
	instants := []time.Time{
		time.Date(2026, 3, 29, 1, 10, 0, 0, time.UTC), // Paris' spring change
		time.Date(2026, 10, 25, 0, 59, 0, 0, time.UTC),
		time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC),  // New York's fall change
		time.Date(2026, 4, 5, 15, 0, 0, 0, time.UTC),   // Lord Howe's
		time.Date(2011, 12, 30, 10, 0, 0, 0, time.UTC), // the day Apia skipped
		time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC),
	}
	t.Parallel() // the whole span is slow to read: that is the point
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 40; i++ {
		zone := zones[r.Intn(len(zones))]
		var entries []Entry
		for k := 1 + r.Intn(3); k > 0; k-- {
			e := at(crons[r.Intn(len(crons))], r.Intn(5))
			if r.Intn(4) == 0 {
				e = Entry{Cron: e.Cron, Restore: true, TTL: pool.Int(r.Intn(30))}
			}
			entries = append(entries, e)
		}
		sc := sched(zone, entries...)
		now := instants[r.Intn(len(instants))].Add(time.Duration(r.Intn(4*24*60)-2*24*60) * time.Minute)
		if r.Intn(3) == 0 {
			sc.Skip = []string{now.In(mustZone(t, zone)).Format("2006-01-02")}
		}
		s := mustCompile(t, sc)
		var skip *pool.Override
		if want := pastAll(s, now, nil); len(want) > 0 && r.Intn(3) == 0 {
			skip = &pool.Override{SkipAt: want[len(want)-1].At}
		}
		name := fmt.Sprintf("%d %s %v at %s", i, zone, entries, now.Format(time.RFC3339))
		got, want := s.past(now, skip), pastAll(s, now, skip)
		if len(got) == 0 || len(want) == 0 {
			if len(got) != len(want) {
				t.Fatalf("%s: past %v, want %v", name, occText(got), occText(want))
			}
		} else {
			gs, gr := fold(got)
			ws, wr := fold(want)
			if !sameSettings(gs, ws) || !gr.Equal(wr) || !got[len(got)-1].At.Equal(want[len(want)-1].At) ||
				got[len(got)-1].Entry != want[len(want)-1].Entry {
				t.Fatalf("%s: past folds to %s (restore %v, last %v), want %s (restore %v, last %v)", name,
					gs.String(), gr, occText(got[len(got)-1:]), ws.String(), wr, occText(want[len(want)-1:]))
			}
		}
		n := 1 + r.Intn(5)
		if got, want := occText(s.after(now, n)), occText(afterAll(s, now, n)); got != want {
			t.Fatalf("%s: after %d: %s, want %s", name, n, got, want)
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := loadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func occText(occ []occurrence) string {
	var s string
	for _, o := range occ {
		s += fmt.Sprintf("%s#%d ", o.At.Format(time.RFC3339), o.Entry.index)
	}
	return s
}

// BenchmarkPast measures the settings a schedule holds now for a dense
// entry (every minute) and the demo's sparse ones, against reading every
// occurrence of the lookback as before.
//
//	go test ./scheduler -run '^$' -bench Past
func BenchmarkPast(b *testing.B) {
	now := time.Date(2026, 3, 11, 14, 3, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		sc   Schedule
	}{
		{"every-minute", sched("Europe/Paris", at("* * * * *", 1), at("*/2 * * * *", 2))},
		{"office", sched("Europe/Paris", at("45 6 * * 1-5", 2), at("0 18 * * 1-5", 1), at("0 20 * * *", 0))},
	} {
		s, errs := compile(c.sc)
		if len(errs) > 0 {
			b.Fatal(errs)
		}
		b.Run(c.name+"/windows", func(b *testing.B) {
			for b.Loop() {
				fold(s.past(now, nil))
			}
		})
		b.Run(c.name+"/whole-lookback", func(b *testing.B) {
			for b.Loop() {
				fold(pastAll(s, now, nil))
			}
		})
	}
}
