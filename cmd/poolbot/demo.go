package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/poolbot/poolbot/app"
	"github.com/poolbot/poolbot/config"
	"github.com/poolbot/poolbot/console"
	"github.com/poolbot/poolbot/sim"
	"github.com/poolbot/poolbot/slackstub"
)

// demoConfig is the demo's configuration: the simulator's three scale-set
// pools and its Managed DevOps Pool, the
// office-hours schedule of config.example.toml on linux-ci and windows-ci,
// alerts and the cost digest to #poolbot-demo. Everyone is an admin.
const demoConfig = `
[azure_devops]
organization_url = "{{SIM}}/contoso"
auth = "pat"
pat = "demo"

[azure]
resource_manager_url = "{{SIM}}/"
retail_prices_url = "{{SIM}}/api/retail/prices"
subscription = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-agents"
auth = "static"
static_token = "demo"

[slack]
mode = "http"
signing_secret = "{{SECRET}}"
bot_token = "xoxb-demo"
api_url = "{{SLACK}}"
response_url_hosts = ["{{SLACKHOST}}"]
channel = "#poolbot-demo"

[[templates]]
name = "linux"
os = "linux"
sku = "Standard_D4s_v5"
image = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-agents/providers/Microsoft.Compute/galleries/poolbotgallery/images/ubuntu22"
region = "westeurope"
resource_group = "rg-agents"
admin_user = "azureagent"
ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyOnlyForTheSimulator poolbot"
standby = 1
max = 10
ttl = 30
service_endpoint_id = "11111111-1111-1111-1111-111111111111"
service_endpoint_scope = "22222222-2222-2222-2222-222222222222"

[[images]]
pool = "linux-ci"
project = "platform"
pipeline = 7

[[schedules]]
name = "office-hours"
pools = ["linux-ci", "windows-ci"]
timezone = "Europe/Paris"
channel = "#poolbot-demo"

[[schedules.entries]]
cron = "45 6 * * 1-5"
standby = 1
ttl = 3
restore = true

[[schedules.entries]]
cron = "45 7 * * 1-5"
standby = 3
ttl = 3

[[schedules.entries]]
cron = "0 18 * * 1-5"
standby = 1
ttl = 3

[[schedules.entries]]
cron = "0 20 * * 5"
standby = 0
max = 2
ttl = 1

[[schedules.entries]]
cron = "0 20 * * 1-4"
standby = 0
ttl = 1

# A Managed DevOps Pool beside the three scale-set pools, its standby set by
# poolbot's schedule through a Manual scheme.
[[managed]]
pool = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-agents/providers/Microsoft.DevOpsInfrastructure/pools/mdp-linux"

[[schedules]]
name = "managed-office-hours"
pools = ["mdp-linux"]
timezone = "Europe/Paris"
channel = "#poolbot-demo"

[[schedules.entries]]
cron = "45 7 * * 1-5"
standby = 2

[[schedules.entries]]
cron = "0 20 * * 1-5"
standby = 0

[alerts]
interval = "60s"
repeat_interval = "4h"

[cost]
currency = "USD"
# The simulator serves Cost Management's query as Azure does.
cost_management = true
# Shortly after midnight, so that the demo shows a digest of its first day.
digest_cron = "5 0 * * *"
digest_timezone = "Europe/Paris"
digest_channel = "#poolbot-demo"

[[cost.budgets]]
pools = ["gpu-*"]
daily = 5.0
monthly = 150.0

[store]
path = "{{DB}}"

[server]
listen = "{{LISTEN}}"
shutdown_timeout = "10s"

[log]
format = "text"
level = "{{LEVEL}}"
`

