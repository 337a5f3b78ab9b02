package commands

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/chart"
)

// AgentCounts is the series of a pool's agent counts the watcher's cost
// tracker keeps: a point per 10 minutes, for the last day. cost.Tracker is
// one. Safe for concurrent use.
type AgentCounts interface {
	Agents(ctx context.Context, pool string, from time.Time) []chart.AgentPoint
}

// maxChartSpan is as far back as the tracker keeps counts.
const maxChartSpan = 24 * time.Hour

// chartSpan reads status's chart=<span>: from 1h to 24h.
func chartSpan(c *call) (time.Duration, bool, error) {
	v, ok := c.args.Get("chart")
	if !ok {
		return 0, false, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Hour || d > maxChartSpan || d%chart.Step != 0 {
		return 0, false, usagef("chart takes a span from 1h to 24h, as 24h or 6h, not %q", v)
	}
	return d, true, nil
}

// shareAgentsChart draws the pool's agents over span and shares the picture
// in the request's channel; it returns what the reply says of it, the
// counts in words when it cannot be shared, so the reply stands alone.
func (c *call) shareAgentsChart(ctx context.Context, name string, span time.Duration, now time.Time) string {
	if c.h.o.Agents == nil {
		return "_No agent counts are kept here, so there is no chart._"
	}
	from := now.Add(-span).Truncate(chart.Step).Add(chart.Step)
	to := from.Add(span)
	pts := c.h.o.Agents.Agents(ctx, name, from)
	if len(pts) == 0 {
		return esc(fmt.Sprintf("No agent counts of %s in the last %s yet: poolbot keeps one every 10 minutes the watcher sees the pool.", name, spanWord(span)))
	}
	words := agentsWords(name, span, pts)
	if c.h.o.Files == nil || c.req.ChannelID == "" {
		return esc(words)
	}
	loc := c.readerZone(ctx, name)
	title := fmt.Sprintf("%s: agents over the last %s (%s)", name, spanWord(span), loc)
	png, err := chart.Agents(title, pts, from, to, loc)
	if err == nil {
		_, err = c.h.o.Files.UploadFileContext(ctx, slack.UploadFileParameters{
			Reader: bytes.NewReader(png), FileSize: len(png), Filename: "agents-" + name + ".png",
			Title: "Agents of " + name + " over the last " + spanWord(span), AltTxt: words,
			InitialComment: words, Channel: c.req.ChannelID,
		})
	}
	if err != nil {
		c.h.o.Logger.Warn("status: agents chart not shared", "pool", name, "err", err)
		return esc(words) + "\n_(the chart could not be shared: " + esc(err.Error()) + ")_"
	}
	return esc(words) + "\n_The chart is in the channel._"
}

// agentsWords is the chart in words: peaks and averages of busy and idle.
func agentsWords(name string, span time.Duration, pts []chart.AgentPoint) string {
	var peakBusy, peakIdle, sumBusy, sumIdle, sumOther int
	for _, p := range pts {
		peakBusy, peakIdle = max(peakBusy, p.Busy), max(peakIdle, p.Idle)
		sumBusy += p.Busy
		sumIdle += p.Idle
		sumOther += p.Other
	}
	n := float64(len(pts))
	return fmt.Sprintf("Agents of %s over the last %s: busy %.1f on average (peak %d), idle %.1f (peak %d), others %.1f; %d samples.",
		name, spanWord(span), float64(sumBusy)/n, peakBusy, float64(sumIdle)/n, peakIdle, float64(sumOther)/n, len(pts))
}

func spanWord(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", d/time.Hour)
	}
	return d.String()
}
