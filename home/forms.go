package home

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/pool"
)

// Callback ids of the forms.
const (
	FormCreate  = "form.create"
	FormHold    = "form.hold"
	FormStandby = "form.standby"
	FormMute    = "form.mute"
	FormSkip    = "form.skip"
)

// Block ids of the forms' inputs: the keys of the errors shown beside them.
const (
	InTemplate  = "template"
	InName      = "name"
	InSKU       = "sku"
	InStandby   = "standby"
	InMax       = "max"
	InImage     = "image"
	InUntil     = "until"
	InFor       = "for"
	InCondition = "condition"
	InEntry     = "entry"
)

// meta is what a form carries in its private_metadata.
type meta struct {
	Pool string    `json:"pool,omitempty"`
	Max  int       `json:"max,omitempty"`
	At   time.Time `json:"at,omitzero"` // the entry a skip form offers
}

// Press handles a button pressed on the Home tab: Up and Down run their
// commands; the others open a form with the press's trigger id.
func (h *Home) Press(ctx context.Context, who commands.Request, cb slack.InteractionCallback) (commands.Request, bool) {
	if len(cb.ActionCallback.BlockActions) == 0 {
		return commands.Request{}, false
	}
	a := cb.ActionCallback.BlockActions[0]
	name := a.Value
	run := func(text string) (commands.Request, bool) {
		req := who
		req.Text, req.Source = text, "home"
		return req, true
	}
	switch a.ActionID {
	case ActUp:
		return run("up " + name)
	case ActDown:
		return run("down " + name)
	case ActOpen:
		return commands.Request{}, false // a link: Slack opened it
	}
	var view slack.ModalViewRequest
	var err error
	switch a.ActionID {
	case ActCreate:
		if h.o.Roles.RoleFor(who, "") < commands.RoleAdmin {
			h.tell(ctx, who.UserID, "Sorry, you need role admin for create.")
			return commands.Request{}, false
		}
		view = h.createForm()
	case ActHold, ActStandby, ActMute, ActSkip:
		if h.o.Roles.RoleFor(who, name) < commands.RoleOperator {
			// Not on this user's tab (their role changed since): no form.
			h.tell(ctx, who.UserID, fmt.Sprintf("Sorry, you need role operator on %s for that.", name))
			return commands.Request{}, false
		}
		view, err = h.poolForm(ctx, a.ActionID, name)
	default:
		h.o.Logger.Warn("Home tab: unknown button", "action_id", a.ActionID)
		return commands.Request{}, false
	}
	if err != nil {
		h.tell(ctx, who.UserID, err.Error())
		return commands.Request{}, false
	}
	if _, err := h.o.Slack.OpenViewContext(ctx, cb.TriggerID, view); err != nil {
		h.o.Logger.Warn("open a form", "form", view.CallbackID, "user", who.UserID, "err", err)
		h.tell(ctx, who.UserID, "Slack did not open the form (it allows 3 seconds after a press); press the button again.")
	}
	return commands.Request{}, false
}

// OpenCreate opens the create form for a `/pool create` typed without
// arguments.
func (h *Home) OpenCreate(ctx context.Context, triggerID string) error {
	if _, err := h.o.Slack.OpenViewContext(ctx, triggerID, h.createForm()); err != nil {
		return fmt.Errorf("open the create form: %w", err)
	}
	return nil
}

// tell sends the user a line in their messages with poolbot.
func (h *Home) tell(ctx context.Context, user, text string) {
	if err := h.Responder(user).Respond(ctx, commands.Reply{Text: text}); err != nil {
		h.o.Logger.Warn("Home tab: tell user", "user", user, "err", err)
	}
}

func modal(callback, title, submit string, m meta, blocks ...slack.Block) slack.ModalViewRequest {
	b, _ := json.Marshal(m)
	return slack.ModalViewRequest{Type: slack.VTModal, CallbackID: callback, Title: plain(title),
		Submit: plain(submit), Close: plain("Cancel"), PrivateMetadata: string(b),
		Blocks: slack.Blocks{BlockSet: blocks}}
}

func input(id, label, hint string, optional bool, el slack.BlockElement) *slack.InputBlock {
	var h *slack.TextBlockObject
	if hint != "" {
		h = plain(hint)
	}
	in := slack.NewInputBlock(id, plain(label), h, el)
	in.Optional = optional
	return in
}

