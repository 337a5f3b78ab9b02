package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/azure"
	"github.com/poolbot/poolbot/bot"
	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/commands"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/cost"
	"github.com/poolbot/poolbot/home"
	"github.com/poolbot/poolbot/metrics"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/scheduler"
	"github.com/poolbot/poolbot/watch"
	"github.com/poolbot/poolbot/whatif"
)

// The assembled parts beyond the store and the service.
type wired struct {
	changer   *change.Changer
	handler   *commands.Handler
	scheduler *scheduler.Scheduler
	tracker   *cost.Tracker
	watcher   *watch.Watcher
	slack     *slack.Client
	poster    *bot.Poster
	sender    *bot.Sender
	http      *bot.HTTP
	socket    *bot.Socket
	home      *home.Home
}

func (a *App) part(name string) { a.parts.built = append(a.parts.built, name) }

// buildBot wires everything that stands on the store and the service.
func (a *App) buildBot(ctx context.Context, o Options) error {
	w := &a.w
	cfg := a.cfg
	logFor := func(part string) *slog.Logger { return a.log.With("part", part) }

	w.changer = change.New(a.service, a.store, a.clock, logFor("change"), change.WithReplica(a.owner),
		change.WithChannel(cfg.Slack.Channel), change.WithReplyCheck(a.replied))
	a.part("changer")
	a.parts.recover = a.recoverChanges
	a.parts.leader = append(a.parts.leader, task{name: "recovery", run: a.recoverLater})

	// Slack's Web API: posts, updates and user groups. Its calls are
	// counted for /metrics.
	slackBase := a.http.Transport
	if slackBase == nil {
		// Every worker may answer a response_url at once: keep a warm
		// connection each rather than Go's default two per host, so that
		// answers do not wait for TLS handshakes.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = max(cfg.Slack.Workers, 8) + 2
		slackBase = t
	}
	slackHTTP := &http.Client{Timeout: 30 * time.Second, Transport: a.metrics.Transport(metrics.Slack, slackBase)}
	sopts := []slack.Option{slack.OptionHTTPClient(slackHTTP)}
	if cfg.Slack.APIURL != "" {
		sopts = append(sopts, slack.OptionAPIURL(cfg.Slack.APIURL))
	}
	if cfg.Slack.AppToken.IsSet() {
		sopts = append(sopts, slack.OptionAppLevelToken(cfg.Slack.AppToken.Value()))
	}
	w.slack = slack.New(cfg.Slack.BotToken.Value(), sopts...)
	w.poster = bot.NewPoster(w.slack, a.clock, logFor("poster"))
	w.sender = bot.NewSender(a.store, w.poster, a.clock, logFor("outbox"))
	w.sender.AlertChannel = cfg.Slack.OpsChannel
	w.sender.OnRefused = func(pool.OutboxMessage, string) { a.metrics.Refused() }
	a.metrics.AddAdvisory("outbox", a.checkRefused)
	a.part("outbox")

	schedules := Schedules(cfg)
	if len(schedules) > 0 {
		s, err := scheduler.New(scheduler.Options{
			Schedules: schedules, Service: a.service, Changer: w.changer, Store: a.store,
			Clock: a.clock, Logger: logFor("scheduler"), DefaultChannel: cfg.Slack.Channel,
			Owner: a.owner,
			// Autopilot schedules learn from the job history the watcher
			// stores.
			History: scheduler.StoreHistory(a.store),
			OnApplied: func(name string, c pool.Change) {
				a.metrics.ScheduleApplied(name, "ok")
				w.sender.Kick()
			},
		})
		if err != nil {
			return fmt.Errorf("scheduler: %w", err)
		}
		w.scheduler = s
		a.part("scheduler")
	}

	// Actual costs from Cost Management where the identity may read them;
	// estimates from retail prices always.
	var mgmt *cost.Management
	if cfg.Cost.CostManagement {
		if a.azure == nil || a.azure.ARMCredential() == nil {
			return fmt.Errorf("cost: cost_management = true needs [azure] with a credential")
		}
		m, err := cost.NewManagement(cost.ManagementOptions{Credential: a.azure.ARMCredential(),
			Client: a.azure.ARMOptions(), Subscription: cfg.Azure.Subscription, Clock: a.clock,
			Logger: logFor("cost")})
		if err != nil {
			return fmt.Errorf("cost: %w", err)
		}
		mgmt = m
	}
	w.tracker = cost.NewTracker(cost.TrackerOptions{
		Service: a.service, Store: a.store, Clock: a.clock, Logger: logFor("cost"), Settings: costSettings(cfg.Cost),
		Prices:     cost.NewPrices(cfg.Azure.RetailPricesURL, a.http, cfg.Cost.Prices, cfg.Cost.Currency, a.clock),
		Management: mgmt,
		Owner:      a.owner,
	})
	a.metrics.SetCurrency(cfg.Cost.Currency)
	a.part("cost")

	wopts := watch.Options{
		Service: a.service, Store: a.store, Clock: a.clock, Logger: logFor("watcher"),
		Alerts: watchAlerts(cfg.Alerts), DefaultChannel: cfg.Slack.Channel, PoolURL: poolURL(cfg.DevOps),
		Cost: w.tracker, Owner: a.owner, Schedules: a.workingHours(),
		Retention: cfg.History.Retention.Duration,
	}
	if a.azure != nil {
		wopts.Images = a.azure
	}
	w.watcher = watch.New(wopts)
	a.part("watcher")

	hopts := commands.Options{
		Service: a.service, Changer: w.changer, Store: a.store, Cost: w.tracker,
		Roles: grants(cfg.Roles), Templates: templates(cfg.Templates), WhatIf: whatIfRunner(schedules, cfg.Cost.DigestTimeZone),
		Azure: commands.Azure{Subscription: cfg.Azure.Subscription, ResourceGroup: cfg.Azure.ResourceGroup}, EveryoneAdmin: o.EveryoneAdmin,
		Clock: a.clock, Logger: logFor("commands"), Observe: a.metrics.ObserveCommand,
		// Readers' zones are cached for hours of real time, whatever clock
		// the bot runs on.
		Zones: commands.NewSlackZones(w.slack, clock.Real{}), Conditions: watch.Conditions,
		Files: w.slack, Location: hourZone(cfg), Agents: w.tracker, Images: images(cfg.Images),
	}
	if a.azure != nil {
		hopts.Pipelines = a.azure
	}
	if w.scheduler != nil {
		hopts.Scheduler = w.scheduler
	}
	h, err := commands.New(hopts)
	if err != nil {
		return err
	}
	w.handler = h
	a.part("commands")

	// The Home tab and forms, on both transports; their buttons and forms
	// run through the same handler as typed commands.
	w.home = home.New(home.Options{Slack: w.slack, Roles: w.handler, Service: a.service, Store: a.store,
		Scheduler: hopts.Scheduler, Cost: w.tracker, PoolURL: poolURL(cfg.DevOps), Templates: hopts.Templates,
		Channel: cfg.Slack.Channel, Clock: a.clock, Logger: logFor("home")})
	slackHandler := w.home.Wrap(a.Handler())
	a.part("home")

	// Slack: the HTTP endpoints, or Socket Mode. The signature's timestamp
	// is checked against the wall clock whatever clock the bot runs on.
	workers := bot.NewWorkers(cfg.Slack.Workers, cfg.Slack.Queue, logFor("workers"))
	a.parts.shutdownWorkers = workers.Shutdown
	respond := &http.Client{Timeout: 10 * time.Second, Transport: a.metrics.Transport(metrics.Slack, slackBase)}
	switch cfg.Slack.Mode {
	case "socket":
		w.socket = bot.NewSocket(bot.SocketOptions{
			Slack: w.slack, Handler: slackHandler, Pool: workers, Clock: clock.Real{}, Logger: logFor("slack"),
			HTTPClient: respond, Views: w.home, ResponseURLHosts: cfg.Slack.ResponseURLHosts,
		})
		a.parts.always = append(a.parts.always, task{name: "socket-mode", run: w.socket.Run})
		a.part("slack-socket")
	default:
		w.http = bot.NewHTTP(bot.HTTPOptions{
			SigningSecret: cfg.Slack.SigningSecret.Value(), Handler: slackHandler, Pool: workers,
			Clock: clock.Real{}, Logger: logFor("slack"), Slack: w.slack, HTTPClient: respond, Views: w.home,
			ResponseURLHosts: cfg.Slack.ResponseURLHosts, BodyTimeout: bodyTimeout(cfg.Server),
			Replays: a.store,
		})
		a.mux.Handle("/slack/", w.http)
		a.part("slack-http")
	}
	a.metrics.Expect("slack")
	// Over HTTP, Slack's requests reach this replica and its answers go
	// through response_url whatever the Web API's state: an outage of the
	// Web API (posts, auth.test) is reported, not a reason to take every
	// replica out of the Service. Socket Mode needs the connection to serve.
	a.metrics.SetAdvisory("slack", cfg.Slack.Mode != "socket")
	a.parts.always = append(a.parts.always, task{name: "slack-check", run: a.checkSlack})

	// The leader's work. Under an Azure DevOps throttle the scheduler's
	// changes wait and go first when it lifts; the watcher's polls after.
	if w.scheduler != nil {
		a.parts.leader = append(a.parts.leader, task{name: "scheduler", run: func(ctx context.Context) error {
			return w.scheduler.Run(azure.WithUrgency(ctx, azure.Scheduled))
		}})
	}
	a.parts.leader = append(a.parts.leader,
		task{name: "watcher", run: func(ctx context.Context) error {
			return a.runWatcher(azure.WithUrgency(ctx, azure.Background))
		}},
		task{name: "images", run: a.runImages},
		task{name: "outbox", run: w.sender.Run, last: true},
		task{name: "cost-metrics", run: a.costMetrics})
	a.parts.flush = w.sender.Flush
	return nil
}

