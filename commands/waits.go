package commands

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/poolbot/poolbot/pool"
)

func waitsCommands() []*command {
	return []*command{{
		name:  "waits",
		usage: "waits <pool> [days=N]",
		help: "Shows how long the pool's jobs waited for an agent (p50 and p95 of assign − queue) over the last N days " +
			"(default 7), and its jobs by hour of the week as a heat map, from the job history poolbot keeps.",
		role: RoleViewer,
		keys: []string{"days"},
		min:  1, max: 1, pool: onePool,
		run: runWaits,
	}}
}

// FileUploader shares a file in a channel. slack-go's *slack.Client is one:
// its UploadFileContext is Slack's files upload v2 (files.getUploadURLExternal,
// the upload, files.completeUploadExternal). Safe for concurrent use.
type FileUploader interface {
	UploadFileContext(ctx context.Context, params slack.UploadFileParameters) (*slack.FileSummary, error)
}

const (
	defaultWaitDays = 7
	maxWaitDays     = 366
)

// WaitStats are a pool's jobs over a span: counts, waits, and jobs by hour
// of the week.
type WaitStats struct {
	Jobs       int
	Assigned   int // jobs that got an agent
	NeverRan   int // finished without an agent (canceled while waiting)
	P50, P95   time.Duration
	Max        time.Duration
	Busy       time.Duration // the time jobs ran, summed
	ByHour     [7][24]int    // [Monday…Sunday][hour], by queue time in the location
	Location   *time.Location
	From, To   time.Time
	Definition map[string]int // jobs per pipeline
}

// Waits computes the stats of jobs (queued in [from, to)) in loc.
func Waits(jobs []pool.Job, from, to time.Time, loc *time.Location) WaitStats {
	if loc == nil {
		loc = time.UTC
	}
	s := WaitStats{Location: loc, From: from, To: to, Definition: map[string]int{}}
	var waits []time.Duration
	for _, j := range jobs {
		if j.Queued.Before(from) || !j.Queued.Before(to) {
			continue
		}
		s.Jobs++
		s.Definition[j.Definition]++
		if d, ok := j.Wait(); ok {
			s.Assigned++
			waits = append(waits, d)
			s.Max = max(s.Max, d)
		} else {
			s.NeverRan++
		}
		s.Busy += j.Ran()
		q := j.Queued.In(loc)
		s.ByHour[(int(q.Weekday())+6)%7][q.Hour()]++
	}
	s.P50 = pool.Percentile(waits, 50)
	s.P95 = pool.Percentile(waits, 95)
	return s
}

var weekdays = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

func runWaits(ctx context.Context, c *call) error {
	name := c.pools[0]
	days := defaultWaitDays
	if v, ok := c.args.Get("days"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxWaitDays {
			return usagef("days must be a whole number from 1 to %d, not %q", maxWaitDays, v)
		}
		days = n
	}
	loc := c.h.o.Location
	if loc == nil {
		loc = time.UTC
	}
	now := c.now()
	from := now.Add(-time.Duration(days) * 24 * time.Hour)
	jobs, err := c.h.o.Store.Jobs(ctx, pool.JobsQuery{Pool: name, From: from, To: now})
	if err != nil {
		return fmt.Errorf("read the job history of %s: %w", name, err)
	}
	s := Waits(jobs, from, now, loc)
	span := "the last day"
	if days > 1 {
		span = fmt.Sprintf("the last %d days", days)
	}
	if s.Jobs == 0 {
		text := fmt.Sprintf("No jobs of %s in %s in poolbot's job history (it reads Azure DevOps' every few minutes).", name, span)
		return c.respond(ctx, Reply{Text: text, Blocks: textBlocks(esc(text))})
	}
	summary := waitSummary(name, span, s)
	grid := waitGrid(s)
	text := fmt.Sprintf("*%s*\n```\n%s```", esc(summary), grid)
	if top := topPipelines(s.Definition, 3); top != "" {
		text += "\nPipelines: " + esc(top)
	}
	if c.h.o.Files != nil && c.req.ChannelID != "" {
		png, err := WaitHeatMap(fmt.Sprintf("%s: jobs by hour of the week, %s (%s)", name, span, loc), s)
		if err == nil {
			_, err = c.h.o.Files.UploadFileContext(ctx, slack.UploadFileParameters{
				Reader: bytes.NewReader(png), FileSize: len(png), Filename: "waits-" + name + ".png",
				Title: "Jobs of " + name + " by hour of the week", AltTxt: summary,
				InitialComment: summary, Channel: c.req.ChannelID,
			})
		}
		if err != nil {
			c.h.o.Logger.Warn("waits: heat map not shared", "pool", name, "err", err)
			text += "\n_(the heat map could not be shared: " + esc(err.Error()) + ")_"
		} else {
			text += "\n_The heat map is in the channel._"
		}
	}
	return c.respond(ctx, Reply{Text: fallback(text), Blocks: textBlocks(text)})
}

