package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/sim"
)

// historyJobs is n finished jobs of one pool, one every 4 minutes ending
// an hour before simStart, each waiting i%7 minutes and running 10.
func historyJobs(n int) []sim.HistoryJob {
	var out []sim.HistoryJob
	first := simStart.Add(-time.Hour - time.Duration(n)*4*time.Minute)
	for i := 0; i < n; i++ {
		q := first.Add(time.Duration(i) * 4 * time.Minute)
		a := q.Add(time.Duration(i%7) * time.Minute)
		out = append(out, sim.HistoryJob{Queued: q, Assigned: a, Finished: a.Add(10 * time.Minute),
			Definition: fmt.Sprintf("app-%d", i%3), Demands: []string{"Agent.OS -equals Linux", "docker"}})
	}
	return out
}

// newHistoryEnv is newEnv with linux-ci's history seeded before the
// simulator runs, so that request ids follow queue time as they do in
// Azure DevOps.
func newHistoryEnv(t *testing.T, n int) *env {
	t.Helper()
	e := &env{sim: sim.New(sim.Options{Start: simStart, Seed: 1}), logs: &bytes.Buffer{}}
	if err := e.sim.AddJobHistory("linux-ci", historyJobs(n)); err != nil {
		t.Fatal(err)
	}
	e.sim.Advance(time.Hour)
	e.srv = httptest.NewServer(e)
	t.Cleanup(e.srv.Close)
	e.c = e.client(t)
	e.sim.ResetCalls()
	return e
}

// client is a new Client of e's simulator: a restarted poolbot.
func (e *env) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(context.Background(), Options{
		OrganizationURL: e.srv.URL + "/contoso", PAT: "pat-for-tests", ResourceManagerURL: e.srv.URL,
		ARMCredential: StaticCredential("arm-token"), Subscription: sim.Subscription, ResourceGroup: sim.ResourceGroup,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, nil)),
		Retry:  RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxAttempts: 6},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestJobRequestsPageCap: the simulator answers at most 200 job requests