func option(value, text, desc string) *slack.OptionBlockObject {
	var d *slack.TextBlockObject
	if desc != "" {
		d = plain(clip(desc, 75)) // Slack's limit, as for the text
	}
	return slack.NewOptionBlockObject(value, plain(clip(text, 75)), d)
}

func numberInput(id string, initial int, set bool) *slack.NumberInputBlockElement {
	n := slack.NewNumberInputBlockElement(nil, id, false)
	n.MinValue = "0"
	if set {
		n.InitialValue = strconv.Itoa(initial)
	}
	return n
}

// createForm is `/pool create` as a form: template, name, size (SKU,
// standby, max) and image; the subnet is the template's.
func (h *Home) createForm() slack.ModalViewRequest {
	var tpls []*slack.OptionBlockObject
	var initial *slack.OptionBlockObject
	skus := map[string]bool{}
	var skuOpts []*slack.OptionBlockObject
	var about []string
	for _, t := range h.o.Templates {
		o := option(t.Name, t.Name, fmt.Sprintf("%s %s in %s", t.OS, t.SKU, t.Region))
		tpls = append(tpls, o)
		if len(h.o.Templates) == 1 || strings.EqualFold(t.Name, "default") {
			initial = o
		}
		if t.SKU != "" && !skus[t.SKU] {
			skus[t.SKU] = true
			skuOpts = append(skuOpts, option(t.SKU, t.SKU, ""))
		}
		about = append(about, fmt.Sprintf("*%s*: %s, image `%s`, subnet `%s`, standby %d, max %d",
			esc(t.Name), esc(t.SKU), esc(t.Image), esc(lastPart(t.SubnetID)), t.Standby, t.Max))
	}
	tsel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a template"), InTemplate, tpls...)
	if initial != nil {
		tsel.InitialOption = initial
	}
	name := slack.NewPlainTextInputBlockElement(plain("e.g. linux-build"), InName)
	name.MaxLength = 63
	blocks := []slack.Block{
		input(InTemplate, "Template", "Region, resource group, subnet and defaults come from it.", false, tsel),
		input(InName, "Pool name", "Letters, digits, '-', '_' or '.'; the scale set gets the same name.", false, name),
	}
	if len(skuOpts) > 0 {
		blocks = append(blocks, input(InSKU, "VM size", "Leave empty for the template's.", true,
			slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("The template's"), InSKU, skuOpts...)))
	}
	blocks = append(blocks,
		input(InStandby, "Standby", "Idle agents kept ready; empty for the template's.", true, numberInput(InStandby, 0, false)),
		input(InMax, "Max", "Most agents at once; empty for the template's.", true, numberInput(InMax, 0, false)),
		input(InImage, "Image", "A gallery image id or publisher:offer:sku:version; empty for the template's.", true,
			slack.NewPlainTextInputBlockElement(plain("The template's"), InImage)),
		slack.NewContextBlock("", mrkdwn("Templates: "+strings.Join(about, "\n"))),
	)
	return modal(FormCreate, "Create a pool", "Create…", meta{}, blocks...)
}

