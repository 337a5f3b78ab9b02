// Package chart draws poolbot's pictures as PNG with gonum/plot: the
// digest's cost per pool per day, split into idle and busy agent-hours, and
// a pool's agents over a day. Callers share the bytes with Slack's files
// upload v2 and always send a text beside them.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The colours of the parts of a bar, the same in every picture.
var (
	BusyColor  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	IdleColor  = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // orange
	OtherColor = color.RGBA{R: 0xa8, G: 0xa8, B: 0xc0, A: 0xff} // slate grey
)

// dpi is the resolution pictures are drawn at: sizes below are in pixels.
const dpi = 96

// Width is every picture's width in pixels.
const Width = 800

// ErrEmpty is returned when there is nothing to draw.
var ErrEmpty = errors.New("chart: nothing to draw")

// Day is one pool's figures for one day.
type Day struct {
	Date      string  // YYYY-MM-DD
	Cost      float64 // the day's one figure; 0 when unpriced
	IdleHours float64
	BusyHours float64
}

// Pool is one pool's days, the oldest first.
type Pool struct {
	Name string
	Days []Day
}

// Bars returns the busy and idle parts of each day's bar, in the chart's
// unit: the day's cost split in proportion to its busy and idle
// agent-hours when byCost, else the agent-hours themselves. A day with cost
// but no hours counts as all idle: its agents were never seen busy.
func Bars(p Pool, byCost bool) (busy, idle []float64) {
	busy = make([]float64, len(p.Days))
	idle = make([]float64, len(p.Days))
	for i, d := range p.Days {
		if !byCost {
			busy[i], idle[i] = d.BusyHours, d.IdleHours
			continue
		}
		h := d.BusyHours + d.IdleHours
		if h <= 0 {
			idle[i] = d.Cost
			continue
		}
		busy[i] = d.Cost * d.BusyHours / h
		idle[i] = d.Cost - busy[i]
	}
	return busy, idle
}

// ByCost reports whether the digest chart of pools is drawn in money: when
// any day of any pool has a cost; otherwise in agent-hours.
func ByCost(pools []Pool) bool {
	for _, p := range pools {
		for _, d := range p.Days {
			if d.Cost > 0 {
				return true
			}
		}
	}
	return false
}

// digestPanels bounds the digest chart: the costliest pools get a panel
// each, in the order given; the rest are summed into one.
const digestPanels = 6

// header is the digest chart's strip above the panels: title and legend.
const header = 40

// DigestHeight is the digest chart's height in pixels for n pools.
func DigestHeight(n int) int {
	return header + 20 + 170*min(max(n, 1), digestPanels)
}

// Digest draws each pool's cost per day as bars, busy agent-hours' share at
// the bottom and idle's above, one panel per pool (the costliest first, as
// given; past six the rest are summed into "others"), on one scale so that
// pools compare. currency labels the axis ("" when unpriced).
func Digest(title, currency string, pools []Pool) ([]byte, error) {
	if len(pools) == 0 || len(pools[0].Days) == 0 {
		return nil, ErrEmpty
	}
	pools = foldRest(pools)
	byCost := ByCost(pools)
	unit := "agent-hours"
	if byCost {
		unit = "cost"
		if currency != "" {
			unit += " (" + currency + ")"
		}
	}
	var top float64
	for _, p := range pools {
		busy, idle := Bars(p, byCost)
		for i := range busy {
			top = math.Max(top, busy[i]+idle[i])
		}
	}
	if top <= 0 {
		top = 1
	}
	rows := make([][]*plot.Plot, len(pools))
	// The legend goes in the header, beside the title, clear of the bars.
	legend := plot.NewLegend()
	legend.Top = true
	for r, p := range pools {
		busy, idle := Bars(p, byCost)
		pl := plot.New()
		pl.Title.Text = p.Name
		pl.Y.Label.Text = unit
		pl.Y.Min, pl.Y.Max = 0, top*1.05
		pl.X.Min, pl.X.Max = -0.6, float64(len(p.Days))-0.4
		pl.BackgroundColor = color.White
		b, err := stacked(vg.Points(22), busy, idle)
		if err != nil {
			return nil, err
		}
		pl.Add(plotter.NewGrid())
		for _, bc := range b {
			pl.Add(bc)
		}
		var ticks plot.ConstantTicks
		for i, d := range p.Days {
			label := ""
			if t, err := time.Parse("2006-01-02", d.Date); err == nil && (i%2 == len(p.Days)%2 || i == len(p.Days)-1) {
				label = t.Format("Mon 2")
			}
			ticks = append(ticks, plot.Tick{Value: float64(i), Label: label})
		}
		pl.X.Tick.Marker = ticks
		if r == 0 {
			legend.Add("busy", b[0])
			legend.Add("idle", b[1])
		}
		rows[r] = []*plot.Plot{pl}
	}
	h := DigestHeight(len(pools))
	img := vgimg.NewWith(vgimg.UseWH(px(Width), px(h)), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	// The title across the top, then the panels.
	ts := plot.New().Title.TextStyle
	ts.Font.Size = vg.Points(13)
	ts.XAlign, ts.YAlign = draw.XCenter, draw.YTop
	dc.FillText(ts, vg.Point{X: px(Width) / 2, Y: px(h) - vg.Points(6)}, title)
	legend.Draw(draw.Crop(dc, 0, -px(6), px(h-header), -px(2)))
	body := draw.Crop(dc, 0, 0, 0, -px(header))
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadY: vg.Points(4), PadX: vg.Points(4), PadTop: vg.Points(2), PadBottom: vg.Points(2)}
	canvases := plot.Align(rows, tiles, body)
	for r := range rows {
		rows[r][0].Draw(canvases[r][0])
	}
	return encode(img)
}

