package app

import (
	"testing"

	"github.com/slack-go/slack"
)

// The reply that tells of a change carries its marker on its first
// section, without changing the blocks it was given.
func TestMarkedReply(t *testing.T) {
	sec := slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "done", false, false), nil, nil)
	in := []slack.Block{sec, slack.NewDividerBlock()}
	out := marked(in, "poolbot-reply/r1")
	if out[0].ID() != "poolbot-reply/r1" || len(out) != 2 {
		t.Fatalf("marked: %+v", out)
	}
	if sec.BlockID != "" {
		t.Error("the given block was changed in place")
	}
	own := slack.NewSectionBlock(nil, nil, nil, slack.SectionBlockOptionBlockID("mine"))
	if got := marked([]slack.Block{own}, "poolbot-reply/r1"); got[0].ID() != "mine" {
		t.Errorf("a block's own id replaced: %q", got[0].ID())
	}
	if got := marked(nil, "x"); got != nil {
		t.Errorf("no blocks: %v", got)
	}
}