// poolForm is the form a Home tab button opens for a pool.
func (h *Home) poolForm(ctx context.Context, action, name string) (slack.ModalViewRequest, error) {
	p, err := h.o.Service.Get(ctx, name)
	if err != nil {
		return slack.ModalViewRequest{}, fmt.Errorf("could not read %s: %v", name, err)
	}
	m := meta{Pool: p.Name, Max: p.Max}
	intro := section(fmt.Sprintf("*%s* · standby %d, max %d", esc(p.Name), p.Standby, p.Max))
	switch action {
	case ActStandby:
		return modal(FormStandby, "Standby", "Set", m, intro,
			input(InStandby, "Idle agents to keep ready", fmt.Sprintf("0 to %d (its max).", p.Max), false,
				numberInput(InStandby, p.Standby, true))), nil
	case ActMute:
		durs := []*slack.OptionBlockObject{option("1h", "1 hour", ""), option("2h", "2 hours", ""),
			option("4h", "4 hours", ""), option("8h", "8 hours", ""), option("1d", "1 day", ""), option("3d", "3 days", "")}
		fsel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("How long"), InFor, durs...)
		fsel.InitialOption = durs[1]
		conds := []*slack.OptionBlockObject{option("all", "All alerts", "")}
		for _, c := range []string{"failed-nodes", "error-logs", "stuck-nodes", "saturation", "schedule-failed", "over-budget"} {
			conds = append(conds, option(c, c, ""))
		}
		csel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("All alerts"), InCondition, conds...)
		return modal(FormMute, "Mute alerts", "Mute", m, intro,
			input(InFor, "For", "", false, fsel),
			input(InCondition, "Which", "Leave empty for all of the pool's alerts.", true, csel)), nil
	}
	if h.o.Scheduler == nil {
		return slack.ModalViewRequest{}, fmt.Errorf("no schedules are configured, so %s has nothing to hold against or skip", name)
	}
	next, err := h.o.Scheduler.Next(ctx, p.Name, 4)
	if err != nil || len(next) == 0 {
		return slack.ModalViewRequest{}, fmt.Errorf("%s has no scheduled change", name)
	}
	now := h.o.Clock.Now()
	zone := next[0].At.Location()
	switch action {
	case ActHold:
		tp := slack.NewTimePickerBlockElement(InUntil)
		tp.InitialTime = next[0].At.Format("15:04")
		tp.Timezone = zone.String()
		return modal(FormHold, "Up until…", "Bring up", m, intro,
			section(fmt.Sprintf("Brings *%s* up to its daytime settings and holds it there against its schedule until the time you pick (%s; tomorrow if it has passed today). Next scheduled change: %s.",
				esc(p.Name), zone, esc(changeLine(next[0], now)))),
			input(InUntil, "Until", "", false, tp),
			input(InStandby, "Standby", "Leave empty for its daytime settings.", true, numberInput(InStandby, 0, false))), nil
	default: // ActSkip
		m.At = next[0].At
		var later []string
		for _, c := range next[1:] {
			later = append(later, "• "+esc(changeLine(c, now)))
		}
		radio := slack.NewRadioButtonsBlockElement(InEntry, option(next[0].At.Format(time.RFC3339), changeLine(next[0], now), next[0].Schedule))
		radio.InitialOption = radio.Options[0]
		blocks := []slack.Block{intro, input(InEntry, "Skip this change", "", false, radio)}
		if len(later) > 0 {
			blocks = append(blocks, slack.NewContextBlock("", mrkdwn("The ones after it still happen:\n"+strings.Join(later, "\n"))))
		}
		return modal(FormSkip, "Skip next change", "Skip", m, blocks...), nil
	}
}

// Submit checks a submitted form and returns the command it stands for,
// or the errors to show beside its fields.
func (h *Home) Submit(ctx context.Context, who commands.Request, cb slack.InteractionCallback) (map[string]string, commands.Request, bool) {
	v := formValues(cb.View.State)
	var m meta
	if cb.View.PrivateMetadata != "" {
		if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &m); err != nil {
			return nil, commands.Request{}, false
		}
	}
	var text string
	errs := map[string]string{}
	// Choices become words of the command line: one word each, or the
	// form was not filled in from its own options.
	for _, k := range []string{InFor, InCondition, InSKU, InTemplate, InUntil, InEntry} {
		if val, ok := v[k]; ok && val != "" && !word.MatchString(val) {
			errs[k] = "Choose one of the options."
		}
	}
	switch cb.View.CallbackID {
	case FormCreate:
		text = h.checkCreate(ctx, v, errs)
	case FormStandby:
		n, ok := count(v[InStandby], InStandby, errs)
		if ok && n > m.Max {
			errs[InStandby] = fmt.Sprintf("%s's max is %d: standby can be at most that", m.Pool, m.Max)
		}
		text = fmt.Sprintf("standby %s %d", m.Pool, n)
	case FormMute:
		text = "mute " + m.Pool
		if c := v[InCondition]; c != "" && c != "all" {
			text += " " + c
		}
		if v[InFor] == "" {
			// Slack's client requires the choice; a payload without it
			// is refused here rather than becoming "for=" with no value.
			errs[InFor] = "Choose how long."
		}
		text += " for=" + v[InFor]
	case FormHold:
		if _, err := time.Parse("15:04", v[InUntil]); err != nil {
			errs[InUntil] = "pick a time"
		}
		text = fmt.Sprintf("up %s until=%s", m.Pool, v[InUntil])
		if v[InStandby] != "" {
			if n, ok := count(v[InStandby], InStandby, errs); ok {
				text += fmt.Sprintf(" standby=%d", n)
				if n > m.Max {
					errs[InStandby] = fmt.Sprintf("%s's max is %d: standby can be at most that", m.Pool, m.Max)
				}
			}
		}
	case FormSkip:
		text = fmt.Sprintf("skip %s next", m.Pool)
		if h.o.Scheduler != nil {
			next, err := h.o.Scheduler.Next(ctx, m.Pool, 1)
			if err == nil && (len(next) == 0 || !next[0].At.Equal(m.At)) {
				now := "none"
				if len(next) > 0 {
					now = changeLine(next[0], h.o.Clock.Now())
				}
				errs[InEntry] = "that is no longer the next change (now: " + now + "); close the form and press Skip next again"
			}
		}
	default:
		return nil, commands.Request{}, false
	}
	if len(errs) > 0 {
		return errs, commands.Request{}, false
	}
	req := who
	req.Text, req.Source = text, "home"
	return nil, req, true
}

