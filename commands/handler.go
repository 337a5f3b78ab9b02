package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/slackmsg"
)

// CostEstimator tells what a pool has cost today.
type CostEstimator interface {
	Today(ctx context.Context, pool string) (amount float64, currency string, ok bool)
}

// Store is what the commands read and keep: the audit trail (history), the
// mutes, overrides and saved settings they show and set, the job history
// (waits, whatif), the dead letters an admin sends again, confirmations and
// image builds (values and claims) and the messages they queue.
// Implementations are safe for concurrent use.
type Store interface {
	pool.AuditLog
	pool.AlertStore
	pool.OverrideStore
	pool.SavedStore
	pool.JobStore
	pool.DeadLetters
	pool.Enqueuer
	pool.KV
	pool.Claims
}

// Options is what a Handler works with.
type Options struct {
	Service       pool.Service    // reads
	Changer       *change.Changer // every change
	Store         Store           // history, mutes, confirmations, overrides
	Scheduler     Scheduler       // may be nil: no schedules
	Cost          CostEstimator   // may be nil
	Files         FileUploader    // may be nil: `waits` answers in text only
	Agents        AgentCounts     // may be nil: `status <pool> chart=…` says there is no series
	Location      *time.Location  // the time zone of hour-of-week figures; nil: UTC
	Roles         []Grant
	Templates     []Template
	WhatIf        WhatIfRunner // may be nil: no what-if replays
	Azure         Azure        // subscription and resource group defaults for create
	Images        []Image      // image pipelines and rollout plans ([[images]]), their defaults applied
	Pipelines     Pipelines    // may be nil: `image <pool> build` is refused
	EveryoneAdmin bool         // the demo
	// Zones tells each reader's time zone (Slack's users.info); nil, or a
	// user it cannot tell, falls back to the schedule's zone.
	Zones Zones
	// Conditions are the alert conditions mute and unmute take; nil takes
	// any well-formed name.
	Conditions []string
	Clock      clock.Clock
	Logger     *slog.Logger
	// Observe, when set, is told each request's command, result ("ok",
	// "denied", "invalid", "error", "pending", "cancelled") and duration.
	Observe func(command, result string, d time.Duration)
}

// Handler runs /pool commands.
type Handler struct {
	o     Options
	table commandTable
}

// New returns a Handler. Service, Changer and Store are required. It fails
// only when the command table names a command twice.
func New(o Options) (*Handler, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	t, err := newCommandTable(builtins())
	if err != nil {
		return nil, err
	}
	return &Handler{o: o, table: t}, nil
}

// poolArg says what a command's first positional word is.
type poolArg int

const (
	noPool   poolArg = iota
	onePool          // an existing pool, by name
	globPool         // one or more existing pools, by name or glob
	optGlob          // optional: a filter, by name or glob
	newPool          // the name of a pool to create
)

// command is one entry of the command table.
type command struct {
	name  string
	usage string // "up <pool> [standby=N] …", without "/pool "
	help  string
	role  Role
	keys  []string // options it takes
	min   int      // positional words, pool included
	max   int
	pool  poolArg
	// poolAt is the index of the pool among the positional words.
	poolAt int
	run    func(ctx context.Context, c *call) error
}

// builtins is every /pool command, the command table, in the order help
// lists them by (help sorts them by name).
func builtins() []*command {
	var all []*command
	for _, entries := range []func() []*command{
		createCommands, downCommands, helpCommands, historyCommands, imageCommands, listCommands, maxCommands, muteCommands, nodeCommands, outboxCommands, scheduleCommands, skipCommands, standbyCommands, statusCommands, ttlCommands, upCommands, waitsCommands, whatifCommands,
	} {
		all = append(all, entries()...)
	}
	return all
}

// commandTable is the commands by name.
type commandTable map[string]*command

// newCommandTable indexes cmds by name. A name given twice, or none, is an
// error: the later entry would silently replace the earlier.
func newCommandTable(cmds []*command) (commandTable, error) {
	t := make(commandTable, len(cmds))
	for _, c := range cmds {
		if c.name == "" || c.run == nil {
			return nil, fmt.Errorf("commands: an entry without a name or a run function (usage %q)", c.usage)
		}
		if _, dup := t[c.name]; dup {
			return nil, fmt.Errorf("commands: %s is in the command table twice", c.name)
		}
		t[c.name] = c
	}
	return t, nil
}

