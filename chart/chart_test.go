package chart

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"testing"
	"time"
)

// go test ./chart -run TestDigestPNG -write-docs writes the README's picture.
var writeDocs = flag.Bool("write-docs", false, "write docs/digest-chart.png")

func days(n int, f func(i int) Day) []Day {
	d0 := time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)
	out := make([]Day, n)
	for i := range out {
		out[i] = f(i)
		out[i].Date = d0.AddDate(0, 0, i).Format("2006-01-02")
	}
	return out
}

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return img
}

func same(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	return uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(b>>8) == want.B
}

// runs scans column x from the bottom up and returns the bar colours met,
// each once, in order, with their lengths in pixels.
func runs(img image.Image, x int) (order []string, length map[string]int) {
	length = map[string]int{}
	b := img.Bounds()
	for y := b.Max.Y - 1; y >= b.Min.Y; y-- {
		name := ""
		switch c := img.At(x, y); {
		case same(c, BusyColor):
			name = "busy"
		case same(c, IdleColor):
			name = "idle"
		case same(c, OtherColor):
			name = "other"
		}
		if name == "" {
			continue
		}
		if length[name] == 0 {
			order = append(order, name)
		}
		length[name]++
	}
	return order, length
}

func TestBars(t *testing.T) {
	p := Pool{Name: "p", Days: []Day{
		{Cost: 10, BusyHours: 3, IdleHours: 1},
		{Cost: 4, BusyHours: 0, IdleHours: 0},
		{Cost: 0, BusyHours: 2, IdleHours: 6},
	}}
	tests := []struct {
		name       string
		byCost     bool
		busy, idle []float64
	}{
		{"cost split by hours", true, []float64{7.5, 0, 0}, []float64{2.5, 4, 0}},
		{"hours", false, []float64{3, 0, 2}, []float64{1, 0, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			busy, idle := Bars(p, tt.byCost)
			if fmt.Sprint(busy) != fmt.Sprint(tt.busy) || fmt.Sprint(idle) != fmt.Sprint(tt.idle) {
				t.Fatalf("busy %v idle %v, want %v %v", busy, idle, tt.busy, tt.idle)
			}
		})
	}
	if ByCost([]Pool{{Days: []Day{{BusyHours: 3}}}}) {
		t.Error("a chart without costs is drawn in money")
	}
}

