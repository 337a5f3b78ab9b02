package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"
)

type jobPage struct {
	status int
	code   string // typeKey of an error
	ids    []uint64
	open   int // requests without a finish time
	token  string
}

func (e *env) jobPage(t *testing.T, pool int, query string) jobPage {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.orgURL()+"/_apis/distributedtask/pools/"+strconv.Itoa(pool)+"/jobrequests?"+query, nil)
	req.SetBasicAuth("", "pat")
	resp, err := e.ado.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		TypeKey string `json:"typeKey"`
		Value   []struct {
			RequestID  uint64  `json:"requestId"`
			FinishTime *string `json:"finishTime"`
			Demands    []any   `json:"demands"`
		} `json:"value"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	p := jobPage{status: resp.StatusCode, code: body.TypeKey, token: resp.Header.Get("X-MS-ContinuationToken")}
	for _, v := range body.Value {
		p.ids = append(p.ids, v.RequestID)
		if v.FinishTime == nil {
			p.open++
		}
		if len(v.Demands) == 0 {
			t.Errorf("request %d without demands", v.RequestID)
		}
	}
	return p
}

// TestJobRequestPages: the paged listing holds queued, running and finished
// requests newest first, at most 200 an answer whatever $top says, the
// continuation token leading to the next page without gap or overlap and
// absent on the last; bad parameters and unknown pools are refused.
func TestJobRequestPages(t *testing.T) {
	e := newEnv(t, Options{Start: time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC), Seed: 4})
	var hist []HistoryJob
	for i := 0; i < 450; i++ {
		q := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 5 * time.Minute)
		hist = append(hist, HistoryJob{Queued: q, Assigned: q.Add(time.Minute), Finished: q.Add(9 * time.Minute)})
	}
	if err := e.sim.AddJobHistory("linux-ci", hist); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.AddJobHistory("linux-ci", []HistoryJob{{Queued: e.sim.Now(), Finished: e.sim.Now().Add(time.Hour)}}); err == nil {
		t.Error("a job finishing in the future was seeded")
	}
	e.sim.Advance(3 * time.Hour) // 09:00 in Paris: jobs queued and running

	var all []uint64
	open := 0
	tok := ""
	for calls := 0; ; calls++ {
		q := "$top=500"
		if tok != "" {
			q += "&continuationToken=" + tok
		}
		p := e.jobPage(t, 10, q)
		if p.status != 200 || len(p.ids) > 200 {
			t.Fatalf("page %d: status %d, %d requests", calls, p.status, len(p.ids))
		}
		all, open, tok = append(all, p.ids...), open+p.open, p.token
		if tok == "" {
			break
		}
		if len(p.ids) != 200 {
			t.Fatalf("page %d: %d requests and a token", calls, len(p.ids))
		}
	}
	for i := 1; i < len(all); i++ {
		if all[i] >= all[i-1] {
			t.Fatalf("not newest first without repeats: %d after %d", all[i], all[i-1])
		}
	}
	if len(all) < 450+10 || open == 0 {
		t.Errorf("%d requests (%d open), want the 450 seeded, the morning's and some open", len(all), open)
	}
	if p := e.jobPage(t, 10, "$top=7"); len(p.ids) != 7 || p.token == "" || p.ids[0] != all[0] {
		t.Errorf("$top=7: %+v", p)
	}
	for _, tc := range []struct {
		pool        int
		query, code string
		status      int
	}{
		{10, "$top=x", "ArgumentException", 400},
		{10, "continuationToken=abc", "InvalidContinuationTokenException", 400},
		{99, "$top=10", "TaskAgentPoolNotFoundException", 404},
	} {
		if p := e.jobPage(t, tc.pool, tc.query); p.status != tc.status || p.code != tc.code {
			t.Errorf("pool %d %s: %d %s, want %d %s", tc.pool, tc.query, p.status, p.code, tc.status, tc.code)
		}
	}
}

// TestManagedJobRequestPages: a Managed DevOps Pool's job requests page
// as an elastic pool's do, so its history (digest counts, waits, the
// autopilot) is read the same way.
func TestManagedJobRequestPages(t *testing.T) {
	e := newEnv(t, Options{Start: time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC), Seed: 4})
	e.sim.AddManagedPool(ManagedSpec{Name: "mdp", Max: 4, Standby: 1, JobsPerHour: 12})
	e.sim.Advance(16 * time.Hour) // the whole working day in Paris, and the evening
	ado := 100001
	if p := e.jobPage(t, ado, ""); p.status != 200 || len(p.ids) != 0 {
		t.Errorf("unpaged listing after hours: status %d, %d requests, want the open ones (none)", p.status, len(p.ids))
	}
	var all []uint64
	tok, calls := "", 0
	for ; ; calls++ {
		q := "$top=25"
		if tok != "" {
			q += "&continuationToken=" + tok
		}
		p := e.jobPage(t, ado, q)
		if p.status != 200 || len(p.ids) > 25 || p.open != 0 {
			t.Fatalf("page %d: status %d, %d requests, %d open", calls, p.status, len(p.ids), p.open)
		}
		all, tok = append(all, p.ids...), p.token
		if tok == "" {
			break
		}
	}
	for i := 1; i < len(all); i++ {
		if all[i] >= all[i-1] {
			t.Fatalf("not newest first without repeats: %d after %d", all[i], all[i-1])
		}
	}
	// 10 working hours at 12 an hour: about 120 jobs.
	if len(all) < 80 || len(all) > 160 || calls < 3 {
		t.Errorf("%d finished requests over %d pages, want about 120", len(all), calls+1)
	}
	if p := e.jobPage(t, ado, "continuationToken=abc"); p.status != 400 || p.code != "InvalidContinuationTokenException" {
		t.Errorf("bad token: %d %s", p.status, p.code)
	}
}
