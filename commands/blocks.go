package commands

import (
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/slackmsg"
)

// Slack refuses a message with more than 50 blocks or a section text over
// 3000 characters.
const (
	maxBlocks      = 50
	maxSectionText = 3000
)

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, cut(s, maxSectionText), false, false)
}

// cut shortens mrkdwn to at most n bytes, never inside a rune or an escape
// such as &lt;.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for !utf8.ValidString(s[max(0, len(s)-utf8.UTFMax):]) {
		s = s[:len(s)-1]
	}
	if amp := strings.LastIndexByte(s, '&'); amp >= 0 && !strings.Contains(s[amp:], ";") {
		s = s[:amp]
	}
	return s + "…"
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

// esc escapes text poolbot did not write for a message: see slackmsg.
var esc = slackmsg.Escape

// sayf formats a message, escaping every argument but a slackmsg.Mrkdwn.
var sayf = slackmsg.Sprintf

// say is a reply of mrkdwn text built with esc or sayf: the blocks show it,
// the fallback drops its emphasis and keeps its escapes.
func say(text string) Reply {
	return Reply{Text: fallback(text), Blocks: textBlocks(text)}
}

// announce is say in the channel.
func announce(text string) Reply {
	r := say(text)
	r.InChannel = true
	return r
}
