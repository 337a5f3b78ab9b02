package cost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackmsg"
)

// digestLookback is how far back a missed digest instant is still sent
// (after a restart): a day and a little.
const digestLookback = 26 * time.Hour

// digestPools is how many pools the digest lists by name; the rest are summed.
const digestPools = 20

// Tick does the tracker's periodic work: it writes the day totals, asks Cost
// Management when due, and sends the daily digest when its instant has come.
func (t *Tracker) Tick(ctx context.Context) error {
	now := t.o.Clock.Now()
	var errs []error
	t.mu.Lock()
	if now.Sub(t.lastFlush) >= flushEvery || len(t.dirty) > 1 {
		if err := t.flush(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	var ids []string
	if t.o.Management != nil {
		for _, pc := range t.pools {
			if pc.setID != "" {
				ids = append(ids, pc.setID)
			}
		}
	}
	t.mu.Unlock()
	if t.o.Management != nil {
		if _, err := t.o.Management.Refresh(ctx, ids, t.loc); err != nil {
			errs = append(errs, err)
		}
	}
	if err := t.digestIfDue(ctx, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// DigestDue returns the latest digest instant at or before now, within the
// lookback, or false when there is none (or no digest is configured).
func (t *Tracker) DigestDue(now time.Time) (time.Time, bool, error) {
	if t.o.Settings.DigestCron == "" {
		return time.Time{}, false, nil
	}
	sched, err := cron.ParseStandard(t.o.Settings.DigestCron)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("digest cron %q: %w", t.o.Settings.DigestCron, err)
	}
	var last time.Time
	// cron computes in the location of the time it is given.
	for n := sched.Next(now.Add(-digestLookback).In(t.loc)); !n.IsZero() && !n.After(now); n = sched.Next(n) {
		last = n
	}
	return last, !last.IsZero(), nil
}

// digestIfDue sends the digest of the day before the latest digest instant,
// once: the last day sent is kept in the store, and a claim keeps two
// replicas from both sending it.
func (t *Tracker) digestIfDue(ctx context.Context, now time.Time) error {
	if t.o.Settings.DigestChannel == "" {
		return nil
	}
	at, ok, err := t.DigestDue(now)
	if err != nil || !ok {
		return err
	}
	date := at.In(t.loc).Format("2006-01-02")
	last, err := t.o.Store.Get(ctx, "digest/last")
	if err != nil && !errors.Is(err, pool.ErrNotFound) {
		return fmt.Errorf("read last digest: %w", err)
	}
	if last >= date {
		return nil
	}
	if last == "" && at.Before(t.started) {
		// A first start catches up no digest from before it ran.
		return nil
	}
	day := at.In(t.loc).AddDate(0, 0, -1).Format("2006-01-02")
	key := "digest/" + date
	claimed, err := t.o.Store.Claim(ctx, key, t.o.Owner)
	if err != nil {
		return fmt.Errorf("claim digest %s: %w", date, err)
	}
	if claimed && t.hasData(ctx, day) {
		text, blocks := t.Digest(ctx, day)
		if _, err := t.o.Store.Enqueue(ctx, pool.OutboxMessage{Channel: t.o.Settings.DigestChannel, Key: key, Op: "post",
			Text: text, Blocks: blocks, Created: now}); err != nil {
			return fmt.Errorf("queue digest %s: %w", date, err)
		}
		// The chart follows the text, as a file shared once (the sender's
		// Op "file"); the text above stands alone if Slack refuses it.
		if f, caption, ok := t.DigestChart(ctx, day); ok {
			b, err := json.Marshal(f)
			if err == nil {
				_, err = t.o.Store.Enqueue(ctx, pool.OutboxMessage{Channel: t.o.Settings.DigestChannel, Key: key + "/chart",
					Op: "file", Text: caption, Blocks: string(b), Created: now})
			}
			if err != nil {
				t.o.Logger.Error("cost: digest chart not queued", "day", day, "err", err)
			}
		}
	}
	if err := t.o.Store.Put(ctx, "digest/last", date); err != nil {
		return fmt.Errorf("record digest %s: %w", date, err)
	}
	return nil
}

// hasData reports whether anything was tracked or billed on day: a digest
// of a day before poolbot ran would be all zeros.
func (t *Tracker) hasData(ctx context.Context, day string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.day(ctx, day)) > 0 {
		return true
	}
	for name := range t.pools {
		if c := t.dayCost(ctx, name, day); c.Actual || c.HasSoFar {
			return true
		}
	}
	return false
}

// DigestLine is one pool's line of the digest.
type DigestLine struct {
	Pool      string
	Cost      float64
	Currency  string
	Actual    bool // from Cost Management, not estimated
	Priced    bool
	SoFar     float64 // Cost Management's figure when not final (part of the day)
	HasSoFar  bool
	IdleHours float64
	BusyHours float64
	Jobs      int
	Saved     float64
	Week      []float64 // the 7 days ending with the day
	// From the job history (history.go) when it holds the day: Jobs and
	// BusyHours are then counted from it, not from polls.
	FromHistory bool
	Assigned    int           // of Jobs, those that got an agent
	WaitP95     time.Duration // their p95 wait for one
}

// DigestLines returns every tracked pool's figures for day (YYYY-MM-DD),
// the costliest first.
func (t *Tracker) DigestLines(ctx context.Context, day string) []DigestLine {
	t.mu.Lock()
	defer t.mu.Unlock()
	d0, err := time.ParseInLocation("2006-01-02", day, t.loc)
	if err != nil {
		return nil
	}
	names := map[string]bool{}
	for n := range t.pools {
		names[n] = true
	}
	for n := range t.day(ctx, day) {
		names[n] = true
	}
	var out []DigestLine
	for n := range names {
		l := DigestLine{Pool: n}
		if d := t.day(ctx, day)[n]; d != nil {
			l.IdleHours, l.BusyHours, l.Jobs = d.IdleHours, d.BusyHours, d.Jobs
			l.Saved = d.SavedHours * d.Price
		}
		if jobs, assigned, busy, p95, ok := t.historyDay(ctx, n, day); ok {
			l.Jobs, l.Assigned, l.BusyHours, l.WaitP95, l.FromHistory = jobs, assigned, busy, p95, true
		}
		c := t.dayCost(ctx, n, day)
		l.Cost, l.Currency, l.Actual, l.Priced, l.SoFar, l.HasSoFar = c.Value, c.Currency, c.Actual, c.Priced, c.SoFar, c.HasSoFar
		for i := 6; i >= 0; i-- {
			l.Week = append(l.Week, t.dayCost(ctx, n, d0.AddDate(0, 0, -i).Format("2006-01-02")).Value)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cost != out[j].Cost {
			return out[i].Cost > out[j].Cost
		}
		return out[i].Pool < out[j].Pool
	})
	return out
}

// Digest renders the digest of day: a plain-text fallback and Block Kit JSON.
func (t *Tracker) Digest(ctx context.Context, day string) (text, blocks string) {
	lines := t.DigestLines(ctx, day)
	title := "Agent pool cost for " + day
	if d, err := time.Parse("2006-01-02", day); err == nil {
		title = "Agent pool cost for " + d.Format("Mon 2 Jan 2006")
	}
	var total, saved, idle, busy float64
	var jobs int
	cur := t.o.Settings.Currency
	for _, l := range lines {
		total += l.Cost
		saved += l.Saved
		idle += l.IdleHours
		busy += l.BusyHours
		jobs += l.Jobs
		if l.Currency != "" {
			cur = l.Currency
		}
	}
	summary := fmt.Sprintf("%d pools: %s in all, %.1f idle and %.1f busy agent-hours, %d jobs; schedules saved %s",
		len(lines), Money(total, cur), idle, busy, jobs, Money(saved, cur))
	var tb strings.Builder
	tb.WriteString(title + "\n" + summary + "\n")
	bs := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, title, false, false)),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, summary, false, false), nil, nil),
	}
	var rest DigestLine
	restN := 0
	for i, l := range lines {
		if i >= digestPools {
			rest.Cost += l.Cost
			restN++
			continue
		}
		line := FormatLine(l)
		tb.WriteString(line + "\n")
		bs = append(bs, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, line, false, false), nil, nil))
	}
	if restN > 0 {
		more := fmt.Sprintf("and %d more pools costing %s", restN, Money(rest.Cost, cur))
		tb.WriteString(more + "\n")
		bs = append(bs, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, more, false, false)))
	}
	bs = append(bs, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
		"est. = instance-hours × the SKU's pay-as-you-go price, as the budget alerts count; figures without it are Azure Cost Management's, final a day after their (UTC) day ends. Sparklines: the last 7 days; the chart below: 14 days.", false, false)))
	b, err := json.Marshal(slack.Blocks{BlockSet: bs})
	if err != nil {
		return tb.String(), ""
	}
	return tb.String(), string(b)
}

