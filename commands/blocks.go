package commands

import (
	"strings"

	"github.com/slack-go/slack"
)

// Slack refuses a message with more than 50 blocks or a section text over
// 3000 characters.
const (
	maxBlocks      = 50
	maxSectionText = 3000
)

func mrkdwn(s string) *slack.TextBlockObject {
	if len(s) > maxSectionText {
		s = s[:maxSectionText-1] + "…"
	}
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func section(text string, fields ...string) *slack.SectionBlock {
	var fs []*slack.TextBlockObject
	for _, f := range fields {
		if len(fs) == 10 { // Slack's limit
			break
		}
		fs = append(fs, mrkdwn(f))
	}
	var t *slack.TextBlockObject
	if text != "" {
		t = mrkdwn(text)
	}
	return slack.NewSectionBlock(t, fs, nil)
}

func contextBlock(text string) *slack.ContextBlock {
	return slack.NewContextBlock("", mrkdwn(text))
}

// textBlocks is a reply's text as one section.
func textBlocks(text string) []slack.Block {
	return []slack.Block{section(text)}
}

// esc escapes the three characters Slack's mrkdwn gives meaning to.
var esc = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
