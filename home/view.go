package home

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/cost"
	"github.com/poolbot/poolbot/pool"
)

// Action ids of the Home tab's buttons; each value is a pool's name.
const (
	ActUp      = "home.up"      // up <pool>
	ActHold    = "home.hold"    // a form: up <pool> until=HH:MM
	ActDown    = "home.down"    // down <pool>
	ActStandby = "home.standby" // a form: standby <pool> N
	ActMute    = "home.mute"    // a form: mute <pool> [condition] for=D
	ActSkip    = "home.skip"    // a form: skip <pool> next
	ActCreate  = "home.create"  // a form: create <name> …
	ActOpen    = "home.open"    // a link to Azure DevOps; nothing to do
)

const (
	// maxBlocks is Slack's limit for a view.
	maxBlocks = 100
	// blocksPerPool is a pool's section, its buttons or link, a divider.
	blocksPerPool = 3
	// nodeReads is how many pools' nodes are read at once.
	nodeReads = 8
	// sparkDays is how many days of cost the sparkline draws.
	sparkDays = 14
)

// View builds who's Home tab: every pool they may see, with buttons for
// what they may do to it.
func (h *Home) View(ctx context.Context, who commands.Request) slack.HomeTabViewRequest {
	now := h.o.Clock.Now()
	blocks := []slack.Block{slack.NewHeaderBlock(plain("Agent pools"))}
	top := h.o.Roles.RoleFor(who, "")
	if top < commands.RoleViewer {
		blocks = append(blocks, section("You have no role in poolbot yet, so there are no pools to show. "+
			"Ask an admin to grant you one."))
		return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
	}
	// The pool list alone, then the nodes of the pools the tab has room
	// for: with hundreds of pools a publish costs tens of Azure DevOps
	// calls, not one per pool.
	pools, err := h.o.Service.List(ctx, pool.ListOptions{})
	if err != nil {
		blocks = append(blocks, section(fmt.Sprintf(":warning: Azure DevOps did not answer (%s). Open this tab again in a minute.",
			esc(err.Error()))))
		return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
	}
	alerts := h.firing(ctx)
	mutes := h.mutes(ctx, now)
	var shown []pool.Pool
	for _, p := range pools {
		if h.o.Roles.RoleFor(who, p.Name) >= commands.RoleViewer {
			shown = append(shown, p)
		}
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("%s you may see · your role: %s · as of %s · every button runs the `/pool` command it names",
		plural(len(shown), "pool"), top, now.UTC().Format("Mon 2 Jan 15:04 MST")))))
	if top >= commands.RoleAdmin && len(h.o.Templates) > 0 {
		blocks = append(blocks, slack.NewActionBlock("home.admin",
			slack.NewButtonBlockElement(ActCreate, "", plain("Create a pool…"))))
	}
	blocks = append(blocks, slack.NewDividerBlock())
	room := min(len(shown), (maxBlocks-len(blocks)-1)/blocksPerPool)
	unknown := h.countNodes(ctx, shown[:room])
	for i, p := range shown {
		if i == room {
			blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("and %d more: see them with `/pool list`",
				len(shown)-i))))
			break
		}
		pb := h.poolBlocks(ctx, who, p, unknown[p.Name], alerts[p.Name], mutes[p.Name], now)
		if len(blocks)+len(pb)+1 > maxBlocks {
			blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("and %d more: see them with `/pool list`",
				len(shown)-i))))
			break
		}
		blocks = append(blocks, pb...)
	}
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}

