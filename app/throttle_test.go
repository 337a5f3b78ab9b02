package app

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
)

type replyLog struct {
	mu      sync.Mutex
	replies []commands.Reply
}

func (r *replyLog) Respond(_ context.Context, rep commands.Reply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, rep)
	return nil
}

func (r *replyLog) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.replies) == 0 {
		return ""
	}
	return r.replies[len(r.replies)-1].Text
}

// refusedWithTime is a throttled command's answer: the time the throttle
// ends, with its zone.
var refusedWithTime = regexp.MustCompile(`Azure DevOps is throttling poolbot until \d\d:\d\d:\d\d UTC`)

// TestCommandsAnsweredUnderThrottle runs poolbot on the simulator with
// `--faults "429=0.2,retry-after=90s"`, on the simulator's clock, which
// moves only when the test moves it. Every command is answered while the
// clock stands still — so within 3 s of it, whatever the throttle: with its
// result (history needs no Azure DevOps), or refused with the time the
// throttle ends. A command that waited for the throttle would never
// return. Then Azure DevOps stops throttling, and the schedule's state is
// reached within 2 minutes of the throttle lifting.
func TestCommandsAnsweredUnderThrottle(t *testing.T) {
	s := sim.New(sim.Options{Seed: 1})
	srv := httptest.NewServer(s)
	defer srv.Close()
	stub := slackstub.New()
	defer stub.Close()
	cfg := writeConfig(t, t.TempDir(), srv.URL, stub.APIURL(), `
[[roles]]
name = "admin"
users = ["U1"]

[[schedules]]
name = "nights"
pools = ["linux-ci"]
timezone = "UTC"
correct = true
[[schedules.entries]]
cron = "0 0 * * *"
standby = 2
[[schedules.entries]]
cron = "10 0 * * *"
standby = 0
`)
	a, err := New(context.Background(), Options{Config: cfg, Clock: s, Owner: "test-1", NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	command := func(text string) string {
		t.Helper()
		rec := &replyLog{}
		before := s.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.Handler().Handle(context.Background(), commands.Request{UserID: "U1", UserName: "ann", ChannelID: "C0TEST",
				Text: text, Source: "slack", RequestID: "r-" + text}, rec)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("/pool %s not answered: it waits for the throttle", text)
		}
		if d := s.Now().Sub(before); d > 3*time.Second {
			t.Errorf("/pool %s answered after %v on the clock, want ≤ 3s", text, d)
		}
		return rec.last()
	}
	// A list read before the throttle: names for history to resolve.
	if got := command("list"); !strings.Contains(got, "linux-ci") {
		t.Fatalf("list: %q", got)
	}

	// The scheduler's and the watcher's first calls meet a 429 with
	// Retry-After 90 s: Azure DevOps throttles poolbot.
	s.SetFaults(sim.Faults{Rate429: 1, RetryAfter: 90 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitUntil(t, "the first 429", func() bool { return s.Calls()["fault:429"] > 0 && !a.azure.ThrottledUntil().IsZero() })
	s.SetFaults(sim.Faults{Rate429: 0.2, RetryAfter: 90 * time.Second})

	answered := map[string]int{}
	check := func(text string, result func(string) bool) {
		t.Helper()
		got := command(text)
		switch {
		case result(got):
			answered["result"]++
		case refusedWithTime.MatchString(got):
			answered["refused"]++
		default:
			t.Errorf("/pool %s answered %q: neither its result nor a refusal with the time", text, got)
		}
	}
	has := func(s string) func(string) bool { return func(got string) bool { return strings.Contains(got, s) } }
	// Rounds: the throttle holds, the commands are answered at once; the
	// throttle lifts, the calls held go (at 20% faults some meet another
	// 90 s throttle), and the commands are answered at once again.
	due := time.Date(2026, 1, 5, 0, 10, 0, 0, time.UTC) // the schedule's standby 0
	for round := 0; s.Now().Before(due.Add(-2 * time.Minute)); round++ {
		for _, text := range []string{"history", "history linux-ci", "help"} {
			got := command(text)
			if !strings.HasPrefix(got, "Last changes") && !strings.HasPrefix(got, "Nothing in the audit trail") &&
				!strings.Contains(got, "/pool history") {
				t.Errorf("round %d: /pool %s needs no Azure DevOps but answered %q", round, text, got)
			}
		}
		check("status windows-ci", has("windows-ci"))
		check("list", has("gpu-nightly"))
		check("standby windows-ci 2", has("standby"))
		check("max gpu-nightly 3", has("max"))
		until := a.azure.ThrottledUntil()
		if until.IsZero() {
			s.Advance(30 * time.Second)
			continue
		}
		s.Advance(until.Sub(s.Now()))
		settle(s)
	}
	t.Logf("under 20%% 429s with Retry-After 90 s: %v", answered)
	if answered["refused"] == 0 {
		t.Error("no command met the throttle")
	}

	// The schedule's change comes due during a throttle, which then lifts
	// for good: the schedule's state follows within 2 minutes.
	s.SetFaults(sim.Faults{Rate429: 1, RetryAfter: 90 * time.Second})
	s.Advance(due.Sub(s.Now()))
	settle(s)
	lift := a.azure.ThrottledUntil()
	if lift.IsZero() {
		t.Fatal("no throttle when the schedule's change came due")
	}
	s.SetFaults(sim.Faults{})
	if st, _ := s.Settings("linux-ci"); st.Standby == nil || *st.Standby != 2 {
		t.Fatalf("linux-ci standby %v during the throttle, want still 2", st.Standby)
	}
	for {
		if st, _ := s.Settings("linux-ci"); st.Standby != nil && *st.Standby == 0 {
			break
		}
		if s.Now().Sub(lift) > 2*time.Minute {
			t.Fatalf("linux-ci not at the schedule's standby 0 two minutes after the throttle lifted")
		}
		s.Advance(time.Second)
		settle(s)
	}
	t.Logf("the schedule's state was reached %v after the throttle lifted", max(s.Now().Sub(lift), 0))
}

// settle gives the goroutines woken by a clock move the time to run until
// they wait on the clock again.
func settle(s *sim.Sim) {
	last, stable := -1, 0
	for stable < 5 {
		time.Sleep(2 * time.Millisecond)
		if n := s.Waiters(); n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
