package cost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/poolbot/poolbot/chart"
	"github.com/poolbot/poolbot/pool"
)

// ChartDays is how many days the digest's chart shows.
const ChartDays = 14

// DigestChart draws the digest's picture for day (YYYY-MM-DD): each pool's
// cost on each of the 14 days ending with day, split into busy and idle
// agent-hours, the costliest pools (over the 14 days) first. text says the
// same in words: the file's message and its fallback. false when there is
// nothing to draw.
func (t *Tracker) DigestChart(ctx context.Context, day string) (f pool.OutboxFile, text string, ok bool) {
	d0, err := time.ParseInLocation("2006-01-02", day, t.loc)
	if err != nil {
		return pool.OutboxFile{}, "", false
	}
	pools, cur := t.chartPools(ctx, d0)
	if len(pools) == 0 {
		return pool.OutboxFile{}, "", false
	}
	title := fmt.Sprintf("Agent pool cost per day, %d days to %s", ChartDays, d0.Format("Mon 2 Jan 2006"))
	if !chart.ByCost(pools) {
		title = fmt.Sprintf("Agent-hours per day, %d days to %s (no prices)", ChartDays, d0.Format("Mon 2 Jan 2006"))
	}
	png, err := chart.Digest(title, cur, pools)
	if err != nil {
		t.o.Logger.Warn("cost: digest chart not drawn", "day", day, "err", err)
		return pool.OutboxFile{}, "", false
	}
	text = title + ", busy and idle agent-hours stacked: " + chartWords(pools, cur)
	return pool.OutboxFile{Name: "digest-" + day + ".png", Title: title, AltText: text, Data: png}, text, true
}

// chartPools reads the 14 days of every pool with anything in them, the
// costliest first (by hours when nothing is priced).
func (t *Tracker) chartPools(ctx context.Context, d0 time.Time) ([]chart.Pool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.o.Settings.Currency
	byName := map[string]*chart.Pool{}
	var names []string
	for i := ChartDays - 1; i >= 0; i-- {
		date := d0.AddDate(0, 0, -i).Format("2006-01-02")
		for n := range t.day(ctx, date) {
			if byName[n] == nil {
				byName[n] = &chart.Pool{Name: n}
				names = append(names, n)
			}
		}
	}
	for n := range t.pools {
		if byName[n] == nil {
			byName[n] = &chart.Pool{Name: n}
			names = append(names, n)
		}
	}
	var out []chart.Pool
	for _, n := range names {
		p := byName[n]
		var any bool
		for i := ChartDays - 1; i >= 0; i-- {
			date := d0.AddDate(0, 0, -i).Format("2006-01-02")
			d := chart.Day{Date: date}
			if tot := t.day(ctx, date)[n]; tot != nil {
				d.IdleHours, d.BusyHours = tot.IdleHours, tot.BusyHours
			}
			if _, _, busy, _, ok := t.historyDay(ctx, n, date); ok {
				d.BusyHours = busy // as the digest's line counts it
			}
			c := t.dayCost(ctx, n, date)
			d.Cost = c.Value
			if c.Currency != "" {
				cur = c.Currency
			}
			any = any || d.Cost > 0 || d.IdleHours > 0 || d.BusyHours > 0
			p.Days = append(p.Days, d)
		}
		if any {
			out = append(out, *p)
		}
	}
	sum := func(p chart.Pool) (cost, hours float64) {
		for _, d := range p.Days {
			cost += d.Cost
			hours += d.IdleHours + d.BusyHours
		}
		return cost, hours
	}
	sort.Slice(out, func(i, j int) bool {
		ci, hi := sum(out[i])
		cj, hj := sum(out[j])
		if ci != cj {
			return ci > cj
		}
		if hi != hj {
			return hi > hj
		}
		return out[i].Name < out[j].Name
	})
	return out, cur
}

// chartWords is the chart in words: each pool's total and its busy share.
func chartWords(pools []chart.Pool, cur string) string {
	byCost := chart.ByCost(pools)
	var parts []string
	for i, p := range pools {
		if i == digestPools {
			parts = append(parts, fmt.Sprintf("and %d more", len(pools)-i))
			break
		}
		var total, busy, hours float64
		for _, d := range p.Days {
			total += d.Cost
			busy += d.BusyHours
			hours += d.BusyHours + d.IdleHours
		}
		share := 0.0
		if hours > 0 {
			share = 100 * busy / hours
		}
		amount := fmt.Sprintf("%.1f agent-hours", hours)
		if byCost {
			amount = Money(total, cur)
		}
		parts = append(parts, fmt.Sprintf("%s %s (%.0f%% busy)", p.Name, amount, share))
	}
	return strings.Join(parts, "; ")
}

// agentsKeep is how long each pool's agent counts are kept for
// `/pool status <pool> chart`.
const agentsKeep = 24 * time.Hour

func agentsKey(name string) string { return "cost/agents/" + name }

// recordAgents keeps the pool's counts at now, one point per chart step
// (the last seen in it), for a day. flush writes them with the day totals,
// so that the series survives a restart at a write per pool per flush.
// t.mu is held.
func (t *Tracker) recordAgents(ctx context.Context, now time.Time, name string, c pool.Counts) {
	pts := t.loadAgents(ctx, name)
	p := chart.AgentPoint{Time: now, Idle: c.Idle, Busy: c.Busy, Other: c.Total() - c.Idle - c.Busy}
	if n := len(pts); n > 0 && !pts[n-1].Time.Before(now.Truncate(chart.Step)) {
		pts[n-1] = p // the same step: the last seen counts
	} else {
		cut := 0
		for cut < len(pts) && now.Sub(pts[cut].Time) > agentsKeep {
			cut++
		}
		pts = append(pts[cut:], p)
	}
	t.agents[name] = pts
	t.agentsDirty[name] = true
}

// flushAgents writes the series that changed since the last flush. t.mu is
// held.
func (t *Tracker) flushAgents(ctx context.Context) error {
	var errs []error
	for name := range t.agentsDirty {
		b, err := json.Marshal(t.agents[name])
		if err == nil {
			err = t.o.Store.Put(ctx, agentsKey(name), string(b))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("save agent counts of %s: %w", name, err))
			continue
		}
		delete(t.agentsDirty, name)
	}
	return errors.Join(errs...)
}

// loadAgents returns the pool's kept points, read from the store the first
// time. t.mu is held.
func (t *Tracker) loadAgents(ctx context.Context, name string) []chart.AgentPoint {
	if pts, ok := t.agents[name]; ok {
		return pts
	}
	var pts []chart.AgentPoint
	v, err := t.o.Store.Get(ctx, agentsKey(name))
	switch {
	case err == nil:
		if err := json.Unmarshal([]byte(v), &pts); err != nil {
			t.o.Logger.Warn("cost: unreadable agent counts, starting afresh", "pool", name, "err", err)
			pts = nil
		}
	case !errors.Is(err, pool.ErrNotFound):
		t.o.Logger.Warn("cost: read agent counts", "pool", name, "err", err)
		return nil // not cached: tried again next time
	}
	t.agents[name] = pts
	return pts
}

// Agents returns the pool's agent counts since from, the oldest first: one
// point per 10 minutes in which the watcher saw the pool, for the last day.
func (t *Tracker) Agents(ctx context.Context, name string, from time.Time) []chart.AgentPoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []chart.AgentPoint
	for _, p := range t.loadAgents(ctx, name) {
		if !p.Time.Before(from) {
			out = append(out, p)
		}
	}
	return out
}
