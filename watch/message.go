package watch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackmsg"
)

// maxNodeButtons is how many failed nodes get reimage and delete buttons.
const maxNodeButtons = 2

var severityIcon = map[string]string{
	"critical": ":red_circle:",
	"warning":  ":large_orange_circle:",
	"info":     ":large_blue_circle:",
}

// render returns the plain-text fallback and the Block Kit JSON of an
// alert's message: firing with its buttons, or resolved without them.
func (w *Watcher) render(a pool.Alert, p pool.Pool, nodes []pool.Node) (text, blocks string) {
	sev := strings.ToUpper(a.Severity)
	var head, ctx string
	if a.Firing {
		icon := severityIcon[a.Severity]
		if icon == "" {
			icon = ":warning:"
		}
		text = slackmsg.Sprintf("[%s] %s: %s — %s", sev, a.Pool, a.Condition, a.Summary)
		head = slackmsg.Sprintf("%s *%s* · `%s` · %s\n%s", slackmsg.Mrkdwn(icon), a.Pool, a.Condition, sev, a.Summary)
		ctx = fmt.Sprintf("Firing since %s · updated %s · incident %d", clockTime(a.StartedAt), clockTime(a.UpdatedAt), a.Incident)
	} else {
		text = slackmsg.Sprintf("[RESOLVED] %s: %s — %s", a.Pool, a.Condition, a.Summary)
		head = slackmsg.Sprintf(":white_check_mark: *%s* · `%s` · RESOLVED\n~%s~", a.Pool, a.Condition, a.Summary)
		ctx = fmt.Sprintf("Fired %s – %s (%s) · incident %d", clockTime(a.StartedAt), clockTime(a.ResolvedAt),
			lasted(a.ResolvedAt.Sub(a.StartedAt)), a.Incident)
	}
	bs := []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, head, false, false), nil, nil, slack.SectionBlockOptionBlockID("alert")),
		slack.NewContextBlock("alert-context", slack.NewTextBlockObject(slack.MarkdownType, ctx, false, false)),
	}
	if a.Firing {
		mute := slack.NewButtonBlockElement("run",
			slackmsg.Command{Name: "mute", Args: []string{a.Pool, a.Condition}, Opts: map[string]string{"for": "1h"}}.Value(),
			slack.NewTextBlockObject(slack.PlainTextType, "Mute 1h", false, false))
		els := []slack.BlockElement{mute}
		if w.o.PoolURL != nil {
			if u := w.o.PoolURL(p); u != "" {
				els = append(els, slack.NewButtonBlockElement("open-pool", "", slack.NewTextBlockObject(slack.PlainTextType, "Open in Azure DevOps", false, false)).WithURL(u))
			}
		}
		bs = append(bs, slack.NewActionBlock("alert-actions", els...))
		// Slack wants action ids unique within a block, and the commands
		// handler runs every "run" button: one block per node button.
		for i, n := range nodes {
			if i == maxNodeButtons {
				break
			}
			label := n.Name
			if label == "" {
				label = fmt.Sprintf("node %d", n.ID)
			}
			id := strconv.Itoa(n.ID)
			re := slack.NewButtonBlockElement("run", slackmsg.Command{Name: "node", Args: []string{"reimage", a.Pool, id}}.Value(),
				slack.NewTextBlockObject(slack.PlainTextType, "Reimage "+trim(label, 60), false, false))
			del := slack.NewButtonBlockElement("run", slackmsg.Command{Name: "node", Args: []string{"delete", a.Pool, id}}.Value(),
				slack.NewTextBlockObject(slack.PlainTextType, "Delete "+trim(label, 60), false, false)).
				WithStyle(slack.StyleDanger).
				WithConfirm(slack.NewConfirmationBlockObject(
					slack.NewTextBlockObject(slack.PlainTextType, "Delete this agent?", false, false),
					slack.NewTextBlockObject(slack.PlainTextType, trim(fmt.Sprintf("Delete %s of %s and its VM. A job running on it fails.", label, a.Pool), 300), false, false),
					slack.NewTextBlockObject(slack.PlainTextType, "Delete", false, false),
					slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false)).WithStyle(slack.StyleDanger))
			bs = append(bs,
				slack.NewActionBlock(fmt.Sprintf("node-%d-reimage", n.ID), re),
				slack.NewActionBlock(fmt.Sprintf("node-%d-delete", n.ID), del))
		}
	}
	b, err := json.Marshal(slack.Blocks{BlockSet: bs})
	if err != nil {
		return text, ""
	}
	return text, string(b)
}

func clockTime(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format("Jan 2 15:04 UTC")
}

func lasted(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func trim(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