// waitSummary is the one-line answer: counts and wait percentiles.
func waitSummary(name, span string, s WaitStats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s (%s): %s", name, span, s.Location, plural(s.Jobs, "job"))
	if s.Assigned > 0 {
		fmt.Fprintf(&b, "; wait for an agent p50 %s, p95 %s, longest %s", short(s.P50), short(s.P95), short(s.Max))
	}
	if s.NeverRan > 0 {
		fmt.Fprintf(&b, "; %d canceled before an agent came", s.NeverRan)
	}
	fmt.Fprintf(&b, "; %.1f agent-hours busy", s.Busy.Hours())
	return b.String()
}

// topPipelines names the n pipelines with most jobs, with their counts.
func topPipelines(byDef map[string]int, n int) string {
	names := make([]string, 0, len(byDef))
	for d := range byDef {
		names = append(names, d)
	}
	sort.Slice(names, func(i, j int) bool {
		if byDef[names[i]] != byDef[names[j]] {
			return byDef[names[i]] > byDef[names[j]]
		}
		return names[i] < names[j]
	})
	var parts []string
	for i, d := range names {
		if i == n {
			parts = append(parts, fmt.Sprintf("%d more", len(names)-n))
			break
		}
		if d == "" {
			d = "(no pipeline name)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", d, byDef[names[i]]))
	}
	return strings.Join(parts, ", ")
}

// waitGrid is the text heat map: a row of bars per weekday, 00–23 h.
func waitGrid(s WaitStats) string {
	peak := 0
	pd, ph := 0, 0
	for d := range s.ByHour {
		for h, n := range s.ByHour[d] {
			if n > peak {
				peak, pd, ph = n, d, h
			}
		}
	}
	var b strings.Builder
	b.WriteString("     0     6     12    18   h  jobs\n")
	for d := range s.ByHour {
		total := 0
		row := make([]rune, 24)
		for h, n := range s.ByHour[d] {
			total += n
			row[h] = level(n, peak)
		}
		fmt.Fprintf(&b, "%s  %s  %d\n", weekdays[d], string(row), total)
	}
	fmt.Fprintf(&b, "busiest: %s %02d:00–%02d:00, %s\n", weekdays[pd], ph, (ph+1)%24, plural(peak, "job"))
	return b.String()
}

var levels = []rune(" ▁▂▃▄▅▆▇█")

func level(n, peak int) rune {
	if n <= 0 || peak <= 0 {
		return '·'
	}
	k := 1 + (n*(len(levels)-2)+peak-1)/peak
	return levels[min(k, len(levels)-1)]
}

func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// reversed is a palette in the opposite order.
type reversed struct{ palette.Palette }

func (r reversed) Colors() []color.Color {
	c := r.Palette.Colors()
	out := make([]color.Color, len(c))
	for i := range c {
		out[i] = c[len(c)-1-i]
	}
	return out
}

// hourGrid is WaitStats.ByHour as a plotter.GridXYZ: columns are hours,
// rows weekdays with Monday on top.
type hourGrid struct{ s *WaitStats }

func (g hourGrid) Dims() (c, r int)   { return 24, 7 }
func (g hourGrid) Z(c, r int) float64 { return float64(g.s.ByHour[6-r][c]) }
func (g hourGrid) X(c int) float64    { return float64(c) }
func (g hourGrid) Y(r int) float64    { return float64(r) }

// WaitHeatMap renders the jobs by hour of the week as a PNG heat map.
func WaitHeatMap(title string, s WaitStats) ([]byte, error) {
	peak := 0
	for d := range s.ByHour {
		for _, n := range s.ByHour[d] {
			peak = max(peak, n)
		}
	}
	// Reversed: light for few jobs, dark red for many.
	pal := reversed{palette.Heat(max(2, min(peak+1, 12)), 1)}
	h := plotter.NewHeatMap(hourGrid{&s}, pal)
	h.Min, h.Max = 0, float64(max(peak, 1))
	h.Rasterized = false

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "hour"
	p.Add(h)
	var xt, yt plot.ConstantTicks
	for hr := 0; hr < 24; hr += 3 {
		xt = append(xt, plot.Tick{Value: float64(hr), Label: fmt.Sprintf("%02d", hr)})
	}
	for r := 0; r < 7; r++ {
		yt = append(yt, plot.Tick{Value: float64(r), Label: weekdays[6-r]})
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = xt, yt
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Min, p.X.Max = -0.5, 23.5
	p.Y.Min, p.Y.Max = -0.5, 6.5
	p.BackgroundColor = color.White

	// A legend of the palette: the lowest and highest count.
	l := plot.NewLegend()
	thumbs := plotter.PaletteThumbnailers(pal)
	for i := len(thumbs) - 1; i >= 0; i-- {
		label := ""
		switch i {
		case len(thumbs) - 1:
			label = fmt.Sprintf("%d jobs", peak)
		case 0:
			label = "0"
		}
		l.Add(label, thumbs[i])
	}
	l.Top = true

	img := vgimg.New(18*vg.Centimeter, 8*vg.Centimeter)
	dc := draw.New(img)
	r := l.Rectangle(dc)
	l.YOffs = -p.Title.TextStyle.FontExtents().Height
	l.Draw(dc)
	dc = draw.Crop(dc, 0, -(r.Max.X-r.Min.X)-vg.Millimeter, 0, 0)
	p.Draw(dc)
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render the heat map: %w", err)
	}
	return buf.Bytes(), nil
}