// checkCreate checks the create form and returns its command line; errors
// go to errs by field.
func (h *Home) checkCreate(ctx context.Context, v map[string]string, errs map[string]string) string {
	name := strings.TrimSpace(v[InName])
	if err := commands.CheckPoolName(name); err != nil {
		errs[InName] = capital(err.Error())
	} else if pools, err := h.o.Service.List(ctx, pool.ListOptions{}); err == nil {
		// Checked again by the command, which also asks for confirmation.
		for _, p := range pools {
			if strings.EqualFold(p.Name, name) {
				errs[InName] = fmt.Sprintf("A pool named %s already exists.", p.Name)
			}
		}
	}
	var tpl *struct{ standby, max int }
	for _, t := range h.o.Templates {
		if t.Name == v[InTemplate] {
			tpl = &struct{ standby, max int }{t.Standby, t.Max}
		}
	}
	if tpl == nil {
		errs[InTemplate] = "Choose one of the templates."
	}
	text := "create " + name + " template=" + v[InTemplate]
	standby, max := 0, 0
	if tpl != nil {
		standby, max = tpl.standby, tpl.max
	}
	if v[InStandby] != "" {
		if n, ok := count(v[InStandby], InStandby, errs); ok {
			standby = n
			text += fmt.Sprintf(" standby=%d", n)
		}
	}
	if v[InMax] != "" {
		if n, ok := count(v[InMax], InMax, errs); ok {
			if n == 0 {
				errs[InMax] = "A pool needs a max of at least 1."
			}
			max = n
			text += fmt.Sprintf(" max=%d", n)
		}
	}
	if max == 0 {
		max = 1 // as create does
	}
	if errs[InStandby] == "" && errs[InMax] == "" && standby > max {
		errs[InStandby] = fmt.Sprintf("Standby %d is more than max %d.", standby, max)
	}
	if s := v[InSKU]; s != "" {
		text += " sku=" + s
	}
	if img := strings.TrimSpace(v[InImage]); img != "" {
		if !word.MatchString(img) {
			errs[InImage] = "An image is one word: a gallery image id or publisher:offer:sku:version."
		} else if _, err := pool.ParseImage(img); err != nil {
			errs[InImage] = capital(err.Error())
		}
		text += " image=" + img
	}
	return text
}

// word is what a form's value may be to stand as one word of a command.
var word = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._/+-]*$`)

// count reads a whole number ≥ 0 from a form; a bad one goes to errs.
func count(s, field string, errs map[string]string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		errs[field] = "A whole number, 0 or more."
		return 0, false
	}
	return n, true
}

// formValues flattens a view's state to one value per block.
func formValues(st *slack.ViewState) map[string]string {
	out := map[string]string{}
	if st == nil {
		return out
	}
	for block, acts := range st.Values {
		for _, a := range acts {
			switch {
			case a.SelectedOption.Value != "":
				out[block] = a.SelectedOption.Value
			case a.SelectedTime != "":
				out[block] = a.SelectedTime
			default:
				out[block] = a.Value
			}
		}
	}
	return out
}

func capital(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// lastPart is the last segment of an Azure resource id: a subnet's name.
func lastPart(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}
