package cost

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/poolbot/poolbot/chart"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

// The digest is followed in the outbox by its chart: one "file" message in
// the digest's channel, a PNG of 14 days of each pool (the costliest
// first), with the chart in words as its text; and only once.
func TestDigestChart(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	cfg := Settings{DigestCron: "0 8 * * *", DigestChannel: "C-COST"}
	// Three days of data ending yesterday: a 2 idle, b 1 busy.
	from := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	oldClk := clock.NewFake(from)
	old := tracker(t, st, oldClk, cfg)
	for oldClk.Now().Before(from.Add(72 * time.Hour)) {
		old.Observe(ctx, oldClk.Now(), []Sample{{Pool: samplePool("a", 2, 0, 2)}, {Pool: samplePool("b", 0, 1, 0)}})
		oldClk.Advance(10 * time.Minute)
	}
	if err := old.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 5, 7, 0, 0, 0, time.UTC))
	tr := tracker(t, st, clk, cfg)
	clk.Advance(time.Hour)
	for range 2 {
		if err := tr.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := st.Pending(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	var file pool.OutboxMessage
	for _, m := range ms {
		ops = append(ops, m.Op+" "+m.Key)
		if m.Op == "file" {
			file = m
		}
	}
	if strings.Join(ops, ",") != "post digest/2026-01-05,file digest/2026-01-05/chart" {
		t.Fatalf("outbox: %v, want the digest then its chart, once", ops)
	}
	var f pool.OutboxFile
	if err := json.Unmarshal([]byte(file.Blocks), &f); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(f.Data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if img.Bounds().Dx() != chart.Width || img.Bounds().Dy() != chart.DigestHeight(2) {
		t.Errorf("picture %v, want two panels", img.Bounds())
	}
	if file.Channel != "C-COST" || f.Name != "digest-2026-01-04.png" || !strings.Contains(f.Title, "14 days to Sun 4 Jan 2026") {
		t.Errorf("file %q %q in %s", f.Name, f.Title, file.Channel)
	}
	// a: 2 agents × 24 h × 3 days × $0.50 = $72 (less the first sample's
	// 10 minutes, which accrue nothing), all idle; b: $36, all busy.
	if want := "a $71.83 (0% busy); b $35.92 (100% busy)"; !strings.HasSuffix(file.Text, want) || f.AltText != file.Text {
		t.Errorf("text %q, want it to end %q (and be the alt text)", file.Text, want)
	}
	pools, _ := tr.chartPools(ctx, time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC))
	if len(pools) != 2 || len(pools[0].Days) != ChartDays || pools[0].Days[0].Date != "2025-12-22" ||
		pools[0].Days[13].Date != "2026-01-04" || pools[0].Days[13].IdleHours < 47.9 || pools[0].Days[10].IdleHours != 0 {
		t.Errorf("chart data %+v", pools)
	}
}

// The tracker keeps a day of agent counts per pool, a point per 10
// minutes, and a new tracker on the same store has them.
func TestAgentsKeptForADay(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	tr := tracker(t, st, clk, Settings{})
	for i := range 30 * 60 / 2 { // 30 h of 2-minute cycles
		busy := 0
		if i%30 == 29 { // the last cycle of each hour
			busy = 3
		}
		tr.Observe(ctx, clk.Now(), []Sample{{Pool: pool.Pool{Name: "a", Counts: pool.Counts{Idle: 1, Busy: busy, Offline: 2}}}})
		clk.Advance(2 * time.Minute)
	}
	// Now 06:00 the next day: from 06:00 yesterday, 144 steps.
	pts := tr.Agents(ctx, "a", clk.Now().Add(-24*time.Hour))
	if len(pts) < 143 || len(pts) > 145 {
		t.Fatalf("%d points for the last day, want a step each", len(pts))
	}
	busy, idle, other := chart.AgentBars(pts, clk.Now().Add(-24*time.Hour), clk.Now())
	// The last step of each hour ended with 3 busy agents.
	if busy[5] != 3 || busy[4] != 0 || idle[4] != 1 || other[4] != 2 {
		t.Errorf("steps 4, 5: busy %v %v idle %v other %v", busy[4], busy[5], idle[4], other[4])
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A restart reads what was flushed.
	again := tracker(t, st, clk, Settings{})
	stored := again.Agents(ctx, "a", clk.Now().Add(-24*time.Hour))
	if len(stored) != len(pts) || stored[0].Time.Before(clk.Now().Add(-25*time.Hour)) {
		t.Fatalf("after a restart: %d points from %v, want %d within the day", len(stored), stored[0].Time, len(pts))
	}
}