// runWatcher runs the watcher and exports its firing alerts while it runs.
func (a *App) runWatcher(ctx context.Context) error {
	a.metrics.TrackAlerts(latest(a.w.watcher.Firing, 200*time.Millisecond))
	defer a.metrics.TrackAlerts(nil)
	return a.w.watcher.Run(ctx)
}

// latest returns f's answer when it comes within wait, else its last one:
// the watcher answers only between cycles, and a scrape must not wait for
// a cycle stuck on a slow Azure DevOps.
func latest[T any](f func() T, wait time.Duration) func() T {
	var (
		mu      sync.Mutex
		last    T
		pending chan struct{}
	)
	return func() T {
		mu.Lock()
		if pending == nil {
			done := make(chan struct{})
			pending = done
			go func() {
				v := f()
				mu.Lock()
				last, pending = v, nil
				mu.Unlock()
				close(done)
			}()
		}
		done := pending
		mu.Unlock()
		select {
		case <-done:
		case <-time.After(wait):
		}
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// costMetrics copies each pool's cost so far today to /metrics.
func (a *App) costMetrics(ctx context.Context) error {
	for {
		for _, name := range a.w.tracker.Pools() {
			if v, _, ok := a.w.tracker.Today(ctx, name); ok {
				a.metrics.SetCost(name, v)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(15 * time.Second):
		}
	}
}

// checkSlack keeps the "slack" readiness check: auth.test answers, and in
// Socket Mode a socket was opened.
func (a *App) checkSlack(ctx context.Context) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := a.w.slack.AuthTestContext(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			err = fmt.Errorf("Slack auth.test: %w", err)
		case a.w.socket != nil && a.w.socket.Connections() == 0:
			err = errors.New("Socket Mode not connected yet")
		}
		a.metrics.SetCheck("slack", err)
		wait := time.Minute
		if err != nil {
			wait = 5 * time.Second
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// workingHours tells the watcher whether a pool is inside its schedule's
// working hours, where idle agents are the standby asked for, not waste.
func (a *App) workingHours() func(string) bool {
	if a.w.scheduler == nil {
		return nil
	}
	return func(name string) bool {
		ok, err := a.w.scheduler.Working(context.Background(), name)
		if err != nil {
			a.log.Debug("working hours", "pool", name, "err", err)
		}
		return ok
	}
}

func poolURL(d config.DevOps) func(pool.Pool) string {
	pattern := d.PoolURL
	if pattern == "" {
		pattern = strings.TrimRight(d.OrganizationURL, "/") + "/_settings/agentpools?poolId={id}"
	}
	return func(p pool.Pool) string { return strings.ReplaceAll(pattern, "{id}", strconv.Itoa(p.ID)) }
}

// Handler is the commands handler as the transports call it: it logs one
// line per command with its request id.
func (a *App) Handler() bot.Handler { return loggedHandler{a} }

type loggedHandler struct{ a *App }

func (h loggedHandler) Handle(ctx context.Context, r commands.Request, resp commands.Responder) error {
	start := time.Now()
	// The changes and the failure told to the user go on this line.
	ctx, notes := change.WithNotes(ctx)
	// A person waits: Azure DevOps's throttle is told, not waited out.
	err := h.a.w.handler.Handle(azure.WithUrgency(ctx, azure.Interactive), r, reporting{resp, h.a.w.changer, r.RequestID, h.a.log})
	if err != nil && ctx.Err() != nil && h.a.isStopping() {
		h.a.cutOff(ctx, r, resp)
	}
	verb := r.Text
	if i := strings.IndexByte(verb, ' '); i >= 0 {
		verb = verb[:i]
	}
	if r.Action != nil {
		verb = "action:" + r.Action.ActionID
	}
	attrs := []any{"request_id", r.RequestID, "user", r.UserID, "channel", r.ChannelID, "source", r.Source,
		"command", path.Clean("/" + verb)[1:], "text", r.Text, "took", time.Since(start).Round(time.Millisecond).String()}
	attrs = append(attrs, notes.Attrs()...)
	switch {
	case err != nil:
		h.a.log.Error("command", append(attrs, "err", err)...)
	case notes.Failed():
		h.a.log.Warn("command", attrs...) // told its user it failed
	default:
		h.a.log.Info("command", attrs...)
	}
	h.a.w.sender.Kick()
	return err
}

// cutOffText answers a command that shutdown stopped before it finished.
const cutOffText = "poolbot is shutting down (a restart or a deploy) and stopped `/pool %s` before it finished " +
	"(request %s). It may or may not have taken effect: check `/pool history`, then try again in a minute."

// cutOff tells the requester that shutdown stopped their command, through
// a context that outlives the command's own.
func (a *App) cutOff(ctx context.Context, r commands.Request, resp commands.Responder) {
	what := r.Text
	if r.Action != nil {
		what = "(button " + r.Action.ActionID + ")"
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	text := fmt.Sprintf(cutOffText, strings.ReplaceAll(what, "`", "'"), r.RequestID)
	if err := resp.Respond(rctx, commands.Reply{Text: text}); err != nil {
		a.log.Warn("tell a requester shutdown stopped their command", "request_id", r.RequestID, "err", err)
		return
	}
	a.log.Info("told a requester shutdown stopped their command", "request_id", r.RequestID)
}

func (a *App) isStopping() bool {
	select {
	case <-a.stopping:
		return true
	default:
		return false
	}
}

// FlushOutbox sends every pending Slack message, as shutdown does; the
// demo uses it to deliver what its warm-up queued.
func (a *App) FlushOutbox(ctx context.Context) error { return a.w.sender.Flush(ctx) }

// Prime runs one scheduler pass and one watcher cycle before Run, so that a
// short session (the demo) shows their effects at once. Run's own passes
// find the work done: changes and alerts are claimed in the store.
func (a *App) Prime(ctx context.Context) error {
	if a.w.scheduler != nil {
		if err := a.w.scheduler.Reconcile(ctx); err != nil {
			return fmt.Errorf("scheduler: %w", err)
		}
	}
	return a.w.watcher.Cycle(ctx)
}

// checkRefused is the advisory "outbox" readiness check: messages Slack
// refused for good are kept, and said here until someone sends them again.
func (a *App) checkRefused(ctx context.Context) error {
	msgs, err := a.store.Refused(ctx, 100)
	if err != nil {
		return fmt.Errorf("read refused messages: %w", err)
	}
	a.metrics.SetRefusedKept(len(msgs))
	if len(msgs) == 0 {
		return nil
	}
	n := strconv.Itoa(len(msgs))
	if len(msgs) == 100 {
		n = "100 or more"
	}
	m := msgs[0]
	return fmt.Errorf("%s messages refused by Slack (the first to %s: %s); /pool outbox lists them, /pool outbox retry sends them again",
		n, m.Channel, m.Refusal)
}

// hourZone is the time zone of hour-of-week figures (/pool waits): the
// digest's, else the first schedule's, else UTC.
func hourZone(cfg *config.Config) *time.Location {
	for _, tz := range append([]string{cfg.Cost.DigestTimeZone}, scheduleZones(cfg)...) {
		if tz == "" {
			continue
		}
		if l, err := time.LoadLocation(tz); err == nil {
			return l
		}
	}
	return time.UTC
}

func scheduleZones(cfg *config.Config) []string {
	var out []string
	for _, s := range cfg.Schedules {
		out = append(out, s.TimeZone)
	}
	return out
}

// reporting records, once a reply has reached Slack, that the request's
// changes were told, so that a restart does not tell them again; a change
// whose reply never left is told to its channel by the next start.
type reporting struct {
	commands.Responder
	ch  *change.Changer
	id  string
	log *slog.Logger
}

func (r reporting) Respond(ctx context.Context, rep commands.Reply) error {
	if r.ch.Untold(r.id) {
		rep.Blocks = marked(rep.Blocks, change.ReplyMarker(r.id))
	}
	if err := r.Responder.Respond(ctx, rep); err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.ch.Reported(lctx, r.id); err != nil {
		r.log.Warn("reply sent but not recorded; a restart may tell the change again", "request_id", r.id, "err", err)
	}
	return nil
}

// recoverChanges settles what a dead process left (see
// change.Changer.Reconcile) and sends the messages it queued.
func (a *App) recoverChanges(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r, err := a.w.changer.Reconcile(rctx)
	if err != nil {
		a.log.Error("recovery of interrupted changes", "err", err)
	}
	n := r.Waiting + r.Failed
	if err != nil && n == 0 {
		n = 1 // the store did not answer: try again
	}
	a.recovered.Store(int64(n))
	if r != (change.Recovered{}) {
		a.w.sender.Kick()
	}
}

// recoverLater settles, once their holders' leases lapse (or Azure
// answers), the changes recoverChanges could not settle yet.
func (a *App) recoverLater(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.clock.After(change.DefaultLeaseRenew):
		}
		if a.w.changer.Dirty() || a.recovered.Load() > 0 {
			a.recoverChanges(ctx)
		}
	}
}

// marked returns blocks with the first one carrying id, when it is a
// section without an id of its own; the blocks are not changed in place.
func marked(blocks []slack.Block, id string) []slack.Block {
	if len(blocks) == 0 {
		return blocks
	}
	sec, ok := blocks[0].(*slack.SectionBlock)
	if !ok || sec.BlockID != "" {
		return blocks
	}
	cp := *sec
	cp.BlockID = id
	out := append([]slack.Block{&cp}, blocks[1:]...)
	return out
}

// replied reports whether a reply telling of in's change reached its
// channel: a recent message there carries its marker.
func (a *App) replied(ctx context.Context, in pool.Intent) (bool, error) {
	if in.Channel == "" || in.RequestID == "" || in.Source != "slack" {
		return false, nil
	}
	want := change.ReplyMarker(in.RequestID)
	h, err := a.w.slack.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: in.Channel, Limit: 200})
	if err != nil {
		return false, fmt.Errorf("read %s's history: %w", in.Channel, err)
	}
	for _, m := range h.Messages {
		for _, b := range m.Blocks.BlockSet {
			if b.ID() == want {
				return true, nil
			}
		}
	}
	return false, nil
}

// whatIfRunner is /pool whatif's replay: whatif on the simulator, with the
// configured schedules as policies besides the pool's own settings and the
// autopilot.
func whatIfRunner(schedules []scheduler.Schedule, zone string) commands.WhatIfRunner {
	return func(ctx context.Context, p pool.Pool, jobs []pool.Job) ([]commands.WhatIfRow, error) {
		rs, err := whatif.Stored(ctx, p, jobs, schedules, zone)
		if err != nil {
			return nil, err
		}
		rows := make([]commands.WhatIfRow, len(rs))
		for i, r := range rs {
			rows[i] = commands.WhatIfRow{Policy: r.Policy, IdleVMHours: r.IdleVMHours, Cost: r.Cost, WaitP50: r.WaitP50,
				WaitP95: r.WaitP95, Jobs: r.Jobs, IdleRatio: r.IdleRatio, CostRatio: r.CostRatio, P95Ratio: r.P95Ratio}
		}
		return rows, nil
	}
}