// foldRest keeps the first digestPanels-1 pools and sums the rest into one
// when there are more than digestPanels.
func foldRest(pools []Pool) []Pool {
	if len(pools) <= digestPanels {
		return pools
	}
	keep := append([]Pool(nil), pools[:digestPanels-1]...)
	rest := Pool{Name: fmt.Sprintf("%d other pools", len(pools)-(digestPanels-1))}
	rest.Days = append([]Day(nil), pools[digestPanels-1].Days...)
	for _, p := range pools[digestPanels:] {
		for i := range rest.Days {
			if i < len(p.Days) {
				rest.Days[i].Cost += p.Days[i].Cost
				rest.Days[i].IdleHours += p.Days[i].IdleHours
				rest.Days[i].BusyHours += p.Days[i].BusyHours
			}
		}
	}
	return append(keep, rest)
}

// stacked returns bar charts of the given parts, each stacked on the one
// before: the first at the bottom, coloured busy, idle, other.
func stacked(width vg.Length, parts ...[]float64) ([]*plotter.BarChart, error) {
	colors := []color.Color{BusyColor, IdleColor, OtherColor}
	var out []*plotter.BarChart
	for i, vs := range parts {
		b, err := plotter.NewBarChart(plotter.Values(vs), width)
		if err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
		b.Color = colors[i%len(colors)]
		b.LineStyle.Width = 0
		if i > 0 {
			b.StackOn(out[i-1])
		}
		out = append(out, b)
	}
	return out, nil
}

// AgentPoint is a pool's agents at one instant.
type AgentPoint struct {
	Time              time.Time
	Idle, Busy, Other int // Other: starting, offline, failed or going
}

// AgentsHeight is the agents chart's height in pixels.
const AgentsHeight = 320

// Step is the agents chart's bucket: one bar per 10 minutes.
const Step = 10 * time.Minute

// AgentBars returns the busy, idle and other agents of each Step from from
// to to (exclusive): the last point within each step, zero where none.
func AgentBars(points []AgentPoint, from, to time.Time) (busy, idle, other []float64) {
	n := int(to.Sub(from) / Step)
	if n <= 0 {
		return nil, nil, nil
	}
	busy, idle, other = make([]float64, n), make([]float64, n), make([]float64, n)
	seen := make([]time.Time, n)
	for _, p := range points {
		if p.Time.Before(from) || !p.Time.Before(to) {
			continue
		}
		i := int(p.Time.Sub(from) / Step)
		if i >= n || p.Time.Before(seen[i]) {
			continue
		}
		seen[i] = p.Time
		busy[i], idle[i], other[i] = float64(p.Busy), float64(p.Idle), float64(p.Other)
	}
	return busy, idle, other
}

// Agents draws a pool's agents from from to to (a day, say) as stacked
// bars every 10 minutes: busy at the bottom, idle, then the others; hours
// are labelled in loc.
func Agents(title string, points []AgentPoint, from, to time.Time, loc *time.Location) ([]byte, error) {
	if loc == nil {
		loc = time.UTC
	}
	busy, idle, other := AgentBars(points, from, to)
	if len(busy) == 0 {
		return nil, ErrEmpty
	}
	top := 1.0
	for i := range busy {
		top = math.Max(top, busy[i]+idle[i]+other[i])
	}
	pl := plot.New()
	pl.Title.Text = title
	pl.Y.Label.Text = "agents"
	// Headroom above the highest bar for the legend.
	pl.Y.Min, pl.Y.Max = 0, math.Ceil(top*1.4)
	pl.X.Min, pl.X.Max = -0.5, float64(len(busy))-0.5
	pl.BackgroundColor = color.White
	// Bars fill their step: the plot's width over the steps, in points.
	w := vg.Length(float64(px(Width)-px(90)) / float64(len(busy)))
	bs, err := stacked(max(w, vg.Points(0.5)), busy, idle, other)
	if err != nil {
		return nil, err
	}
	pl.Add(plotter.NewGrid())
	for _, b := range bs {
		pl.Add(b)
	}
	var ticks plot.ConstantTicks
	for i := range busy {
		at := from.Add(time.Duration(i) * Step).In(loc)
		if at.Minute() < int(Step/time.Minute) && at.Hour()%3 == 0 {
			ticks = append(ticks, plot.Tick{Value: float64(i), Label: at.Format("15:04")})
		}
	}
	pl.X.Tick.Marker = ticks
	pl.X.Label.Text = loc.String()
	pl.Legend.Add("busy", bs[0])
	pl.Legend.Add("idle", bs[1])
	pl.Legend.Add("starting, offline or failed", bs[2])
	pl.Legend.Top, pl.Legend.Left = true, true
	img := vgimg.NewWith(vgimg.UseWH(px(Width), px(AgentsHeight)), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	pl.Draw(draw.Crop(dc, 0, 0, 0, -px(6))) // a margin above the title
	return encode(img)
}

// px is n pixels at the pictures' resolution.
func px(n int) vg.Length { return vg.Length(n) * vg.Inch / dpi }

func encode(img *vgimg.Canvas) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}