// FormatLine renders one pool's digest line.
func FormatLine(l DigestLine) string {
	cost := "no price"
	if l.Priced {
		cost = Money(l.Cost, l.Currency)
		if !l.Actual {
			cost += " est."
		}
	}
	if l.HasSoFar && !l.Actual {
		cost += fmt.Sprintf(" (Cost Management so far: %s)", Money(l.SoFar, l.Currency))
	}
	s := slackmsg.Sprintf("`%s` %s %s · idle %.1f h · busy %.1f h · %d jobs", Sparkline(l.Week), l.Pool, cost, l.IdleHours, l.BusyHours, l.Jobs)
	switch {
	case l.FromHistory && l.Assigned > 0:
		s += " · p95 wait " + l.WaitP95.Round(time.Second).String()
	case l.FromHistory:
		s += " · none got an agent"
	}
	if l.Saved > 0 {
		s += " · schedules saved " + Money(l.Saved, l.Currency)
	}
	return s
}

var bars = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values as a row of bars scaled to their maximum.
func Sparkline(values []float64) string {
	var max float64
	for _, v := range values {
		if v > max {
			max = v
		}
	}
	r := make([]rune, len(values))
	for i, v := range values {
		switch {
		case max <= 0 || v <= 0 || v != v:
			r[i] = bars[0]
		default:
			k := int(v / max * float64(len(bars)-1))
			if k >= len(bars) {
				k = len(bars) - 1
			}
			if k < 0 {
				k = 0
			}
			r[i] = bars[k]
		}
	}
	return string(r)
}
