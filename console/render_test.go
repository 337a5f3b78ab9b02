package console

import (
	"encoding/json"
	"testing"

	"github.com/slack-go/slack"
)

func TestRenderBlocks(t *testing.T) {
	md := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	pt := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}
	tests := []struct {
		name   string
		blocks []slack.Block
		want   string
	}{
		{"section with mrkdwn", []slack.Block{slack.NewSectionBlock(md("*linux-ci* is _up_: see <https://dev.azure.com/x|the pool>"), nil, nil)},
			"linux-ci is up: see the pool (https://dev.azure.com/x)\n"},
		{"header, fields and context", []slack.Block{
			slack.NewHeaderBlock(pt("Pools")),
			slack.NewSectionBlock(nil, []*slack.TextBlockObject{md("*standby* 2"), md("*max* 10"), md("idle 1")}, nil),
			slack.NewContextBlock("", md("by <@U0ALICE>"), md("3 min ago")),
		}, "POOLS\n  standby 2                   max 10\n  idle 1\n  (by U0ALICE · 3 min ago)\n"},
		{"buttons and divider", []slack.Block{
			slack.NewDividerBlock(),
			slack.NewActionBlock("", slack.NewButtonBlockElement("mute", "x", pt("Mute 1h")),
				&slack.ButtonBlockElement{Type: slack.METButton, Text: pt("Open"), URL: "http://example/p"}),
		}, "---\n  [Mute 1h] [Open → http://example/p]\n"},
		{"channel mention and entities", []slack.Block{slack.NewSectionBlock(md("posted to <#C0POOLBOT|poolbot-demo> &lt;3 &amp; ~old~"), nil, nil)},
			"posted to poolbot-demo <3 & old\n"},
		{"nothing", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RenderBlocks(tt.blocks); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			// The same blocks as Slack receives them render the same.
			raw, err := json.Marshal(tt.blocks)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if len(tt.blocks) == 0 {
				want = "fallback\n"
			}
			if got := RenderJSON(raw, "fallback"); got != want {
				t.Errorf("from JSON got\n%q\nwant\n%q", got, want)
			}
		})
	}
}