// poolBlocks is one pool on the Home tab: a section with its figures, its
// buttons (or a link, for a viewer) and a divider.
func (h *Home) poolBlocks(ctx context.Context, who commands.Request, p pool.Pool, noNodes bool, alerts []pool.Alert, muted []pool.Mute, now time.Time) []slack.Block {
	n := p.Counts
	agents := fmt.Sprintf("%d idle · %d busy · %d offline · %d failed", n.Idle, n.Busy, n.Offline, n.Failed)
	if n.Starting > 0 {
		agents += fmt.Sprintf(" · %d starting", n.Starting)
	}
	if noNodes {
		agents = "unknown: Azure DevOps did not answer"
	}
	fields := []string{
		"*Agents*\n" + agents,
		fmt.Sprintf("*Standby / max*\n%d / %d", p.Standby, p.Max),
	}
	var next []pool.Change
	if h.o.Scheduler != nil {
		next, _ = h.o.Scheduler.Next(ctx, p.Name, 1)
	}
	if h.o.Cost != nil {
		today := "—"
		if v, cur, ok := h.o.Cost.Today(ctx, p.Name); ok {
			today = "≈ " + cost.Money(v, cur)
		}
		fields = append(fields, "*Today*\n"+today)
		fields = append(fields, fmt.Sprintf("*Cost, %d days*\n`%s`", sparkDays, cost.Sparkline(h.o.Cost.DailyCosts(ctx, p.Name, sparkDays))))
	}
	nextText := "no schedule"
	if len(next) > 0 {
		nextText = esc(changeLine(next[0], now))
	}
	fields = append(fields, "*Next scheduled change*\n"+nextText)
	fields = append(fields, "*Alerts*\n"+alertText(alerts, muted, now))

	title := fmt.Sprintf("*%s* · %s", esc(p.Name), stateWord(p))
	if p.ScaleSet != nil && !p.ScaleSet.Image.IsZero() {
		title += " · " + esc(p.ScaleSet.Image.Short())
	}
	out := []slack.Block{section(title, fields...)}
	out[0].(*slack.SectionBlock).BlockID = "pool." + p.Name

	url := ""
	if h.o.PoolURL != nil {
		url = h.o.PoolURL(p)
	}
	if h.o.Roles.RoleFor(who, p.Name) >= commands.RoleOperator {
		btn := func(id, label string) *slack.ButtonBlockElement {
			return slack.NewButtonBlockElement(id, p.Name, plain(label))
		}
		var els []slack.BlockElement
		if h.knowsDaytime(ctx, p.Name) {
			// Up needs settings to return to; without them it would only
			// answer with its usage line.
			els = append(els, btn(ActUp, "Up").WithStyle(slack.StylePrimary))
		}
		if len(next) > 0 {
			els = append(els, btn(ActHold, "Up until…"))
		}
		els = append(els,
			btn(ActDown, "Down").WithStyle(slack.StyleDanger).WithConfirm(slack.NewConfirmationBlockObject(
				plain("Scale down?"), mrkdwn(fmt.Sprintf("Set *%s*'s standby to 0? Busy agents finish their jobs first.", esc(p.Name))),
				plain("Down"), plain("Not now")).WithStyle(slack.StyleDanger)),
			btn(ActStandby, "Standby…"),
			btn(ActMute, "Mute…"))
		if len(next) > 0 {
			els = append(els, btn(ActSkip, "Skip next…"))
		}
		if url != "" {
			open := slack.NewButtonBlockElement(ActOpen, p.Name, plain("Open in Azure DevOps"))
			open.URL = url
			els = append(els, open)
		}
		out = append(out, slack.NewActionBlock("actions."+p.Name, els...))
	} else if url != "" {
		out = append(out, slack.NewContextBlock("link."+p.Name, mrkdwn(fmt.Sprintf("<%s|Open %s in Azure DevOps>", url, esc(p.Name)))))
	}
	return append(out, slack.NewDividerBlock())
}

// countNodes reads the pools' nodes, a few at a time, and sets their
// counts; it returns the pools whose nodes could not be read.
func (h *Home) countNodes(ctx context.Context, pools []pool.Pool) map[string]bool {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed = map[string]bool{}
		sem    = make(chan struct{}, nodeReads)
	)
	for i := range pools {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			nodes, err := h.o.Service.Nodes(ctx, pools[i].Name)
			if err != nil {
				h.o.Logger.Warn("Home tab: read nodes", "pool", pools[i].Name, "err", err)
				mu.Lock()
				failed[pools[i].Name] = true
				mu.Unlock()
				return
			}
			pools[i].Nodes, pools[i].Counts = nodes, pool.Count(nodes)
		})
	}
	wg.Wait()
	return failed
}

