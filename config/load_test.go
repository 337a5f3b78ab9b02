package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func setExampleEnv(t *testing.T) {
	t.Helper()
	t.Setenv("AZDO_PAT", "pat-value-secret")
	t.Setenv("SLACK_SIGNING_SECRET", "signing-value-secret")
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-value-secret")
}

func TestLoadExample(t *testing.T) {
	setExampleEnv(t)
	c, err := Load(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatalf("Load example: %v", err)
	}
	if got := c.DevOps.PAT.Value(); got != "pat-value-secret" {
		t.Errorf("pat = %q", got)
	}
	if c.DevOps.OrganizationURL != "http://127.0.0.1:7070/contoso" {
		t.Errorf("organization_url = %q", c.DevOps.OrganizationURL)
	}
	if c.Slack.Mode != "http" || c.Slack.BotToken.Value() != "xoxb-value-secret" || c.Slack.SigningSecret.Value() != "signing-value-secret" {
		t.Errorf("slack = %+v", c.Slack)
	}
	if len(c.Roles) != 4 || c.Roles[3].Pools[0] != "linux-*" {
		t.Errorf("roles = %+v", c.Roles)
	}
	if len(c.Templates) != 2 || c.Templates[0].OS != "linux" || c.Templates[1].OS != "windows" {
		t.Errorf("templates = %+v", c.Templates)
	}
	if len(c.Schedules) != 1 {
		t.Fatalf("schedules = %+v", c.Schedules)
	}
	s := c.Schedules[0]
	if s.Name != "office-hours" || s.TimeZone != "Europe/Paris" || len(s.Entries) != 5 || len(s.Skip) == 0 {
		t.Errorf("schedule = %+v", s)
	}
	if e := s.Entries[0]; e.Cron != "45 6 * * 1-5" || e.Standby == nil || *e.Standby != 1 || !e.Restore {
		t.Errorf("entry 0 = %+v", e)
	}
	if e := s.Entries[3]; e.Max == nil || *e.Max != 2 {
		t.Errorf("entry 3 = %+v", e)
	}
	if c.Cost.DigestCron != "0 8 * * *" || len(c.Cost.Budgets) != 2 || c.Cost.Prices["Standard_D4s_v5"] == 0 {
		t.Errorf("cost = %+v", c.Cost)
	}
	if c.Alerts.Interval.Duration != time.Minute || len(c.Alerts.Routes) != 2 {
		t.Errorf("alerts = %+v", c.Alerts)
	}
	if c.Store.Driver != "sqlite" || c.Azure.Auth != "static" || c.Azure.ResourceManagerURL != "http://127.0.0.1:7070/" {
		t.Errorf("store/azure = %+v %+v", c.Store, c.Azure)
	}
	if errs := c.Validate(); len(errs) != 0 {
		t.Errorf("Validate: %v", errs)
	}
}

const minimal = `
[azure_devops]
organization_url = "https://dev.azure.com/contoso/"
pat = "literal-pat"

[slack]
signing_secret = "s"
bot_token = "xoxb-1"
`