// whatever $top says, with X-MS-ContinuationToken while more remain, as
// Azure DevOps does.
func TestJobRequestsPageCap(t *testing.T) {
	e := newHistoryEnv(t, 450)
	get := func(query string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/contoso/_apis/distributedtask/pools/10/jobrequests?api-version=7.1-preview.1&"+query, nil)
		req.SetBasicAuth("", "pat")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Count int               `json:"count"`
			Value []json.RawMessage `json:"value"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: status %d, %v", query, resp.StatusCode, err)
		}
		return len(body.Value), resp.Header.Get("X-MS-ContinuationToken")
	}
	n, tok := get("$top=1000")
	if n != 200 || tok == "" {
		t.Fatalf("$top=1000: %d requests, token %q; want 200 and a token", n, tok)
	}
	n, tok2 := get("$top=50&continuationToken=" + tok)
	if n != 50 || tok2 == "" || tok2 == tok {
		t.Fatalf("$top=50 after the token: %d requests, token %q", n, tok2)
	}
	total := 250
	for tok2 != "" {
		n, tok2 = get("$top=200&continuationToken=" + tok2)
		total += n
	}
	if min := 450; total < min {
		t.Fatalf("paged %d requests in all, want at least the %d seeded", total, min)
	}
}

// TestJobHistory reads a pool's history through the real SDK's core client:
// every page at most 200, the continuation token followed, the watermark
// (Since) stopping the read, and a read cut at its call limit resumed by a
// new client (a restart) from its token, nothing missed and nothing twice.
func TestJobHistory(t *testing.T) {
	const seeded = 1000
	e := newHistoryEnv(t, seeded)

	all, err := e.c.JobHistory(ctx(t), "linux-ci", pool.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	live := len(all.Jobs) + len(all.Open) - seeded
	if live <= 0 {
		t.Fatalf("read %d finished and %d open requests: want the %d seeded and the hour's own", len(all.Jobs), len(all.Open), seeded)
	}
	wantCalls := (seeded + live + 199) / 200
	if all.Calls != wantCalls || e.sim.Calls()["ado.jobrequests"] != wantCalls {
		t.Errorf("whole history of %d requests: %d calls (simulator saw %d), want %d of at most 200",
			seeded+live, all.Calls, e.sim.Calls()["ado.jobrequests"], wantCalls)
	}
	if all.Token != "" {
		t.Errorf("whole history read: token %q left", all.Token)
	}
	ids := map[uint64]bool{}
	var last uint64
	for i, j := range all.Jobs {
		if ids[j.RequestID] {
			t.Fatalf("request %d read twice", j.RequestID)
		}
		ids[j.RequestID] = true
		if i > 0 && j.RequestID >= last {
			t.Fatalf("jobs not newest first: %d after %d", j.RequestID, last)
		}
		last = j.RequestID
		if j.Finished.IsZero() || j.Result == "" || j.Queued.IsZero() || j.Pool != "linux-ci" || j.Definition == "" || len(j.Demands) == 0 {
			t.Fatalf("job %+v lacks a field", j)
		}
	}
	// A seeded job comes back as seeded.
	oldest := all.Jobs[len(all.Jobs)-1]
	h := historyJobs(seeded)[0]
	if !oldest.Queued.Equal(h.Queued) || !oldest.Assigned.Equal(h.Assigned) || !oldest.Finished.Equal(h.Finished) ||
		oldest.Result != "succeeded" || oldest.Definition != "app-0" || fmt.Sprint(oldest.Demands) != "[Agent.OS -equals Linux docker]" {
		t.Errorf("oldest job read as %+v, seeded as %+v", oldest, h)
	}
	if w, ok := oldest.Wait(); !ok || w != 0 {
		t.Errorf("oldest job's wait %v %v, want 0", w, ok)
	}

	// The watermark: only what was queued at or after Since, in as few calls.
	e.sim.ResetCalls()
	since := simStart.Add(-time.Hour - 100*4*time.Minute) // the last 100 seeded jobs
	recent, err := e.c.JobHistory(ctx(t), "linux-ci", pool.JobQuery{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range append(recent.Jobs, recent.Open...) {
		if j.Queued.Before(since) {
			t.Fatalf("job queued %s read with Since %s", j.Queued, since)
		}
	}
	if got, want := len(recent.Jobs)+len(recent.Open), 100+live; got != want || recent.Calls != (want+199)/200+boolInt(want%200 == 0) {
		t.Errorf("since the watermark: %d requests in %d calls, want %d in %d", got, recent.Calls, want, (want+199)/200)
	}

	// A read cut at 2 calls, resumed by a new client from the token.
	first, err := e.c.JobHistory(ctx(t), "linux-ci", pool.JobQuery{MaxCalls: 2})
	if err != nil || first.Token == "" || first.Calls != 2 || len(first.Jobs)+len(first.Open) != 400 {
		t.Fatalf("cut read: %d requests in %d calls, token %q, err %v; want 400 in 2 and a token",
			len(first.Jobs)+len(first.Open), first.Calls, first.Token, err)
	}
	restarted := e.client(t)
	rest, err := restarted.JobHistory(ctx(t), "linux-ci", pool.JobQuery{Token: first.Token})
	if err != nil || rest.Token != "" {
		t.Fatalf("resumed read: token %q, err %v", rest.Token, err)
	}
	seen := map[uint64]int{}
	for _, j := range append(append(first.Jobs, first.Open...), append(rest.Jobs, rest.Open...)...) {
		seen[j.RequestID]++
	}
	for id := range ids {
		if seen[id] != 1 {
			t.Fatalf("request %d read %d times across the restart", id, seen[id])
		}
	}
	if len(seen) != len(ids)+len(all.Open) {
		t.Errorf("across the restart %d requests, want %d", len(seen), len(ids)+len(all.Open))
	}

	_, err = e.c.JobHistory(ctx(t), "no-such-pool", pool.JobQuery{})
	kindIs(t, err, pool.KindNotFound, "no-such-pool")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
