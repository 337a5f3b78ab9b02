package console

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/slack-go/slack"
)

// RenderBlocks writes Block Kit blocks as plain text for a terminal:
// headers and sections as lines, fields two to a line, context in
// parentheses, buttons in brackets. Slack's mrkdwn marks are dropped.
func RenderBlocks(blocks []slack.Block) string {
	var b strings.Builder
	line := func(s string) {
		s = strings.TrimRight(s, " \n")
		if s == "" {
			return
		}
		b.WriteString(s)
		b.WriteByte('\n')
	}
	for _, bl := range blocks {
		switch v := bl.(type) {
		case *slack.HeaderBlock:
			line(strings.ToUpper(text(v.Text)))
		case *slack.SectionBlock:
			line(text(v.Text))
			for i := 0; i < len(v.Fields); i += 2 {
				l := padRight(text(v.Fields[i]), 28)
				if i+1 < len(v.Fields) {
					l += text(v.Fields[i+1])
				}
				line("  " + strings.ReplaceAll(l, "\n", " "))
			}
			if v.Accessory != nil && v.Accessory.ButtonElement != nil {
				line("  " + button(v.Accessory.ButtonElement))
			}
		case *slack.ContextBlock:
			var parts []string
			for _, e := range v.ContextElements.Elements {
				switch t := e.(type) {
				case *slack.TextBlockObject:
					parts = append(parts, text(t))
				case *slack.ImageBlockElement:
					parts = append(parts, t.AltText)
				}
			}
			if len(parts) > 0 {
				line("  (" + strings.Join(parts, " · ") + ")")
			}
		case *slack.ActionBlock:
			if v.Elements == nil {
				continue
			}
			var parts []string
			for _, e := range v.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					parts = append(parts, button(btn))
				}
			}
			if len(parts) > 0 {
				line("  " + strings.Join(parts, " "))
			}
		case *slack.DividerBlock:
			line("---")
		case *slack.ImageBlock:
			line("[image: " + v.AltText + "]")
		case *slack.MarkdownBlock:
			line(plain(v.Text))
		case *slack.RichTextBlock:
			line(richText(v))
		}
	}
	return b.String()
}

// RenderJSON renders blocks as Slack received them (a chat.postMessage
// body); fallback is used when there are none or they do not parse.
func RenderJSON(raw json.RawMessage, fallback string) string {
	if len(raw) == 0 || string(raw) == "null" {
		return plain(fallback) + "\n"
	}
	var bs slack.Blocks
	if err := json.Unmarshal(raw, &bs); err != nil || len(bs.BlockSet) == 0 {
		return plain(fallback) + "\n"
	}
	return RenderBlocks(bs.BlockSet)
}

func button(b *slack.ButtonBlockElement) string {
	label := text(b.Text)
	if b.URL != "" {
		return "[" + label + " → " + b.URL + "]"
	}
	return "[" + label + "]"
}

func text(t *slack.TextBlockObject) string {
	if t == nil {
		return ""
	}
	if t.Type == slack.MarkdownType {
		return plain(t.Text)
	}
	return t.Text
}

var (
	linkRe    = regexp.MustCompile(`<([^|>]+)\|([^>]+)>`)
	bareRe    = regexp.MustCompile(`<((?:https?|mailto):[^>]+)>`)
	mentionRe = regexp.MustCompile(`<[#@!]([^|>]+)(?:\|([^>]+))?>`)
	boldRe    = regexp.MustCompile(`\*([^*\n]+)\*`)
	italicRe  = regexp.MustCompile(`(^|\s)_([^_\n]+)_`)
	strikeRe  = regexp.MustCompile(`~([^~\n]+)~`)
	emojiRe   = regexp.MustCompile(`:[a-z0-9_+-]+:`)
)

// emoji are the Slack emoji codes poolbot's messages use.
var emoji = map[string]string{
	"red_circle": "🔴", "large_orange_circle": "🟠", "large_yellow_circle": "🟡", "large_green_circle": "🟢",
	"large_blue_circle": "🔵", "white_check_mark": "✅", "heavy_check_mark": "✔", "x": "❌", "warning": "⚠️",
	"alarm_clock": "⏰", "hourglass_flowing_sand": "⏳", "moneybag": "💰", "chart_with_upwards_trend": "📈",
	"information_source": "ℹ️", "no_entry": "⛔", "zzz": "💤", "sunrise": "🌅", "rotating_light": "🚨",
	"mute": "🔇", "bell": "🔔", "gear": "⚙️", "arrow_up": "⬆️", "arrow_down": "⬇️",
	"pushpin": "📌", "calendar": "📅", "hammer_and_wrench": "🛠️", "lock": "🔒", "pause_button": "⏸️",
}

// plain turns Slack mrkdwn into plain text: links as "label (url)", user
// and channel mentions as their names, emphasis marks dropped.
func plain(s string) string {
	s = linkRe.ReplaceAllStringFunc(s, func(m string) string {
		p := linkRe.FindStringSubmatch(m)
		if strings.HasPrefix(p[1], "#") || strings.HasPrefix(p[1], "@") || strings.HasPrefix(p[1], "!") {
			return p[2]
		}
		return p[2] + " (" + p[1] + ")"
	})
	s = bareRe.ReplaceAllString(s, "$1")
	s = mentionRe.ReplaceAllStringFunc(s, func(m string) string {
		p := mentionRe.FindStringSubmatch(m)
		if p[2] != "" {
			return p[2]
		}
		return p[1]
	})
	s = boldRe.ReplaceAllString(s, "$1")
	s = italicRe.ReplaceAllString(s, "$1$2")
	s = strikeRe.ReplaceAllString(s, "$1")
	s = emojiRe.ReplaceAllStringFunc(s, func(m string) string {
		if e, ok := emoji[m[1:len(m)-1]]; ok {
			return e
		}
		return m
	})
	s = strings.ReplaceAll(s, "```", "")
	s = strings.ReplaceAll(s, "&lt;", "<")
	s = strings.ReplaceAll(s, "&gt;", ">")
	s = strings.ReplaceAll(s, "&amp;", "&")
	return s
}

func padRight(s string, n int) string {
	if w := len([]rune(s)); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s + "  "
}

func richText(v *slack.RichTextBlock) string {
	var b strings.Builder
	for _, el := range v.Elements {
		sec, ok := el.(*slack.RichTextSection)
		if !ok {
			continue
		}
		for _, e := range sec.Elements {
			switch t := e.(type) {
			case *slack.RichTextSectionTextElement:
				b.WriteString(t.Text)
			case *slack.RichTextSectionLinkElement:
				b.WriteString(t.URL)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
