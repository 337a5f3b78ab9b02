package trace

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReadWriteRoundTrip(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	jobs := Reference(3, start, 24*time.Hour)
	if len(jobs) < 100 {
		t.Fatalf("a reference weekday has %d jobs, want a working day's", len(jobs))
	}
	var buf bytes.Buffer
	if err := Write(&buf, jobs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "pool,queued,duration,result,definition\n") {
		t.Fatalf("header: %q", buf.String()[:60])
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(jobs) {
		t.Fatalf("read %d jobs, wrote %d", len(got), len(jobs))
	}
	for i := range jobs {
		w := jobs[i]
		w.Queued = w.Queued.Truncate(time.Second)
		g := got[i]
		if g.Pool != w.Pool || !g.Queued.Equal(w.Queued) || g.Duration != w.Duration || g.Result != w.Result || g.Definition != w.Definition {
			t.Fatalf("job %d: read %+v, wrote %+v", i, g, w)
		}
	}
}

func TestReadColumnsAnyOrderExtraIgnored(t *testing.T) {
	in := "definition,extra,duration,queued,pool,result\nBuild,x,600,2026-03-09T08:15:00+01:00,linux-ci,succeeded\n,y,5,2026-03-09T08:15:00+01:00,windows-ci,failed\n"
	got, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		{Pool: "linux-ci", Queued: time.Date(2026, 3, 9, 7, 15, 0, 0, time.UTC), Duration: 10 * time.Minute, Result: "succeeded", Definition: "Build"},
		{Pool: "windows-ci", Queued: time.Date(2026, 3, 9, 7, 15, 0, 0, time.UTC), Duration: 5 * time.Second, Result: "failed"},
	}
	if len(got) != 2 {
		t.Fatalf("got %d jobs", len(got))
	}
	for i := range want {
		if got[i].Pool != want[i].Pool || !got[i].Queued.Equal(want[i].Queued) || got[i].Duration != want[i].Duration ||
			got[i].Result != want[i].Result || got[i].Definition != want[i].Definition {
			t.Errorf("job %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReadErrors(t *testing.T) {
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	const head = "pool,queued,duration,result,definition\n"
	for _, c := range []struct {
		name, in   string
		line       int
		column     string
		wrap       error
		wantInText string
	}{
		{"empty", "", 1, "", nil, "header"},
		{"missing column", "pool,queued,result,definition\nlinux-ci,2026-03-09T08:15:00+01:00,succeeded,Build\n", 1, "duration", nil, "missing from the header"},
		{"short row", head + "linux-ci,2026-03-09T08:15:00+01:00,60\n", 2, "result", nil, "missing"},
		{"bad time", head + "linux-ci,2026-03-09 08:15,60,succeeded,\n", 2, "queued", nil, "RFC 3339"},
		{"no offset", head + "linux-ci,2026-03-09T08:15:00,60,succeeded,\n", 2, "queued", nil, "RFC 3339"},
		{"bad duration", head + "linux-ci,2026-03-09T08:15:00Z,1.5,succeeded,\n", 2, "duration", nil, "whole seconds"},
		{"negative duration", head + "linux-ci,2026-03-09T08:15:00Z,-1,succeeded,\n", 2, "duration", nil, "whole seconds"},
		{"empty pool", head + ",2026-03-09T08:15:00Z,1,succeeded,\n", 2, "pool", nil, "empty"},
		{"unsorted", head + "a,2026-03-09T08:15:00Z,1,succeeded,\na,2026-03-09T09:15:00+02:00,1,succeeded,\n", 3, "queued", ErrUnsorted, "not sorted"},
		{"future", head + "a,2026-03-09T08:15:00Z,1,succeeded,\na,2026-03-11T08:15:00Z,1,succeeded,\n", 3, "queued", ErrFuture, "after"},
		{"bad quote", head + "a,\"2026,1\n", 2, "", nil, "quote"},
	} {
		t.Run(c.name, func(t *testing.T) {
			jobs, err := ReadBefore(strings.NewReader(c.in), now)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want a *ParseError", err, err)
			}
			if jobs != nil {
				t.Errorf("returned %d jobs with the error", len(jobs))
			}
			if pe.Line != c.line || pe.Column != c.column {
				t.Errorf("line %d column %q, want line %d column %q (%v)", pe.Line, pe.Column, c.line, c.column, err)
			}
			if c.wrap != nil && !errors.Is(err, c.wrap) {
				t.Errorf("%v does not wrap %v", err, c.wrap)
			}
			if !strings.Contains(err.Error(), c.wantInText) {
				t.Errorf("%q does not say %q", err, c.wantInText)
			}
		})
	}
}

// Without a present, future rows are accepted.
func TestReadNoPresent(t *testing.T) {
	if _, err := Read(strings.NewReader("pool,queued,duration,result,definition\na,2099-01-01T00:00:00Z,1,succeeded,\n")); err != nil {
		t.Fatal(err)
	}
}

func TestShapes(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday
	hourOf := func(jobs []Job, pool string, loc *time.Location) [24]int {
		var h [24]int
		for _, j := range Of(jobs, pool) {
			if wd := j.Queued.In(loc).Weekday(); wd != time.Saturday && wd != time.Sunday {
				h[j.Queued.In(loc).Hour()]++
			}
		}
		return h
	}
	night := hourOf(NightBatch(1, start, 7*24*time.Hour), "linux-ci", Paris)
	if night[2] < 3*night[10] {
		t.Errorf("night batch: %d jobs at 02:00, %d at 10:00", night[2], night[10])
	}
	two := hourOf(TwoZones(1, start, 7*24*time.Hour), "linux-ci", Paris)
	if two[21] < 3*two[5] || two[10] < 3*two[5] {
		t.Errorf("two zones: %d jobs at 10:00 Paris, %d at 21:00 (Los Angeles' noon), %d at 05:00", two[10], two[21], two[5])
	}
	rel := ReleaseDay(1, start, 7*24*time.Hour)
	var thu, wed int
	for _, j := range Of(rel, "linux-ci") {
		l := j.Queued.In(Paris)
		if l.Hour() >= 13 && l.Hour() < 17 {
			switch l.Weekday() {
			case time.Thursday:
				thu++
			case time.Wednesday:
				wed++
			}
		}
	}
	if float64(thu) < 1.3*float64(wed) {
		t.Errorf("release day: %d jobs Thursday afternoon, %d Wednesday", thu, wed)
	}
	for name, gen := range Shapes {
		jobs := gen(2, start, 24*time.Hour)
		for i := 1; i < len(jobs); i++ {
			if jobs[i].Queued.Before(jobs[i-1].Queued) {
				t.Fatalf("%s: unsorted at %d", name, i)
			}
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("pool,queued,duration,result,definition\nlinux-ci,2026-03-09T08:15:00+01:00,600,succeeded,Build\n"))
	f.Add([]byte("definition,pool,queued,duration,result\n\"a,b\",p,2026-03-09T08:15:00Z,0,failed\n"))
	f.Add([]byte("pool,queued,duration\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		jobs, err := Read(bytes.NewReader(data))
		if err != nil {
			if jobs != nil {
				t.Fatal("jobs returned with an error")
			}
			return
		}
		for i, j := range jobs {
			if j.Pool == "" || j.Duration < 0 || (i > 0 && j.Queued.Before(jobs[i-1].Queued)) {
				t.Fatalf("job %d accepted: %+v", i, j)
			}
		}
		// What was read writes and reads back the same.
		var buf bytes.Buffer
		if err := Write(&buf, jobs); err != nil {
			t.Fatal(err)
		}
		again, err := Read(&buf)
		if err != nil {
			t.Fatalf("rereading what was written: %v", err)
		}
		if len(again) != len(jobs) {
			t.Fatalf("%d jobs reread, %d read", len(again), len(jobs))
		}
		for i := range jobs {
			if again[i].Pool != jobs[i].Pool || !again[i].Queued.Equal(jobs[i].Queued) || again[i].Duration != jobs[i].Duration {
				t.Fatalf("job %d: reread %+v, read %+v", i, again[i], jobs[i])
			}
		}
	})
}
