package chart

import (
	"testing"
	"time"

	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// BenchmarkDigest draws the digest's chart of six pools; the baseline
// encodes a blank picture of the same size, the floor of any PNG drawn so.
func BenchmarkDigest(b *testing.B) {
	var pools []Pool
	for p := range 6 {
		pools = append(pools, Pool{Name: string(rune('a' + p)), Days: days(14, func(i int) Day {
			return Day{Cost: float64(10 + i + p), BusyHours: float64(i), IdleHours: float64(p + 1)}
		})})
	}
	b.Run("chart", func(b *testing.B) {
		for b.Loop() {
			if _, err := Digest("cost", "USD", pools); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("blank-baseline", func(b *testing.B) {
		for b.Loop() {
			img := vgimg.NewWith(vgimg.UseWH(px(Width), px(DigestHeight(6))), vgimg.UseDPI(dpi))
			draw.New(img)
			if _, err := encode(img); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAgents draws a pool's day, 144 stacked bars.
func BenchmarkAgents(b *testing.B) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var pts []AgentPoint
	for i := range 144 {
		pts = append(pts, AgentPoint{Time: from.Add(time.Duration(i) * Step), Busy: i % 9, Idle: 2, Other: i % 3})
	}
	for b.Loop() {
		if _, err := Agents("a", pts, from, from.Add(24*time.Hour), time.UTC); err != nil {
			b.Fatal(err)
		}
	}
}
