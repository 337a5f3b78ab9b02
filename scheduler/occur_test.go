package scheduler

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests must not depend on the machine's zone files

	"github.com/poolbot/poolbot/pool"
)

func mustCompile(t *testing.T, sc Schedule) *schedule {
	t.Helper()
	s, errs := compile(sc)
	if len(errs) > 0 {
		t.Fatalf("compile %s: %v", sc.Name, errs)
	}
	return s
}

func sched(zone string, entries ...Entry) Schedule {
	return Schedule{Name: "s", Pools: []string{"p"}, TimeZone: zone, Entries: entries}
}

func at(cronExpr string, standby int) Entry {
	return Entry{Cron: cronExpr, Standby: pool.Int(standby)}
}

func instants(occ []occurrence) []string {
	var out []string
	for _, o := range occ {
		out = append(out, o.At.Format(time.RFC3339))
	}
	return out
}

// TestDST checks entries on both daylight-saving changes of two zones: an
// entry in the spring-forward gap takes effect once, right after the gap; an
// entry in the repeated hour at fall-back once, at its first occurrence.
func TestDST(t *testing.T) {
	tests := []struct {
		name, zone, cron string
		day              string // local date searched, whole day
		want             []string
	}{
		{"paris spring gap", "Europe/Paris", "30 2 * * *", "2026-03-29", []string{"2026-03-29T03:00:00+02:00"}},
		{"paris spring before gap", "Europe/Paris", "30 1 * * *", "2026-03-29", []string{"2026-03-29T01:30:00+01:00"}},
		{"paris spring after gap", "Europe/Paris", "0 3 * * *", "2026-03-29", []string{"2026-03-29T03:00:00+02:00"}},
		{"paris spring gap hour start", "Europe/Paris", "0 2 * * *", "2026-03-29", []string{"2026-03-29T03:00:00+02:00"}},
		{"paris fall repeated", "Europe/Paris", "30 2 * * *", "2026-10-25", []string{"2026-10-25T02:30:00+02:00"}},
		{"paris fall hourly", "Europe/Paris", "0 1-3 * * *", "2026-10-25",
			[]string{"2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00"}},
		{"paris ordinary day", "Europe/Paris", "30 2 * * *", "2026-03-28", []string{"2026-03-28T02:30:00+01:00"}},
		{"new york spring gap", "America/New_York", "30 2 * * *", "2026-03-08", []string{"2026-03-08T03:00:00-04:00"}},
		{"new york spring gap every 15", "America/New_York", "*/15 2 * * *", "2026-03-08", []string{"2026-03-08T03:00:00-04:00"}},
		{"new york fall repeated", "America/New_York", "30 1 * * *", "2026-11-01", []string{"2026-11-01T01:30:00-04:00"}},
		{"new york fall after", "America/New_York", "0 2 * * *", "2026-11-01", []string{"2026-11-01T02:00:00-05:00"}},
		{"tokyo no dst", "Asia/Tokyo", "0 7 * * 1-5", "2026-03-09", []string{"2026-03-09T07:00:00+09:00"}},
		{"sunday only on monday", "UTC", "0 7 * * 0", "2026-03-09", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, sched(tt.zone, at(tt.cron, 1)))
			day, err := time.ParseInLocation("2006-01-02", tt.day, s.loc)
			if err != nil {
				t.Fatal(err)
			}
			got := instants(s.between(day, day.AddDate(0, 0, 1).Add(-time.Nanosecond)))
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestOrderAtOneInstant: an entry moved out of the gap and the entry at the
// end of the gap share an instant; the one naming the later wall time wins.
func TestOrderAtOneInstant(t *testing.T) {
	s := mustCompile(t, sched("Europe/Paris", at("0 3 * * *", 3), at("30 2 * * *", 2)))
	day := time.Date(2026, 3, 29, 0, 0, 0, 0, s.loc)
	occ := s.between(day, day.Add(24*time.Hour))
	if len(occ) != 2 || *occ[0].Entry.settings.Standby != 2 || *occ[1].Entry.settings.Standby != 3 {
		t.Fatalf("got %+v", occ)
	}
}

func TestSkipDates(t *testing.T) {
	sc := sched("Europe/Paris", at("0 7 * * 1-5", 2))
	sc.Skip = []string{"2026-12-25"}
	s := mustCompile(t, sc)
	from := time.Date(2026, 12, 24, 0, 0, 0, 0, s.loc)
	got := instants(s.between(from, from.AddDate(0, 0, 5)))
	want := []string{"2026-12-24T07:00:00+01:00", "2026-12-28T07:00:00+01:00"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestAfter(t *testing.T) {
	s := mustCompile(t, sched("America/New_York", at("0 7 * * 1-5", 2), at("0 20 * * 1-5", 0)))
	from := time.Date(2026, 3, 6, 19, 0, 0, 0, s.loc) // a Friday
	got := instants(s.after(from, 3))
	want := []string{"2026-03-06T20:00:00-05:00", "2026-03-09T07:00:00-04:00", "2026-03-09T20:00:00-04:00"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
	// A yearly entry is found months ahead.
	y := mustCompile(t, sched("UTC", at("0 0 1 1 *", 1)))
	if got := instants(y.after(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), 1)); len(got) != 1 || got[0] != "2027-01-01T00:00:00Z" {
		t.Errorf("yearly: got %v", got)
	}
}

func TestParseCron(t *testing.T) {
	tests := []struct {
		expr string
		ok   bool
	}{
		{"0 7 * * 1-5", true},
		{"30 6 * * mon", true},
		{"@daily", true},
		{"0 7 * *", false},
		{"0 7 * * * *", false},
		{"61 7 * * *", false},
		{"@every 1h", false},
		{"CRON_TZ=Europe/Paris 0 7 * * *", false},
		{"TZ=Europe/Paris", false},
		{"0 0 30 2 *", false},
		{"", false},
	}
	for _, tt := range tests {
		_, err := parseCron(tt.expr)
		if (err == nil) != tt.ok {
			t.Errorf("parseCron(%q) = %v, want ok=%v", tt.expr, err, tt.ok)
		}
	}
}

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 7 * * 1-5", "*/15 2 * * *", "@weekly", "TZ=", "CRON_TZ=x", "1-2/0 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		spec, err := parseCron(expr)
		if err != nil {
			return
		}
		// A parsed expression yields instants that never go backwards.
		s := &schedule{loc: time.UTC, skip: map[string]bool{}, entries: []*entry{{spec: spec, settings: pool.Settings{Standby: pool.Int(1)}}}}
		from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		occ := s.between(from, from.Add(48*time.Hour))
		for i := 1; i < len(occ); i++ {
			if occ[i].At.Before(occ[i-1].At) {
				t.Fatalf("%q: out of order %v", expr, instants(occ))
			}
		}
	})
}