// names returns the table's names in a stable order.
func (t commandTable) names() []string {
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// call is one command being run.
type call struct {
	h     *Handler
	req   Request
	resp  Responder
	cmd   *command
	args  Args
	text  string   // the command line, for audits and confirmations
	pools []string // resolved pool names
	// resolved are the pools as read when their names were resolved, by
	// name: a change plans and applies against them without reading again.
	resolved map[string]pool.Pool
	actor    change.Actor

	confirmed bool           // running a request someone confirmed
	pending   *pending       // the confirmation being pressed, if any
	rematch   string         // mrkdwn: why a confirmation is asked again
	userZone  *time.Location // the reader's, once looked up
	zoneAsked bool
	replace   bool // replies edit the message the request came from
	result    string
	responses int
}

// usageError is bad input: it is answered with the command's usage line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// deniedError is a request the requester's roles do not allow.
type deniedError struct{ msg string }

func (e *deniedError) Error() string { return e.msg }

// Handle runs one request and answers it through resp, once or more.
func (h *Handler) Handle(ctx context.Context, req Request, resp Responder) error {
	start := time.Now()
	req.Text = strings.TrimSpace(req.Text)
	if rest, ok := strings.CutPrefix(req.Text, "/pool"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
		req.Text = strings.TrimSpace(rest) // typed into the console with its slash command
	}
	c := &call{h: h, req: req, resp: resp, actor: change.Actor{ID: req.UserID, Name: req.UserName,
		Channel: req.ChannelID, Source: req.Source, RequestID: req.RequestID}}
	var err error
	if req.Action != nil {
		err = h.action(ctx, c)
	} else {
		err = h.dispatch(ctx, c, req.Text)
	}
	if err != nil {
		err = c.fail(ctx, err)
	}
	if h.o.Observe != nil {
		name := "unknown"
		if c.cmd != nil {
			name = c.cmd.name
		}
		h.o.Observe(name, c.result, time.Since(start))
	}
	return err
}

// dispatch parses text, then runs it.
func (h *Handler) dispatch(ctx context.Context, c *call, text string) error {
	c.text = text
	name, rest, _ := strings.Cut(text, " ")
	args, err := Parse(rest)
	if err != nil {
		if cmd, ok := h.table[strings.ToLower(name)]; ok {
			c.cmd = cmd
		}
		return &usageError{msg: err.Error()}
	}
	return h.run(ctx, c, name, args)
}

// run looks the command up, resolves its pools, authorizes and runs it.
func (h *Handler) run(ctx context.Context, c *call, name string, args Args) error {
	name = strings.ToLower(name)
	if name == "" {
		name = "help"
	}
	cmd, ok := h.table[name]
	if !ok {
		msg := sayf("I don't know the command `%s`.", name)
		if s, ok := suggest(name, h.visibleCommands(c.req)); ok {
			msg += sayf(" Did you mean `/pool %s`?", s)
		}
		c.result = "invalid"
		return c.respond(ctx, say(msg+" Try `/pool help`."))
	}
	c.cmd = cmd
	c.args = args
	c.text = strings.TrimSpace(cmd.name + " " + args.String())
	if c.pending != nil {
		c.text = "confirm " + c.text // until the press is authorized and claimed
	}
	if err := checkArgs(cmd, args); err != nil {
		return err
	}
	// Authorize before revealing: someone who may run the command nowhere
	// learns nothing of the pools, not even a "did you mean"; the denial
	// repeats the name they typed, whether a pool has it or not.
	if h.roleFor(c.req, "") < cmd.role {
		msg, typed := fmt.Sprintf("you need role %s for %s", cmd.role, cmd.name), ""
		if cmd.pool != noPool && cmd.poolAt < len(args.Pos) {
			typed = args.Pos[cmd.poolAt]
			msg += " on " + typed
		}
		return h.deny(ctx, c, msg, typed)
	}
	if err := h.resolvePools(ctx, c); err != nil {
		return err
	}
	if err := h.authorize(ctx, c, cmd.role); err != nil {
		return err
	}
	if c.pending != nil {
		if err := h.claim(ctx, c); err != nil {
			return err
		}
		if err := h.sameMatch(ctx, c); err != nil {
			return err
		}
	}
	c.result = "ok"
	return cmd.run(ctx, c)
}

func checkArgs(cmd *command, a Args) error {
	for _, o := range a.Opts {
		if !slices.Contains(cmd.keys, o.Key) {
			msg := fmt.Sprintf("%s takes no option %s", cmd.name, o.Key)
			if s, ok := suggest(o.Key, cmd.keys); ok {
				msg += fmt.Sprintf(" (did you mean %s=?)", s)
			}
			return &usageError{msg: msg}
		}
	}
	switch n := len(a.Pos); {
	case n < cmd.min && cmd.min == cmd.max:
		return usagef("%s takes %s, not %d", cmd.name, plural(cmd.min, "argument"), n)
	case n < cmd.min:
		return usagef("%s takes at least %s, not %d", cmd.name, plural(cmd.min, "argument"), n)
	case n > cmd.max && cmd.min == cmd.max:
		return usagef("%s takes %s; %q is one too many", cmd.name, plural(cmd.max, "argument"), a.Pos[cmd.max])
	case n > cmd.max:
		return usagef("%s takes at most %s; %q is one too many", cmd.name, plural(cmd.max, "argument"), a.Pos[cmd.max])
	}
	return nil
}

// resolvePools turns the command's pool argument into pool names, with a
// "did you mean" for a name that matches nothing.
func (h *Handler) resolvePools(ctx context.Context, c *call) error {
	cmd := c.cmd
	if cmd.pool == noPool || cmd.poolAt >= len(c.args.Pos) {
		return nil
	}
	arg := c.args.Pos[cmd.poolAt]
	if cmd.pool == newPool {
		c.pools = []string{arg}
		return nil
	}
	pools, err := h.o.Service.List(ctx, pool.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pools: %w", err)
	}
	names := make([]string, len(pools))
	c.resolved = make(map[string]pool.Pool, len(pools))
	for i, p := range pools {
		names[i] = p.Name
		c.resolved[p.Name] = p
	}
	if isGlob(arg) {
		if cmd.pool == onePool {
			return usagef("%s works on one pool at a time; %q is a pattern", cmd.name, arg)
		}
		for _, n := range names {
			if globMatch(arg, n) {
				c.pools = append(c.pools, n)
			}
		}
		if len(c.pools) == 0 {
			return &pool.Error{Kind: pool.KindNotFound, Msg: fmt.Sprintf("no pool matches %q", arg)}
		}
		return nil
	}
	// A pool the requester may not see is answered as one that does not
	// exist, and only pools they may see are suggested.
	visible := names[:0:0]
	for _, n := range names {
		if h.roleFor(c.req, n) >= RoleViewer {
			visible = append(visible, n)
		}
	}
	for _, n := range visible {
		if strings.EqualFold(n, arg) {
			c.pools = []string{n}
			return nil
		}
	}
	msg := fmt.Sprintf("no pool named %q that you may see.", arg)
	if s, ok := suggest(arg, visible); ok {
		msg += fmt.Sprintf(" Did you mean %s?", s)
	}
	return &pool.Error{Kind: pool.KindNotFound, Pool: arg, Msg: msg}
}

// authorize checks that the requester has role r for every pool the call
// touches, and audits a denial.
func (h *Handler) authorize(ctx context.Context, c *call, r Role) error {
	targets := c.pools
	if len(targets) == 0 || c.cmd.pool == optGlob && isGlob(c.args.Pos[c.cmd.poolAt]) {
		// A filter is authorized as a whole; the command shows only the
		// pools the requester may see.
		targets = []string{""}
	}
	var denied, hidden []string
	for _, p := range targets {
		if h.roleFor(c.req, p) < r {
			if p == "" || h.roleFor(c.req, p) >= RoleViewer {
				denied = append(denied, p)
			} else {
				hidden = append(hidden, p)
			}
			continue
		}
		// A confirmation runs under the grant of whoever asked for it as
		// well as the presser's: never beyond what the asker may do.
		if c.pending != nil && h.roleFor(c.pending.asker(), p) < r {
			return h.deny(ctx, c, fmt.Sprintf("%s, who asked for this, no longer has role %s for %s on %s",
				c.pending.name(), r, c.cmd.name, p), p)
		}
	}
	msg := fmt.Sprintf("you need role %s for %s", r, c.cmd.name)
	switch {
	case len(denied) > 0 && denied[0] != "":
		return h.deny(ctx, c, msg+" on "+denied[0], denied[0])
	case len(denied) > 0:
		return h.deny(ctx, c, msg, "")
	case len(hidden) > 0:
		// Never name a pool the requester may not see.
		return h.deny(ctx, c, fmt.Sprintf("%s on every pool %s matches", msg, c.args.Pos[c.cmd.poolAt]), c.auditPool())
	}
	return nil
}

// deny audits a denial and returns it.
func (h *Handler) deny(ctx context.Context, c *call, msg, poolName string) error {
	if err := h.o.Changer.Audit(ctx, c.actor, c.text, poolName, "denied"); err != nil {
		h.o.Logger.Error("audit denial", "err", err)
	}
	return &deniedError{msg: msg}
}

// visibleCommands are the names of the commands the requester may run
// somewhere.
func (h *Handler) visibleCommands(req Request) []string {
	role := h.roleFor(req, "")
	var names []string
	for _, n := range h.table.names() {
		if h.table[n].role <= role {
			names = append(names, n)
		}
	}
	return names
}

// respond sends a reply, editing the original message when the call came
// from a button on it.
func (c *call) respond(ctx context.Context, r Reply) error {
	if c.replace {
		r.ReplaceOriginal = true
	}
	if r.Text == "" {
		r.Text = "(no text)"
	}
	if r.InChannel && r.ReplaceOriginal {
		// A confirmation is an ephemeral message, which Slack cannot turn
		// into one the channel sees: close it, then tell the channel.
		if err := c.send(ctx, Reply{Text: "Done; see the channel.", ReplaceOriginal: true}); err != nil {
			return err
		}
		r.ReplaceOriginal = false
	}
	return c.send(ctx, r)
}

func (c *call) send(ctx context.Context, r Reply) error {
	c.responses++
	if c.responses > 5 {
		// Slack takes at most five replies through a response_url.
		return nil
	}
	return c.resp.Respond(ctx, r)
}

// fail answers an error in words the requester understands: ephemeral, with
// the usage line for bad input.
func (c *call) fail(ctx context.Context, err error) error {
	var ue *usageError
	var de *deniedError
	var pe *pool.Error
	// Error texts quote what was typed and what Azure said: every one is
	// escaped, whatever its kind.
	var text string
	usage := false
	switch {
	case errors.As(err, &ue):
		c.result = "invalid"
		text = ue.msg + "."
		usage = true
	case errors.As(err, &de):
		c.result = "denied"
		text = "Sorry, " + de.msg + "."
	case errors.As(err, &pe):
		c.result = "error"
		text = pe.Error()
		if first, _, _ := strings.Cut(text, " "); strings.TrimRight(first, ":,;") != pe.Pool {
			text = capitalize(text) // but never a pool's name
		}
		if pe.Kind == pool.KindThrottled && pe.RetryAfter > 0 {
			text += fmt.Sprintf(" (try again in %s)", pe.RetryAfter.Round(time.Second))
		}
		usage = pe.Kind == pool.KindInvalid
	default:
		c.result = "error"
		text = "Something went wrong: " + err.Error()
	}
	if c.result == "error" {
		if n := change.NotesFrom(ctx); n != nil {
			n.Fail(err) // on the command's one line
		} else {
			c.h.o.Logger.Warn("command failed", "command", c.text, "user", c.req.UserID, "err", err)
		}
	}
	text = esc(strings.TrimSuffix(text, ".."))
	if usage && c.cmd != nil {
		text += "\nUsage: " + c.cmd.usageLine()
	}
	if rerr := c.respond(ctx, say(text)); rerr != nil {
		return fmt.Errorf("reply to %q: %w", c.text, rerr)
	}
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// who names the requester in a message the channel sees, as mrkdwn: the
// person who asked, and who confirmed when that was someone else.
func (c *call) who() slackmsg.Mrkdwn {
	if p := c.pending; p != nil && p.Requester != c.req.UserID {
		return slackmsg.Mrkdwn(mention(p.asker()) + " (confirmed by " + mention(c.req) + ")")
	}
	return slackmsg.Mrkdwn(mention(c.req))
}

func mention(r Request) string {
	switch {
	case (r.Source == "slack" || r.Source == "home") && r.UserID != "":
		return "<@" + esc(r.UserID) + ">"
	case r.UserName != "":
		return "@" + esc(r.UserName)
	}
	return "@" + esc(r.UserID)
}

// usageLine is the command's usage as mrkdwn code: its <…> and | escaped,
// so that Slack reads them as text, not as a link.
func (cmd *command) usageLine() string {
	return "`/pool " + esc(cmd.usage) + "`"
}

// by is how the requester is recorded in holds, mutes and saved settings:
// for a confirmed change, who asked for it.
func (c *call) by() string {
	if c.pending != nil && c.confirmed {
		return c.pending.Requester
	}
	if c.req.UserID != "" {
		return c.req.UserID
	}
	return c.req.UserName
}

// now is the handler's clock.
func (c *call) now() time.Time { return c.h.o.Clock.Now() }
