package home

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/pool"
)

// -home-html writes an operator's Home tab as HTML, for the README's
// screenshot: go test ./home -run TestHomeHTML -home-html ../docs/home-tab.html
var homeHTML = flag.String("home-html", "", "write an operator's Home tab, rendered as HTML, to this file")

// TestHomeHTML renders an operator's Home tab as simple HTML, as Slack
// would show it: each pool's figures and its buttons.
func TestHomeHTML(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Cost = weekCosts{} })
	r.sim.Advance(90 * time.Minute) // a working morning: agents busy
	ctx := context.Background()
	if err := r.store.PutAlert(ctx, pool.Alert{Key: "gpu-nightly/failed-nodes", Pool: "gpu-nightly", Condition: "failed-nodes",
		Severity: "critical", Firing: true, Summary: "2 VMs failed to provision"}); err != nil {
		t.Fatal(err)
	}
	v := r.h.View(ctx, commands.Request{UserID: "UO"})
	page := renderHTML(t, v.Blocks)
	for _, want := range []string{"linux-ci", "Up until…", "Skip next…", "Open in Azure DevOps", "2 VMs failed to provision", "▁"} {
		if !strings.Contains(page, html.EscapeString(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if *homeHTML != "" {
		if err := os.WriteFile(*homeHTML, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// weekCosts are two working weeks of a pool's cost: weekends cost little.
type weekCosts struct{}

func (weekCosts) Today(_ context.Context, name string) (float64, string, bool) {
	return 1.37 * float64(len(name)), "USD", true
}
func (weekCosts) DailyCosts(_ context.Context, name string, n int) []float64 {
	week := []float64{31, 34, 29, 36, 27, 4, 3}
	out := make([]float64, n)
	for i := range out {
		out[i] = week[(i+1)%7] * float64(len(name)) / 9
	}
	return out
}

var (
	mdLink = regexp.MustCompile(`&lt;(https?://[^|&]+)\|([^&]+)&gt;`)
	mdBold = regexp.MustCompile(`\*([^*\n]+)\*`)
	mdCode = regexp.MustCompile("`([^`]+)`")
	emojis = strings.NewReplacer(":warning:", `<span style="color:#e8a723">⚠</span>`,
		":red_circle:", `<span style="color:#e01e5a">●</span>`, ":mute:", `<span style="color:#616061">⊘</span>`)
	unslack = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")
)

// md renders Slack mrkdwn as HTML: bold, code, links, a few emoji.
func md(s string) string {
	s = html.EscapeString(unslack.Replace(s))
	s = mdLink.ReplaceAllString(s, `<a href="$1">$2</a>`)
	s = mdCode.ReplaceAllString(s, "<code>$1</code>")
	s = mdBold.ReplaceAllString(s, "<b>$1</b>")
	return strings.ReplaceAll(emojis.Replace(s), "\n", "<br>")
}

func renderHTML(t *testing.T, blocks slack.Blocks) string {
	t.Helper()
	// Through JSON and back, as Slack receives it.
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var bs slack.Blocks
	if err := json.Unmarshal(raw, &bs); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`<!doctype html><meta charset="utf-8"><style>
body{font:15px/1.45 "DejaVu Sans",Lato,sans-serif;color:#1d1c1d;margin:0;background:#fff;width:860px}
.tabs{border-bottom:1px solid #ddd;padding:14px 24px 0;font-weight:700}
.tabs span{display:inline-block;padding:0 0 10px;margin-right:22px;color:#616061}
.tabs span.on{color:#1d1c1d;border-bottom:2px solid #1264a3}
.view{padding:8px 24px 16px}
h1{font-size:20px;margin:14px 0 6px}
.ctx{color:#616061;font-size:12.5px;margin:4px 0}
.sec{margin:10px 0 6px}
.fields{display:grid;grid-template-columns:1fr 1fr 1fr;gap:6px 18px;margin-top:6px}
.btns{margin:8px 0 10px}
.btn{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:3px 11px;margin:0 6px 6px 0;font-weight:700;font-size:13px;color:#1d1c1d}
.primary{background:#007a5a;border-color:#007a5a;color:#fff}.danger{color:#e01e5a;border-color:#e01e5a}
.url{color:#1264a3}
hr{border:0;border-top:1px solid #e8e8e8;margin:10px 0}
code{font:14px "DejaVu Sans Mono",monospace;letter-spacing:1px;background:#f6f6f6;border:1px solid #e8e8e8;border-radius:3px;padding:0 3px;color:#1d1c1d}
a{color:#1264a3;text-decoration:none}
</style><div class="tabs"><span class="on">Home</span><span>Messages</span><span>About</span></div><div class="view">`)
	for _, blk := range bs.BlockSet {
		switch blk := blk.(type) {
		case *slack.HeaderBlock:
			fmt.Fprintf(&b, "<h1>%s</h1>", html.EscapeString(blk.Text.Text))
		case *slack.ContextBlock:
			for _, e := range blk.ContextElements.Elements {
				if tx, ok := e.(*slack.TextBlockObject); ok {
					fmt.Fprintf(&b, `<div class="ctx">%s</div>`, md(tx.Text))
				}
			}
		case *slack.DividerBlock:
			b.WriteString("<hr>")
		case *slack.SectionBlock:
			b.WriteString(`<div class="sec">`)
			if blk.Text != nil {
				b.WriteString(md(blk.Text.Text))
			}
			if len(blk.Fields) > 0 {
				b.WriteString(`<div class="fields">`)
				for _, f := range blk.Fields {
					fmt.Fprintf(&b, "<div>%s</div>", md(f.Text))
				}
				b.WriteString("</div>")
			}
			b.WriteString("</div>")
		case *slack.ActionBlock:
			b.WriteString(`<div class="btns">`)
			for _, e := range blk.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					class := "btn " + string(btn.Style)
					if btn.URL != "" {
						class += " url"
					}
					fmt.Fprintf(&b, `<span class="%s">%s</span>`, class, html.EscapeString(btn.Text.Text))
				}
			}
			b.WriteString("</div>")
		default:
			t.Errorf("the page cannot render a %T", blk)
		}
	}
	b.WriteString("</div>")
	return b.String()
}