func TestDefaults(t *testing.T) {
	c := mustParse(t, minimal)
	checks := []struct {
		name      string
		got, want any
	}{
		{"organization_url trimmed", c.DevOps.OrganizationURL, "https://dev.azure.com/contoso"},
		{"devops auth", c.DevOps.Auth, "pat"},
		{"concurrency", c.DevOps.Concurrency, 8},
		{"pool_url", c.DevOps.PoolURL, "https://dev.azure.com/contoso/_settings/agentpools?poolId={id}"},
		{"arm url", c.Azure.ResourceManagerURL, "https://management.azure.com"},
		{"azure auth", c.Azure.Auth, "default"},
		{"retail prices", c.Azure.RetailPricesURL, "https://prices.azure.com/api/retail/prices"},
		{"slack mode", c.Slack.Mode, "http"},
		{"slack api", c.Slack.APIURL, "https://slack.com/api/"},
		{"workers", c.Slack.Workers, 8},
		{"queue", c.Slack.Queue, 64},
		{"interval", c.Alerts.Interval.Duration, 60 * time.Second},
		{"repeat", c.Alerts.RepeatInterval.Duration, 4 * time.Hour},
		{"stuck", c.Alerts.StuckAfter.Duration, 20 * time.Minute},
		{"offline", c.Alerts.OfflineAfter.Duration, 15 * time.Minute},
		{"saturated", c.Alerts.SaturatedAfter.Duration, 10 * time.Minute},
		{"currency", c.Cost.Currency, "USD"},
		{"driver", c.Store.Driver, "sqlite"},
		{"path", c.Store.Path, "poolbot.db"},
		{"listen", c.Server.Listen, "127.0.0.1:3000"},
		{"log level", c.Log.Level, "info"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := parse("test.toml", []byte(doc))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return c
}

func TestLoadErrors(t *testing.T) {
	t.Setenv("POOLBOT_TEST_SET", "value-from-env")
	os.Unsetenv("POOLBOT_TEST_UNSET")
	tests := []struct {
		name string
		doc  string // appended to minimal (8 lines): its first line is line 9
		want []string
	}{
		{"unknown key", "[store]\nbogus = 1\n", []string{`test.toml:10: key store.bogus: unknown key`}},
		{"unknown table", "[nope]\nx = 1\n", []string{`test.toml:9: key nope: unknown key`}},
		{"unknown keys in arrays", "[[schedules]]\nname = \"a\"\n[[schedules]]\nname = \"b\"\ncolour = 1\n",
			[]string{`test.toml:13: key schedules[1].colour: unknown key`}},
		{"table twice", "[slack]\n", []string{"test.toml:9:"}},
		{"wrong int type", "[server]\nlisten = 3000\n", []string{`test.toml:10: key server.listen:`, "string"}},
		{"wrong type nested", "[[schedules]]\nname = \"a\"\npools = [\"x\"]\n[[schedules.entries]]\ncron = \"0 7 * * *\"\nstandby = \"two\"\n",
			[]string{`test.toml:14: key schedules[0].entries[0].standby:`}},
		{"bad duration", "[alerts]\ninterval = \"soon\"\n", []string{`test.toml:10: key alerts.interval: not a duration`}},
		{"duration not string", "[alerts]\ninterval = 60\n", []string{`test.toml:10: key alerts.interval: must be a duration in quotes, like "90s", "15m" or "4h", not a whole number`}},
		{"unset env secret", "[store]\ndriver = \"postgres\"\ndsn = \"${POOLBOT_TEST_UNSET}\"\n",
			[]string{`test.toml:11: key store.dsn: environment variable POOLBOT_TEST_UNSET is not set`}},
		{"unreadable file secret", "[store]\ndsn = \"file:/nonexistent/poolbot/dsn\"\n",
			[]string{`test.toml:10: key store.dsn: read secret file /nonexistent/poolbot/dsn`}},
		{"secret not string", "[azure]\nstatic_token = 12345\n", []string{`test.toml:10: key azure.static_token: must be a string in quotes`}},
		{"driver", "[store]\ndriver = \"mysql\"\n", []string{`test.toml:10: key store.driver: "mysql" is not one of sqlite, postgres`}},
		{"postgres needs dsn", "[store]\ndriver = \"postgres\"\n", []string{`test.toml:9: key store.dsn: required`}},
		{"role name", "[[roles]]\nname = \"root\"\nusers = [\"U1\"]\n", []string{`test.toml:10: key roles[0].name: "root" is not one of viewer, operator, admin`}},
		{"role nobody", "[[roles]]\nname = \"viewer\"\n", []string{`test.toml:9: key roles[0]: grants the role to no one`}},
		{"role bad glob", "[[roles]]\nname = \"viewer\"\nusers = [\"U1\"]\npools = [\"linux-[\"]\n", []string{`test.toml:12: key roles[0].pools[0]:`}},
		{"template os", "[[templates]]\nname = \"t\"\nos = \"bsd\"\nsku = \"S\"\nimage = \"a:b:c:d\"\nmax = 1\n", []string{`test.toml:11: key templates[0].os: "bsd" is not one of linux, windows`}},
		{"template image", "[[templates]]\nname = \"t\"\nos = \"Linux\"\nsku = \"S\"\nimage = \"/nope\"\nmax = 1\n", []string{`test.toml:13: key templates[0].image:`}},
		{"schedule zone", "[[schedules]]\nname = \"a\"\npools = [\"x\"]\ntimezone = \"Mars/Olympus\"\n[[schedules.entries]]\ncron = \"0 7 * * *\"\nstandby = 1\n",
			[]string{`test.toml:12: key schedules[0].timezone: unknown time zone "Mars/Olympus"`}},
		{"schedule skip date", "[[schedules]]\nname = \"a\"\npools = [\"x\"]\nskip = [\"25/12\"]\n[[schedules.entries]]\ncron = \"0 7 * * *\"\nstandby = 1\n",
			[]string{`test.toml:12: key schedules[0].skip[0]: "25/12" is not a date`}},
		{"entry changes nothing", "[[schedules]]\nname = \"a\"\npools = [\"x\"]\n[[schedules.entries]]\ncron = \"0 7 * * *\"\n",
			[]string{`test.toml:12: key schedules[0].entries[0]: changes nothing`}},
		{"entry standby above max", "[[schedules]]\nname = \"a\"\npools = [\"x\"]\nentries = [{cron = \"0 7 * * *\", standby = 3, max = 2}]\n",
			[]string{`test.toml:12: key schedules[0].entries[0].standby: must not exceed max (2)`}},
		{"duplicate schedule", "[[schedules]]\nname = \"a\"\npools = [\"x\"]\nentries = [{cron = \"0 7 * * *\", restore = true}]\n[[schedules]]\nname = \"a\"\npools = [\"x\"]\nentries = [{cron = \"0 7 * * *\", restore = true}]\n",
			[]string{`test.toml:14: key schedules[1].name: schedule "a" is defined twice`}},
		{"route without channel", "[alerts]\nroutes = [{pools = [\"x\"]}]\n", []string{`test.toml:10: key alerts.routes[0].channel: required`}},
		{"digest zone", "[cost]\ndigest_timezone = \"Nowhere\"\n", []string{`test.toml:10: key cost.digest_timezone: unknown time zone`}},
		{"budget", "[[cost.budgets]]\npools = [\"x\"]\n", []string{`test.toml:9: key cost.budgets[0]: sets no budget`}},
		{"several at once", "[store]\ndriver = \"x\"\n[log]\nlevel = \"loud\"\n",
			[]string{`test.toml:10: key store.driver`, `test.toml:12: key log.level`}},
		{"syntax", "[store\n", []string{`test.toml:9:`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse("test.toml", []byte(minimal+tc.doc))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestSlackAndAuthRequirements(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"http needs signing secret", "[azure_devops]\norganization_url = \"http://x\"\npat = \"p\"\n[slack]\nbot_token = \"b\"\n", "key slack.signing_secret: required"},
		{"socket needs app token", "[azure_devops]\norganization_url = \"http://x\"\npat = \"p\"\n[slack]\nmode = \"socket\"\nbot_token = \"b\"\n", "key slack.app_token: required"},
		{"bad mode", "[azure_devops]\norganization_url = \"http://x\"\npat = \"p\"\n[slack]\nmode = \"rtm\"\nbot_token = \"b\"\n", `test.toml:5: key slack.mode: "rtm" is not one of http, socket`},
		{"pat required", "[azure_devops]\norganization_url = \"http://x\"\n[slack]\nsigning_secret = \"s\"\nbot_token = \"b\"\n", "test.toml:1: key azure_devops.pat: required"},
		{"entra needs no pat", "[azure_devops]\norganization_url = \"http://x\"\nauth = \"entra\"\n[slack]\nsigning_secret = \"s\"\nbot_token = \"b\"\n", ""},
		{"client secret parts", "[azure_devops]\norganization_url = \"http://x\"\npat = \"p\"\n[azure]\nauth = \"client_secret\"\n[slack]\nsigning_secret = \"s\"\nbot_token = \"b\"\n", "key azure.tenant_id: required"},
		{"org url", "[azure_devops]\norganization_url = \"dev.azure.com/x\"\npat = \"p\"\n[slack]\nsigning_secret = \"s\"\nbot_token = \"b\"\n", "test.toml:2: key azure_devops.organization_url: \"dev.azure.com/x\" is not an http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse("test.toml", []byte(tc.doc))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "dsn")
	if err := os.WriteFile(secretFile, []byte("postgres://u:hunter2@db/poolbot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POOLBOT_TEST_BOT", "xoxb-from-env")
	doc := minimal + "[store]\ndriver = \"postgres\"\ndsn = \"file:" + secretFile + "\"\n[azure]\nauth = \"static\"\nstatic_token = \"${POOLBOT_TEST_BOT}\"\n"
	c := mustParse(t, doc)
	if got := c.Store.DSN.Value(); got != "postgres://u:hunter2@db/poolbot" {
		t.Errorf("dsn = %q", got)
	}
	if got := c.Store.DSN.Source(); got != "file "+secretFile {
		t.Errorf("dsn source = %q", got)
	}
	if got := c.Azure.StaticToken.Value(); got != "xoxb-from-env" {
		t.Errorf("static token = %q", got)
	}
}

// A secret's value must not appear in any error, whatever else is wrong.
func TestSecretNeverInErrors(t *testing.T) {
	const value = "hunter2-very-secret"
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "s")
	if err := os.WriteFile(secretFile, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POOLBOT_TEST_SECRET", value)
	docs := []string{
		"[azure_devops]\npat = \"" + value + "\"\nbogus = \"" + "x" + "\"\n",
		"[azure_devops]\npat = \"${POOLBOT_TEST_SECRET}\"\n[store]\ndriver = \"postgres\"\ndsn = 7\n",
		"[azure_devops]\npat = \"file:" + secretFile + "\"\norganization_url = \"nope\"\n[slack]\nmode = \"x\"\n",
		"[azure_devops]\npat = [\"" + value + "\"]\n",
		"[azure_devops]\npat = \"" + value + "\n",
	}
	for i, doc := range docs {
		_, err := parse("test.toml", []byte(doc))
		if err == nil {
			t.Fatalf("doc %d: no error", i)
		}
		if strings.Contains(err.Error(), value) {
			t.Errorf("doc %d: error shows the secret: %v", i, err)
		}
	}
}

func TestKeyError(t *testing.T) {
	setExampleEnv(t)
	c, err := Load(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	got := c.KeyError("schedules[0].entries[3].cron", "bad cron %q", "x").Error()
	if !regexp.MustCompile(`^\.\./config\.example\.toml:\d+: key schedules\[0\]\.entries\[3\]\.cron: bad cron "x"$`).MatchString(got) {
		t.Errorf("KeyError = %q", got)
	}
	data, _ := os.ReadFile(filepath.Join("..", "config.example.toml"))
	lines := strings.Split(string(data), "\n")
	var line int
	if _, err := fmtSscanLine(got, &line); err != nil || !strings.HasPrefix(lines[line-1], `cron = "0 20 * * 5"`) {
		t.Errorf("line %d is %q", line, lines[max(line-1, 0)])
	}
	// A key not written points at its table.
	if got := c.KeyError("cost.digest_channel_missing", "x").Error(); !strings.Contains(got, ".toml:") {
		t.Errorf("KeyError for missing key = %q", got)
	}
	var unsaved Config
	if got := unsaved.KeyError("a.b", "r").Error(); got != "key a.b: r" {
		t.Errorf("KeyError without file = %q", got)
	}

	// The lines are the file's as it was loaded: it is not read again.
	moved := filepath.Join(t.TempDir(), "poolbot.toml")
	if err := os.WriteFile(moved, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(moved)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(moved, []byte("# edited since\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if again := c.KeyError("schedules[0].entries[3].cron", "bad cron %q", "x").Error(); again != strings.Replace(got, "../config.example.toml", moved, 1) {
		t.Errorf("KeyError after the file changed = %q; want the line of the file loaded, as in %q", again, got)
	}
}

func fmtSscanLine(s string, line *int) (int, error) {
	m := regexp.MustCompile(`:(\d+): `).FindStringSubmatch(s)
	if m == nil {
		return 0, os.ErrNotExist
	}
	n := 0
	for _, r := range m[1] {
		n = n*10 + int(r-'0')
	}
	*line = n
	return 1, nil
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.toml")); err == nil {
		t.Fatal("no error")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("[[schedules]]\nname='a'\n[[schedules.entries]]\ncron='x'\nfoo=2\n"))
	f.Add([]byte("[alerts]\nroutes = [{pools=['a'], channel=1}]\n"))
	if data, err := os.ReadFile(filepath.Join("..", "config.example.toml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("\xEF\xBB\xBF[slack]\nworkers = \"8\"\n[[schedules]]\nentries = [{cron = 1, standby = \"x\"}]\n[cost]\ndigest_cron = \"0 25 * * *\"\n"))
	f.Add([]byte("[schedules]\n[[store]]\n[cost.currency]\nx = 1\n[azure_devops]\npat = 5\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, errs := parseAll("fuzz.toml", doc, nil)
		if len(errs) == 0 && c == nil {
			t.Fatal("nil config without error")
		}
		last := 0
		for _, err := range errs {
			var e *Error
			if !errors.As(err, &e) || e.File != "fuzz.toml" || !strings.HasPrefix(err.Error(), "fuzz.toml") {
				t.Fatalf("error not in the file's format: %v", err)
			}
			if e.Line < last {
				t.Fatalf("errors out of line order: %v", errs)
			}
			last = e.Line
			if strings.Contains(e.Msg, "struct field") || strings.Contains(e.Msg, "config.") {
				t.Fatalf("Go's words in an error: %v", err)
			}
		}
		// What is read of the sections asked is read as the whole file reads it.
		if s, errs2 := parseAll("fuzz.toml", doc, map[string]bool{"schedules": true}); len(errs) == 0 && (len(errs2) > 0 || s == nil || len(s.Schedules) != len(c.Schedules)) {
			t.Fatalf("the schedules alone: %v", errs2)
		}
	})
}

// TestEveryProblemInOrder: a broken file gets every problem at once, in the
// order of its lines, each as FILE:LINE: key K: reason in words.
func TestEveryProblemInOrder(t *testing.T) {
	os.Unsetenv("POOLBOT_TEST_UNSET_A")
	os.Unsetenv("POOLBOT_TEST_UNSET_B")
	const sched = "[[schedules]]\nname = \"a\"\npools = [\"x\"]\n" // lines 9-11
	tests := []struct {
		name string
		doc  string   // appended to minimal: its first line is line 9
		want []string // each error, in order
	}{
		{"workers as a string", "", []string{`test.toml:7: key slack.workers: must be a whole number, not a string`}},
		{"misspelt section", "[slack2]\n", []string{`test.toml:9: key slack2: unknown key; did you mean slack?`}},
		{"a whole number, not a string", "[store]\npath = \"p.db\"\n[server]\nlisten = \"127.0.0.1:1\"\nshutdown_timeout = 5\n",
			[]string{`test.toml:13: key server.shutdown_timeout: must be a duration in quotes, like "90s", "15m" or "4h", not a whole number`}},
		{"digest cron hour 25", "[cost]\ndigest_cron = \"0 25 * * *\"\n",
			[]string{`test.toml:10: key cost.digest_cron: "0 25 * * *" is not a 5-field cron expression`}},
		{"digest cron that never fires", "[cost]\ndigest_cron = \"0 8 31 2 *\"\n",
			[]string{`test.toml:10: key cost.digest_cron: "0 8 31 2 *" never fires`}},
		{"line order across passes", "[store]\ndriver = \"mysql\"\n[alerts]\ninterval = 5\n[log]\nlevel = \"loud\"\nformat = 1\n",
			[]string{`test.toml:10: key store.driver: "mysql" is not one of sqlite, postgres`,
				`test.toml:12: key alerts.interval: must be a duration`,
				`test.toml:14: key log.level: "loud" is not one of`,
				`test.toml:15: key log.format: must be a string in quotes, not a whole number`}},
		{"standby in an inline entry", sched + "entries = [{cron = \"0 7 * * *\", standby = \"two\"}]\n",
			[]string{`test.toml:12: key schedules[0].entries[0].standby: must be a whole number, not a string`}},
		{"a pool that is a number", "[[schedules]]\nname = \"a\"\npools = [\"x\", 1]\nentries = [{cron = \"0 7 * * *\", standby = 1}]\n",
			[]string{`test.toml:11: key schedules[0].pools[1]: must be a string in quotes, not a whole number`}},
		{"misspelt key", "[alerts]\nintervl = \"60s\"\n", []string{`test.toml:10: key alerts.intervl: unknown key; did you mean interval?`}},
		{"misspelt table", "[[schedule]]\nname = \"a\"\n", []string{`test.toml:9: key schedule[0]: unknown key; did you mean schedules?`}},
		{"a list of tables written as a table", "[schedules]\nname = \"a\"\n", []string{`test.toml:9: key schedules: is a list of tables: write [[schedules]] for each`}},
		{"a table written as a list", "[[store]]\npath = \"x\"\n", []string{`test.toml:9: key store[0]: is a table, not a list of tables: write [store], not [[store]]`}},
		{"a boolean as a string", sched + "correct = \"yes\"\n[[schedules.entries]]\ncron = \"0 7 * * *\"\nstandby = 1\n",
			[]string{`test.toml:12: key schedules[0].correct: must be true or false, not a string`}},
		{"a price as a string", "[[cost.budgets]]\npools = [\"x\"]\ndaily = \"5\"\n", []string{`test.toml:11: key cost.budgets[0].daily: must be a number, not a string`}},
		{"two unset variables", "[store]\ndriver = \"postgres\"\ndsn = \"${POOLBOT_TEST_UNSET_A}\"\n[azure]\nauth = \"static\"\nstatic_token = \"${POOLBOT_TEST_UNSET_B}\"\n",
			[]string{`test.toml:11: key store.dsn: environment variable POOLBOT_TEST_UNSET_A is not set`,
				`test.toml:14: key azure.static_token: environment variable POOLBOT_TEST_UNSET_B is not set`}},
		{"syntax", "[store]\npath = \"x\n", []string{`test.toml:10: not valid TOML:`}},
		{"a fraction of a minute", "[[templates]]\nname = \"t\"\nos = \"linux\"\nsku = \"S\"\nimage = \"a:b:c:d\"\nmax = 1\nttl = 1.5\n",
			[]string{`test.toml:15: key templates[0].ttl: must be a whole number, not a decimal number`}},
		{"skip not a list", sched + "skip = \"2026-01-01\"\nentries = [{cron = \"0 7 * * *\", standby = 1}]\n",
			[]string{`test.toml:12: key schedules[0].skip: must be a list of strings, like ["a", "b"], not a string`}},
		{"a date unquoted", sched + "skip = [2026-01-01]\nentries = [{cron = \"0 7 * * *\", standby = 1}]\n",
			[]string{`test.toml:12: key schedules[0].skip[0]: must be a string in quotes, not a date`}},
		{"a key under a string", "[cost]\ncurrency.code = \"EUR\"\n", []string{`test.toml:10: key cost.currency.code: cost.currency is a string in quotes, not a table`}},
		{"everything wrong in one schedule", sched + "timezone = \"Mars/Olympus\"\nbogus = 1\n[[schedules.entries]]\ncron = \"0 7 * * *\"\nstandby = -1\nmax = \"ten\"\n",
			[]string{`test.toml:12: key schedules[0].timezone: unknown time zone "Mars/Olympus"`,
				`test.toml:13: key schedules[0].bogus: unknown key`,
				`test.toml:16: key schedules[0].entries[0].standby: must not be negative`,
				`test.toml:17: key schedules[0].entries[0].max: must be a whole number, not a string`}},
		{"nothing wrong", "[store]\npath = \"x\"\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := minimal + tc.doc
			if tc.name == "workers as a string" {
				doc = strings.Replace(minimal, "[slack]\n", "[slack]\nworkers = \"8\"\n", 1)
			}
			_, err := parse("test.toml", []byte(doc))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%s", len(got), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("error %d:\n  %s\nwant it to start with\n  %s", i+1, got[i], w)
				}
			}
		})
	}
}

// A UTF-8 byte-order mark is skipped; UTF-16 is named.
func TestByteOrderMark(t *testing.T) {
	c, err := parse("test.toml", []byte("\xEF\xBB\xBF"+minimal+"[store]\ndriver = \"mysql\"\n"))
	if err == nil || c != nil {
		t.Fatalf("no error for the bad driver after a byte-order mark")
	}
	if want := `test.toml:10: key store.driver: "mysql" is not one of`; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want %q: the mark shifts no line", err, want)
	}
	if _, err := parse("test.toml", []byte("\xEF\xBB\xBF"+minimal)); err != nil {
		t.Errorf("a byte-order mark is refused: %v", err)
	}
	if _, err := parse("test.toml", []byte("\xFF\xFE[\x00")); err == nil || !strings.Contains(err.Error(), "UTF-16; save it as UTF-8") {
		t.Errorf("UTF-16: %v", err)
	}
}

// LoadSections reads only the sections asked for: no secret of another is
// resolved, and nothing there is checked.
func TestLoadSections(t *testing.T) {
	os.Unsetenv("AZDO_PAT")
	os.Unsetenv("SLACK_SIGNING_SECRET")
	os.Unsetenv("SLACK_BOT_TOKEN")
	path := filepath.Join("..", "config.example.toml")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "AZDO_PAT is not set") {
		t.Fatalf("Load without the secrets: %v", err)
	}
	c, err := LoadSections(path, "roles", "templates", "schedules", "alerts", "cost")
	if err != nil {
		t.Fatalf("LoadSections: %v", err)
	}
	if len(c.Roles) != 4 || len(c.Schedules) != 1 || c.Cost.DigestCron != "0 8 * * *" || c.DevOps.PAT.IsSet() {
		t.Errorf("sections read: roles %d, schedules %d, cost %+v, pat set %v", len(c.Roles), len(c.Schedules), c.Cost, c.DevOps.PAT.IsSet())
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.toml")
	os.WriteFile(p, []byte("[azure_devops]\npat = 5\n[bogus]\n[[schedules]]\nname = 1\n"), 0o600)
	_, err = LoadSections(p, "schedules")
	if err == nil {
		t.Fatal("no error")
	}
	got := err.Error()
	for _, w := range []string{":3: key bogus: unknown key", ":5: key schedules[0].name: must be a string in quotes, not a whole number"} {
		if !strings.Contains(got, w) {
			t.Errorf("error lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "azure_devops") {
		t.Errorf("a section not read is checked:\n%s", got)
	}
}