// knowsDaytime reports whether `up` knows what to bring the pool back to:
// its schedule's working hours or the settings saved before a scale-down.
func (h *Home) knowsDaytime(ctx context.Context, name string) bool {
	if h.o.Scheduler != nil {
		if _, ok, err := h.o.Scheduler.Daytime(ctx, name); err == nil && ok {
			return true
		}
	}
	_, err := h.o.Store.SavedSettings(ctx, name)
	return err == nil
}

// firing returns the firing alerts by pool.
func (h *Home) firing(ctx context.Context) map[string][]pool.Alert {
	all, err := h.o.Store.Alerts(ctx)
	if err != nil {
		h.o.Logger.Warn("Home tab: read alerts", "err", err)
		return nil
	}
	out := map[string][]pool.Alert{}
	for _, a := range all {
		if a.Firing {
			out[a.Pool] = append(out[a.Pool], a)
		}
	}
	for _, as := range out {
		slices.SortFunc(as, func(a, b pool.Alert) int { return strings.Compare(a.Condition, b.Condition) })
	}
	return out
}

// mutes returns the mutes in force by pool.
func (h *Home) mutes(ctx context.Context, now time.Time) map[string][]pool.Mute {
	all, err := h.o.Store.Mutes(ctx)
	if err != nil {
		h.o.Logger.Warn("Home tab: read mutes", "err", err)
		return nil
	}
	out := map[string][]pool.Mute{}
	for _, m := range all {
		if m.Until.After(now) {
			out[m.Pool] = append(out[m.Pool], m)
		}
	}
	return out
}

func alertText(alerts []pool.Alert, muted []pool.Mute, now time.Time) string {
	var parts []string
	for _, a := range alerts {
		icon := ":warning:"
		if a.Severity == "critical" {
			icon = ":red_circle:"
		}
		s := icon + " " + esc(a.Condition)
		if a.Summary != "" {
			s += ": " + esc(a.Summary)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		parts = append(parts, "none firing")
	}
	for _, m := range muted {
		what := "all"
		if m.Condition != "" {
			what = m.Condition
		}
		parts = append(parts, fmt.Sprintf(":mute: %s muted until %s", esc(what), m.Until.UTC().Format("Jan 2 15:04 MST")))
	}
	return strings.Join(parts, "\n")
}

// stateWord is a pool's state, with the reason a person looks for.
func stateWord(p pool.Pool) string {
	switch {
	case p.State == "":
		return "unknown"
	case p.State == pool.StateOffline && !p.OfflineSince.IsZero():
		return "offline since " + p.OfflineSince.UTC().Format("Jan 2 15:04 MST")
	}
	return string(p.State)
}

// changeLine is a scheduled change in its schedule's time zone.
func changeLine(ch pool.Change, now time.Time) string {
	what := ch.Settings.String()
	if ch.Restore {
		what = "restore saved settings"
	}
	s := fmt.Sprintf("%s → %s", when(ch.At, now), what)
	if ch.Skipped {
		s += " (skipped)"
	}
	return s
}

// when renders t in its own zone: "18:00 CET" today, "Tue 07:00 CET"
// within a week, else the date.
func when(t, now time.Time) string {
	n := now.In(t.Location())
	switch {
	case t.Year() == n.Year() && t.YearDay() == n.YearDay():
		return t.Format("15:04 MST")
	case t.Sub(n) < 6*24*time.Hour:
		return t.Format("Mon 15:04 MST")
	}
	return t.Format("Mon 2 Jan 15:04 MST")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, clip(s, 3000), false, false)
}

// clip shortens s to at most n characters, as Slack counts them, ending it
// with an ellipsis when it cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// section is a section with text and up to 10 fields, Slack's limit.
func section(text string, fields ...string) *slack.SectionBlock {
	var fs []*slack.TextBlockObject
	for _, f := range fields {
		if len(fs) == 10 {
			break
		}
		fs = append(fs, mrkdwn(clip(f, 2000)))
	}
	return slack.NewSectionBlock(mrkdwn(text), fs, nil)
}

// esc escapes the three characters Slack's mrkdwn gives meaning to.
var esc = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
