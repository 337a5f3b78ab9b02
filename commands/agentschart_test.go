package commands

import (
	"bytes"
	"context"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/chart"
	"github.com/poolbot/poolbot/slackstub"
)

// agentsFake is the tracker's series: points for one pool.
type agentsFake struct {
	pool string
	pts  []chart.AgentPoint
	from time.Time // the last from asked for
}

func (f *agentsFake) Agents(_ context.Context, name string, from time.Time) []chart.AgentPoint {
	f.from = from
	if name != f.pool {
		return nil
	}
	var out []chart.AgentPoint
	for _, p := range f.pts {
		if !p.Time.Before(from) {
			out = append(out, p)
		}
	}
	return out
}

// `status <pool> chart=24h` shares a PNG of the pool's agents in the
// channel, with the counts in words as its message and in the reply; bad
// spans are refused with the usage line and share nothing.
func TestStatusChart(t *testing.T) {
	stub := slackstub.New()
	t.Cleanup(stub.Close)
	api := slack.New("xoxb-test", slack.OptionAPIURL(stub.APIURL()))
	fake := &agentsFake{pool: "linux-ci"}
	s := newMemStack(t, func(o *Options) { o.Files, o.Agents = api, fake })
	now := s.clk.Now()
	for i := range 144 {
		fake.pts = append(fake.pts, chart.AgentPoint{Time: now.Add(-time.Duration(i) * chart.Step), Busy: i % 4, Idle: 2, Other: 1})
	}

	rep := s.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: "status linux-ci chart=24h"}).last()
	for _, want := range []string{"linux-ci", "Agents of linux-ci over the last 24 h: busy 1.5 on average (peak 3), idle 2.0 (peak 2)", "chart is in the channel"} {
		if !strings.Contains(rep.Text, want) {
			t.Errorf("reply lacks %q:\n%s", want, rep.Text)
		}
	}
	if got := now.Sub(fake.from); got > 24*time.Hour || got < 24*time.Hour-chart.Step {
		t.Errorf("asked from %v before now, want the last 24 h", got)
	}
	files := stub.Files()
	if len(files) != 1 {
		t.Fatalf("%d files, want 1", len(files))
	}
	img, err := png.Decode(bytes.NewReader(files[0].Data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != chart.Width || b.Dy() != chart.AgentsHeight || files[0].Channel != "C-ops" ||
		files[0].Name != "agents-linux-ci.png" || !strings.Contains(files[0].Comment, "busy 1.5 on average") {
		t.Errorf("file %s in %s %v, comment %q", files[0].Name, files[0].Channel, img.Bounds(), files[0].Comment)
	}

	for _, tc := range []struct{ text, want string }{
		{"status linux-ci chart=25h", "chart takes a span from 1h to 24h"},
		{"status linux-ci chart=30m", "chart takes a span from 1h to 24h"},
		{"status linux-ci chart=day", "chart takes a span"},
		{"status linux-ci chart=1h5m", "chart takes a span"},
	} {
		rep := s.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: tc.text}).last()
		if !strings.Contains(rep.Text, tc.want) || !strings.Contains(rep.Text, "status &lt;pool&gt; [chart=24h]") {
			t.Errorf("%q: %q, want %q and the usage", tc.text, rep.Text, tc.want)
		}
	}
	// No counts yet: said so, nothing shared; no chart asked: none.
	rep = s.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: "status windows-ci chart=6h"}).last()
	if !strings.Contains(rep.Text, "No agent counts of windows-ci in the last 6 h yet") {
		t.Errorf("no counts: %q", rep.Text)
	}
	s.run(Request{UserID: "U-viewer", ChannelID: "C-ops", Text: "status linux-ci"})
	if n := len(stub.Files()); n != 1 {
		t.Errorf("%d files after bad spans, no counts and a plain status, want 1", n)
	}
}