func runDemo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	speed := fs.Float64("speed", 60, "simulated seconds per real second")
	listen := fs.String("listen", "", "also serve Slack's HTTP endpoints, /metrics, /healthz and /readyz on this `address` (e.g. 127.0.0.1:3000)")
	path := fs.String("config", "", "a configuration `file` whose roles, schedules, alerts and cost settings replace the demo's (Azure DevOps, Azure and Slack stay simulated)")
	warm := fs.Duration("warm-up", 26*time.Hour, "simulated time run before the console starts, so that the channel holds a day's schedule changes, alerts and cost digest")
	user := fs.String("user", "", "the Slack user `id` the console speaks as (default: with --config, the first admin its roles name; else "+demoUser+", an admin)")
	verbose := fs.Bool("v", false, "log at info level to standard error (without it the demo logs nothing)")
	jobs := fs.String("jobs", "", "replay this job trace `file` (CSV: pool,queued,duration,result,definition) instead of the built-in arrivals, moved by whole weeks to the demo's days")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: poolbot demo [--speed N] [--warm-up 26h] [--listen 127.0.0.1:3000] [--config FILE [--user ID]] [--jobs FILE] [-v]

Runs poolbot on a simulated Azure DevOps organization with three scale-set pools
(linux-ci, windows-ci, gpu-nightly, which fails) and a Managed DevOps Pool
(mdp-linux), a local Slack, and a console:
type /pool commands (try /pool help); replies and messages posted to channels
are printed as text. A reply with buttons is answered with /pool confirm or
/pool cancel (or a button's label, like "/pool Swap the image"). It exits at
the end of input:

  printf '/pool list\n/pool up linux-ci\n' | poolbot demo

Azure DevOps, Azure and Slack are simulated: --config takes only the roles,
templates, schedules, alerts and cost of FILE, and needs none of its secrets.`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *speed <= 0 {
		return fmt.Errorf("--speed %g: must be above 0", *speed)
	}
	if *warm < 0 {
		return fmt.Errorf("--warm-up %s: must not be negative (0 opens the console at once)", *warm)
	}
	if *user != "" && !validUserID(*user) {
		return fmt.Errorf("--user %q: want a Slack user id such as U0ALICE", *user)
	}

	dir, err := os.MkdirTemp("", "poolbot-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The simulator, on loopback. It starts on Sunday evening; the warm-up
	// runs the bot through Monday, a working day, to just past Monday
	// midnight: the channel then holds the night's scale-down, Monday's
	// restore, gpu-nightly's failures and the digests of Sunday and Monday.
	s := sim.New(sim.Options{Seed: 1, Start: time.Date(2026, 1, 4, 21, 50, 0, 0, time.UTC)})
	if *jobs != "" {
		if err := replayTrace(s, *jobs); err != nil {
			return err
		}
	}
	s.AddManagedPool(sim.ManagedSpec{Name: "mdp-linux", Max: 4, Standby: 1, SKU: "Standard_D2as_v5"})
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	simSrv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go simSrv.Serve(simLn)
	defer simSrv.Close()
	simURL := "http://" + simLn.Addr().String()

	stub := slackstub.New()
	defer stub.Close()
	// Pictures the bot shares (the /pool waits heat map) are saved here,
	// made on the first, and kept after the demo ends so that they can be
	// opened.
	stub.SetFileDir(filepath.Join(os.TempDir(), fmt.Sprintf("poolbot-demo-files-%d", os.Getpid())))

	secret := os.Getenv("SLACK_SIGNING_SECRET")
	if *listen != "" && secret == "" {
		b := make([]byte, 16)
		rand.Read(b)
		secret = hex.EncodeToString(b)
		fmt.Fprintf(stdout, "Slack signing secret for this demo: %s (set SLACK_SIGNING_SECRET to choose one)\n", secret)
	}
	if secret == "" {
		secret = "demo-signing-secret"
	}
	level, logs := "warn", io.Discard
	if *verbose {
		// Logs would otherwise come between the console's lines.
		level, logs = "info", stderr
	}
	cfg, err := loadDemoConfig(dir, strings.NewReplacer("{{SIM}}", simURL, "{{SLACK}}", stub.APIURL(),
		"{{SLACKHOST}}", hostOf(stub.APIURL()),
		"{{SECRET}}", secret, "{{DB}}", filepath.Join(dir, "poolbot.db"), "{{LEVEL}}", level,
		"{{LISTEN}}", orDefault(*listen, "127.0.0.1:0")).Replace(demoConfig))
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	var who consoleUser
	if *path != "" {
		// The simulated services need none of the file's secrets.
		own, err := config.LoadSections(*path, demoSections...)
		if err != nil {
			return err
		}
		cfg.Roles, cfg.Templates, cfg.Schedules = own.Roles, own.Templates, own.Schedules
		cfg.Alerts, cfg.Cost = own.Alerts, own.Cost
		cfg.Cost.CostManagement = false
		who = pickUser(own, *user)
		cfg.Roles = append(cfg.Roles, who.grant...)
	} else {
		who = consoleUser{id: orDefault(*user, demoUser), says: "an admin, as everyone is in the built-in configuration"}
	}
	log, err := app.NewLogger(logs, cfg.Log, "text")
	if err != nil {
		return err
	}

	a, err := app.New(ctx, app.Options{Config: cfg, Logger: log, Clock: s, Owner: "demo",
		EveryoneAdmin: *path == "", NoListen: *listen == ""})
	if err != nil {
		return err
	}
	if addr := a.Addr(); addr != nil {
		fmt.Fprintf(stdout, "Slack endpoints: http://%s/slack/commands and /slack/interactivity (answers to a response_url on Slack or on this demo's local Slack, %s<id>); also /metrics, /healthz, /readyz.\n",
			addr, stub.ResponseURL(""))
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// A scheduler pass and a watcher cycle every 5 simulated minutes of the
	// warm-up: what they post is shown below as the channel stands.
	if err := a.Prime(runCtx); err != nil {
		log.Warn("first pass", "err", err)
	}
	end := s.Now().Add(*warm)
	for now := s.Now(); now.Before(end); now = s.Now() {
		s.Advance(min(5*time.Minute, end.Sub(now)))
		if err := a.Prime(runCtx); err != nil {
			log.Warn("warm-up pass", "err", err)
		}
		if err := deliver(runCtx, a, s); err != nil {
			return err
		}
	}
	// The simulated clock runs until the bot has stopped: its last messages
	// are paced on it.
	simCtx, stopSim := context.WithCancel(context.Background())
	defer stopSim()
	simDone := make(chan struct{})
	go func() { s.Run(simCtx, *speed); close(simDone) }()
	appDone := make(chan error, 1)
	go func() { appDone <- a.Run(runCtx) }()

	fmt.Fprintf(stdout, "poolbot demo: simulated Azure DevOps at %s/contoso; it is %s in Europe/Paris, running %g× real time.\n",
		simURL, s.Now().In(paris()).Format("Mon 2006-01-02 15:04"), *speed)
	fmt.Fprintf(stdout, "You are %s in the console: %s.\n", who.id, who.says)
	fmt.Fprintln(stdout, "Type /pool help; /pool confirm or /pool cancel presses a reply's buttons. Messages posted to channels are shown as [#channel].")
	fmt.Fprintln(stdout)
	con := &console.Console{Handle: a.Handler().Handle, Out: stdout, Prompt: isTerminal(stdin), User: who.id,
		Wait: func(ctx context.Context, d time.Duration) error {
			select {
			case <-s.After(d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}
	msgs := &console.Messages{Stub: stub, C: con}
	if *warm > 0 {
		d := strings.TrimSuffix(strings.TrimSuffix(warm.String(), "0s"), "0m")
		fmt.Fprintf(stdout, "The channels after %s of simulated time (each message as it stands now):\n", d)
		msgs.Backlog()
		fmt.Fprintln(stdout)
	}
	msgCtx, stopMsgs := context.WithCancel(context.Background())
	msgDone := make(chan struct{})
	go func() { msgs.Run(msgCtx, 200*time.Millisecond); close(msgDone) }()

	cerr := con.Run(runCtx, stdin)
	// End of input: stop, which flushes the outbox, then show what it sent.
	stop()
	err = <-appDone
	stopSim()
	<-simDone
	stopMsgs()
	<-msgDone
	msgs.Drain()
	return errors.Join(cerr, err)
}

// deliver sends what a warm-up step queued for Slack. The poster paces
// each channel on the simulated clock, so the clock moves on a second at a
// time while messages wait their turn.
func deliver(ctx context.Context, a *app.App, s *sim.Sim) error {
	done := make(chan error, 1)
	go func() { done <- a.FlushOutbox(ctx) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if s.Waiters() > 0 {
				s.Advance(time.Second)
			}
		}
	}
}

// demoUser is the console's user in the built-in configuration.
const demoUser = "U0DEMO"

// demoSections are what --config takes from a file: the rest is simulated.
var demoSections = []string{"roles", "templates", "schedules", "alerts", "cost"}

// consoleUser is who the console speaks as, what that user may do, and the
// grant the demo adds when the file's roles name no user at all.
type consoleUser struct {
	id    string
	says  string
	grant []config.Role
}

// pickUser chooses the console's user with a file's roles: the one asked
// for, else the first user an unrestricted admin grant names, else the
// first user any grant names; when no grant names a user, the demo's own
// user, granted admin, so that the console is not denied everything.
func pickUser(c *config.Config, asked string) consoleUser {
	summary := rolesOf(c.Roles)
	if asked != "" {
		u := consoleUser{id: asked}
		if r := rolesOfUser(c.Roles, asked); r != "" {
			u.says = r + " by " + c.Path + "'s roles"
		} else {
			u.says = "no role in " + c.Path + ", so every command is denied; the users it grants roles to: " + summary
		}
		return u
	}
	var first string
	for _, r := range c.Roles {
		for _, id := range r.Users {
			if r.Name == "admin" && len(r.Pools) == 0 {
				return consoleUser{id: id, says: "admin by " + c.Path + "'s roles (--user picks another: " + summary + ")"}
			}
			if first == "" {
				first = id
			}
		}
	}
	if first != "" {
		return consoleUser{id: first, says: rolesOfUser(c.Roles, first) + " by " + c.Path + "'s roles (--user picks another: " + summary + ")"}
	}
	return consoleUser{id: demoUser, says: "admin, granted by the demo: " + c.Path + "'s roles name no user (its grants to groups and channels stand)",
		grant: []config.Role{{Name: "admin", Users: []string{demoUser}}}}
}

// rolesOfUser describes the grants naming id: "admin", "operator on linux-*".
func rolesOfUser(roles []config.Role, id string) string {
	var out []string
	for _, r := range roles {
		if slices.Contains(r.Users, id) {
			g := r.Name
			if len(r.Pools) > 0 {
				g += " on " + strings.Join(r.Pools, ", ")
			}
			out = append(out, g)
		}
	}
	return strings.Join(out, " and ")
}

// rolesOf lists the users the roles name, each with its grants.
func rolesOf(roles []config.Role) string {
	var out []string
	seen := map[string]bool{}
	for _, r := range roles {
		for _, id := range r.Users {
			if !seen[id] {
				seen[id] = true
				out = append(out, id+" "+rolesOfUser(roles, id))
			}
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// validUserID accepts what Slack's user ids look like: U or W and capitals
// and digits.
func validUserID(id string) bool {
	if len(id) < 2 || len(id) > 32 || (id[0] != 'U' && id[0] != 'W') {
		return false
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func loadDemoConfig(dir, text string) (*config.Config, error) {
	p := filepath.Join(dir, "demo.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		return nil, err
	}
	return config.Load(p)
}

// hostOf is u's host:port: the demo's local Slack, the one host beside
// Slack's where poolbot may post a command's answer.
func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func paris() *time.Location {
	if l, err := time.LoadLocation("Europe/Paris"); err == nil {
		return l
	}
	return time.UTC
}

// isTerminal reports whether r is an interactive terminal, to show a prompt.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
