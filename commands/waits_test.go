package commands

import (
	"bytes"
	"context"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackstub"
)

var paris, _ = time.LoadLocation("Europe/Paris")

func TestWaitsStats(t *testing.T) {
	from := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday
	to := from.Add(7 * 24 * time.Hour)
	job := func(queued time.Time, wait time.Duration, ran time.Duration) pool.Job {
		j := pool.Job{Queued: queued, Finished: queued.Add(wait + ran), Result: "succeeded", Definition: "app"}
		if wait >= 0 {
			j.Assigned = queued.Add(wait)
		} else {
			j.Finished, j.Result = queued.Add(time.Hour), "canceled"
		}
		return j
	}
	var jobs []pool.Job
	for i := 1; i <= 20; i++ { // Monday 08:xx UTC = 09:xx Paris, waits 1…20 min, 10 min runs
		jobs = append(jobs, job(from.Add(8*time.Hour+time.Duration(i)*time.Minute), time.Duration(i)*time.Minute, 10*time.Minute))
	}
	jobs = append(jobs,
		job(from.Add(5*24*time.Hour+22*time.Hour), -1, 0),             // Saturday 23:00 Paris, never ran
		job(from.Add(-time.Hour), 3*time.Hour, time.Minute),           // before the span
		job(to, time.Minute, time.Minute),                             // at its end: outside
		job(from.Add(6*24*time.Hour+23*time.Hour), 30*time.Second, 0), // Monday 00:xx Paris, the next week: Sunday 23 UTC
	)
	s := Waits(jobs, from, to, paris)
	checks := []struct {
		name      string
		got, want any
	}{
		{"jobs", s.Jobs, 22},
		{"assigned", s.Assigned, 21},
		{"never ran", s.NeverRan, 1},
		{"p50", s.P50, 10 * time.Minute}, // 21 waits: 30 s and 1…20 min; the 11th
		{"p95", s.P95, 19 * time.Minute}, // the 20th of 21
		{"max", s.Max, 20 * time.Minute},
		{"busy", s.Busy, 200 * time.Minute},
		{"Monday 09 Paris", s.ByHour[0][9], 20},
		{"Saturday 23 Paris", s.ByHour[5][23], 1},
		{"Monday 00 Paris", s.ByHour[0][0], 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	grid := waitGrid(s)
	if !strings.Contains(grid, "busiest: Mon 09:00–10:00, 20 jobs") || !strings.Contains(grid, "Mon  ▂········█···") {
		t.Errorf("grid:\n%s", grid)
	}
}

// TestWaitsCommand: /pool waits answers from the stored job history with
// p50/p95 waits and a text heat map, and shares the PNG heat map in the
// channel through slack-go's files upload v2 on the local Slack; bad input
// is told with the usage line and shares nothing.
func TestWaitsCommand(t *testing.T) {
	stub := slackstub.New()
	t.Cleanup(stub.Close)
	api := slack.New("xoxb-test", slack.OptionAPIURL(stub.APIURL()))
	s := newMemStack(t, func(o *Options) { o.Files, o.Location = api, paris })
	ctx := context.Background()
	now := s.clk.Now()
	var jobs []pool.Job
	for i := 1; i <= 20; i++ {
		q := now.Add(-time.Duration(i) * 3 * time.Hour)
		jobs = append(jobs, pool.Job{Pool: "linux-ci", RequestID: uint64(i), Queued: q, Assigned: q.Add(time.Duration(i) * time.Minute),
			Finished: q.Add(time.Duration(i)*time.Minute + 5*time.Minute), Result: "succeeded", Definition: "app-ci"})
	}
	old := now.Add(-8 * 24 * time.Hour) // outside days=7
	jobs = append(jobs, pool.Job{Pool: "linux-ci", RequestID: 99, Queued: old, Assigned: old.Add(5 * time.Hour), Finished: old.Add(6 * time.Hour), Result: "failed"})
	if err := s.store.AddJobs(ctx, "linux-ci", jobs, "{}"); err != nil {
		t.Fatal(err)
	}

	rep := s.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: "waits linux-ci days=7"}).last()
	for _, want := range []string{"linux-ci, the last 7 days (Europe/Paris): 20 jobs", "p50 10m0s, p95 19m0s, longest 20m0s", "busiest:", "heat map is in the channel", "Pipelines: app-ci 20"} {
		if !strings.Contains(rep.Text, want) {
			t.Errorf("reply lacks %q:\n%s", want, rep.Text)
		}
	}
	if rep.InChannel {
		t.Errorf("a read answered in the channel")
	}
	files := stub.Files()
	if len(files) != 1 {
		t.Fatalf("%d files shared, want 1", len(files))
	}
	f := files[0]
	img, err := png.Decode(bytes.NewReader(f.Data))
	if err != nil {
		t.Fatalf("the shared file is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 100 || f.Channel != "C-ops" || f.Name != "waits-linux-ci.png" || !strings.Contains(f.Comment, "p95 19m0s") {
		t.Errorf("file %s in %s, %v, comment %q", f.Name, f.Channel, img.Bounds(), f.Comment)
	}
	if n := stub.Calls("files.getUploadURLExternal") + stub.Calls("upload") + stub.Calls("files.completeUploadExternal"); n != 3 {
		t.Errorf("%d upload calls, want the 3 of files upload v2", n)
	}

	for _, tc := range []struct{ text, want string }{
		{"waits linux-ci days=0", "days must be a whole number from 1 to 366"},
		{"waits linux-ci days=week", "days must be a whole number"},
		{"waits linux-ci hours=3", "waits takes no option hours"},
		{"waits linx-ci", "Did you mean linux-ci?"},
		{"waits linux-*", "one pool at a time"},
		{"waits", "waits takes 1 argument, not 0"},
	} {
		rep := s.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: tc.text}).last()
		if !strings.Contains(rep.Text, tc.want) {
			t.Errorf("%q: %q, want %q", tc.text, rep.Text, tc.want)
		}
	}
	rep = s.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: "waits windows-ci"}).last()
	if !strings.Contains(rep.Text, "No jobs of windows-ci in the last 7 days") {
		t.Errorf("no history: %q", rep.Text)
	}
	if len(stub.Files()) != 1 {
		t.Errorf("bad input or no history shared a file: %d files", len(stub.Files()))
	}

	// Without an uploader (no Slack files), the text alone.
	plain := newMemStack(t)
	if err := plain.store.AddJobs(ctx, "linux-ci", jobs, "{}"); err != nil {
		t.Fatal(err)
	}
	rep = plain.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: "waits linux-ci days=1"}).last()
	if !strings.Contains(rep.Text, "linux-ci, the last day (UTC): 8 jobs") || strings.Contains(rep.Text, "heat map") {
		t.Errorf("text-only reply: %q", rep.Text)
	}
}