// The digest chart is a PNG of the stated size; in every bar busy is below
// idle; the tallest bar is the costliest day's and an empty day has none.
func TestDigestPNG(t *testing.T) {
	pools := []Pool{
		{Name: "linux-ci", Days: days(14, func(i int) Day {
			if i == 5 {
				return Day{} // nothing that day
			}
			c := 20 + float64(i%7)*3
			if i == 9 {
				c = 60
			}
			return Day{Cost: c, BusyHours: c / 4, IdleHours: c / 8}
		})},
		{Name: "windows-build", Days: days(14, func(i int) Day {
			return Day{Cost: 12, BusyHours: 2, IdleHours: 10}
		})},
		{Name: "gpu-nightly", Days: days(14, func(i int) Day {
			if i%7 >= 5 {
				return Day{Cost: 2, IdleHours: 1}
			}
			return Day{Cost: 30, BusyHours: 6, IdleHours: 1}
		})},
	}
	b, err := Digest("Agent pool cost, 14 days to Tue 1 Dec 2026", "USD", pools)
	if err != nil {
		t.Fatal(err)
	}
	if *writeDocs {
		if err := os.WriteFile("../docs/digest-chart.png", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := decode(t, b)
	if got := img.Bounds().Size(); got != (image.Point{Width, DigestHeight(3)}) {
		t.Fatalf("size %v, want %dx%d", got, Width, DigestHeight(3))
	}
	if len(b) > 150<<10 {
		t.Errorf("%d bytes: too big for a chat picture", len(b))
	}
	// The first panel: columns with bar colours, grouped into bars.
	top := img.Bounds().Min.Y
	panel := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(0, top+header, Width, top+header+170))
	var bars []map[string]int
	inBar := false
	for x := 0; x < Width; x++ {
		order, length := runs(panel, x)
		if length["busy"] < 3 && length["idle"] < 3 {
			inBar = false
			continue
		}
		if len(order) != 2 || order[0] != "busy" || order[1] != "idle" {
			t.Fatalf("column %d: bar parts %v from the bottom, want busy then idle", x, order)
		}
		if !inBar {
			bars = append(bars, length)
			inBar = true
		}
	}
	if len(bars) != 13 {
		t.Fatalf("%d bars in the first panel, want 13 (14 days, one empty)", len(bars))
	}
	tallest := 0
	for i, l := range bars {
		if l["busy"]+l["idle"] > bars[tallest]["busy"]+bars[tallest]["idle"] {
			tallest = i
		}
		// busy is twice idle on every day of linux-ci.
		if r := float64(l["busy"]) / float64(l["idle"]); r < 1.6 || r > 2.5 {
			t.Errorf("bar %d: busy %d px, idle %d px, want about 2:1", i, l["busy"], l["idle"])
		}
	}
	if tallest != 8 { // day 9, after the empty day 5
		t.Errorf("tallest bar is %d, want 8", tallest)
	}
}

func TestDigestFoldsRest(t *testing.T) {
	var pools []Pool
	for i := range 9 {
		pools = append(pools, Pool{Name: fmt.Sprint("p", i), Days: days(2, func(int) Day { return Day{Cost: 1, BusyHours: 1} })})
	}
	got := foldRest(pools)
	if len(got) != digestPanels || got[digestPanels-1].Name != "4 other pools" || got[digestPanels-1].Days[1].Cost != 4 {
		t.Fatalf("folded to %d panels, last %+v", len(got), got[len(got)-1])
	}
	b, err := Digest("t", "", pools)
	if err != nil {
		t.Fatal(err)
	}
	if h := decode(t, b).Bounds().Dy(); h != DigestHeight(9) || h != DigestHeight(digestPanels) {
		t.Fatalf("height %d", h)
	}
	if _, err := Digest("t", "", nil); err != ErrEmpty {
		t.Fatalf("no pools: %v, want ErrEmpty", err)
	}
}

// The agents chart: one step per 10 minutes, the last sample of a step
// counts, busy below idle below the others.
func TestAgents(t *testing.T) {
	from := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	pts := []AgentPoint{
		{Time: from.Add(-time.Minute), Busy: 50},                         // before: ignored
		{Time: from.Add(time.Minute), Busy: 1, Idle: 1},                  // step 0, replaced
		{Time: from.Add(9 * time.Minute), Busy: 2, Idle: 3, Other: 1},    // step 0
		{Time: from.Add(12 * time.Hour), Busy: 6, Idle: 1, Other: 1},     // step 72
		{Time: from.Add(12*time.Hour + 5*time.Minute), Busy: 4, Idle: 2}, // step 72, last
		{Time: to, Busy: 50}, // after: ignored
		{Time: from.Add(23*time.Hour + 55*time.Minute), Idle: 2, Other: 2}, // step 143
	}
	busy, idle, other := AgentBars(pts, from, to)
	if len(busy) != 144 {
		t.Fatalf("%d steps, want 144", len(busy))
	}
	for _, c := range []struct {
		i       int
		b, d, o float64
	}{{0, 2, 3, 1}, {1, 0, 0, 0}, {72, 4, 2, 0}, {143, 0, 2, 2}} {
		if busy[c.i] != c.b || idle[c.i] != c.d || other[c.i] != c.o {
			t.Errorf("step %d: %v/%v/%v, want %v/%v/%v", c.i, busy[c.i], idle[c.i], other[c.i], c.b, c.d, c.o)
		}
	}
	var all []AgentPoint
	for i := range 144 {
		all = append(all, AgentPoint{Time: from.Add(time.Duration(i) * Step), Busy: 2, Idle: 1, Other: 1})
	}
	b, err := Agents("linux-ci: agents over 24 h", all, from, to, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	img := decode(t, b)
	if got := img.Bounds().Size(); got != (image.Point{Width, AgentsHeight}) {
		t.Fatalf("size %v", got)
	}
	order, length := runs(img, Width/2)
	if fmt.Sprint(order) != "[busy idle other]" {
		t.Fatalf("parts from the bottom %v, want busy, idle, other", order)
	}
	if r := float64(length["busy"]) / float64(length["idle"]); r < 1.6 || r > 2.5 {
		t.Errorf("busy %d px, idle %d px: want 2:1", length["busy"], length["idle"])
	}
	if _, err := Agents("t", nil, from, from, nil); err != ErrEmpty {
		t.Fatalf("empty span: %v", err)
	}
}

// go test ./chart -run TestAgentsPNG -write-docs writes the README's picture
// of a pool's day.
func TestAgentsPNG(t *testing.T) {
	from := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var pts []AgentPoint
	for i := range 144 {
		h := i / 6
		p := AgentPoint{Time: from.Add(time.Duration(i) * Step), Other: i % 5 / 4}
		switch {
		case h < 10:
			p.Busy, p.Idle = 2+i%7, 1+i%3
		case h < 13:
			p.Idle = 2
		default:
			p.Idle = 1
		}
		pts = append(pts, p)
	}
	b, err := Agents("linux-ci: agents over the last 24 h (UTC)", pts, from, from.Add(24*time.Hour), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if *writeDocs {
		if err := os.WriteFile("../docs/agents-chart.png", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(b) > 150<<10 || decode(t, b).Bounds().Dy() != AgentsHeight {
		t.Errorf("%d bytes", len(b))
	}
}
