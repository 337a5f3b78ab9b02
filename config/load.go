package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/poolbot/poolbot/pool"
)

// Load reads the TOML file at path, resolves its secrets, applies the
// defaults written in the types' comments and validates what can be checked
// without the network. Every problem is reported as "FILE:LINE: key a.b.c:
// reason"; several problems are joined into one error. A secret's value never
// appears in an error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data)
}

func parse(file string, data []byte) (*Config, error) {
	idx, err := indexDocument(data)
	if err != nil {
		// A syntax error: let the decoder describe it with its position.
		var c Config
		derr := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(&c)
		if derr == nil {
			derr = err
		}
		return nil, decodeErrors(file, idx, derr)
	}
	if errs := checkTextTypes(file, idx); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := &Config{}
	if err := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(c); err != nil {
		return nil, decodeErrors(file, idx, err)
	}
	c.Path = file
	c.applyDefaults()
	if errs := c.validate(idx); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Validate checks the configuration as Load does and returns every problem,
// each naming the file, line and key when c was loaded from a file. Load
// already calls it; use it after changing a Config in code.
func (c *Config) Validate() []error {
	return c.validate(c.index())
}

// KeyError returns an error in Load's style for key, written as in Load's
// errors ("schedules[0].entries[1].cron"): "FILE:LINE: key K: reason". The
// line is looked up in c.Path; without it the error names only the key.
// Other packages use it to report their own checks of the configuration.
func (c *Config) KeyError(key string, format string, args ...any) error {
	return c.index().errorf(key, format, args...)
}

func (c *Config) index() *docIndex {
	idx := &docIndex{}
	if c.Path != "" {
		if data, err := os.ReadFile(c.Path); err == nil {
			if i, err := indexDocument(data); err == nil {
				idx = i
			}
		}
	}
	idx.file = c.Path
	return idx
}

// decodeErrors turns go-toml's errors into "FILE:LINE: key K: reason".
func decodeErrors(file string, idx *docIndex, err error) error {
	if idx == nil {
		idx = &docIndex{}
	}
	idx.file = file
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]error, 0, len(strict.Errors))
		for i := range strict.Errors {
			e := &strict.Errors[i]
			line, _ := e.Position()
			errs = append(errs, idx.lineError(line, idx.keyAt(line, e.Key()), "unknown key"))
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if len(de.Key()) == 0 {
			return fmt.Errorf("%s:%d: %s", file, line, msg)
		}
		return idx.lineError(line, idx.keyAt(line, de.Key()), msg)
	}
	return fmt.Errorf("%s: %w", file, err)
}

// entry is one key = value of the document.
type entry struct {
	key   string   // with array indexes: schedules[0].entries[1].cron
	plain []string // without: schedules, entries, cron
	line  int
	kind  unstable.Kind
}

// docIndex knows the line of every key of a document, so that errors found
// after decoding can still name it.
type docIndex struct {
	file    string
	entries []entry
	lines   map[string]int // key (and each table's key) → line
}

func (d *docIndex) errorf(key, format string, args ...any) error {
	line := 0
	if d.lines != nil {
		line = d.lines[key]
		if line == 0 {
			// A key left out: point at its closest table.
			for k := key; line == 0 && k != ""; {
				k = parentKey(k)
				line = d.lines[k]
			}
		}
	}
	return d.lineError(line, key, fmt.Sprintf(format, args...))
}

func (d *docIndex) lineError(line int, key, reason string) error {
	switch {
	case d.file == "" && line == 0:
		return fmt.Errorf("key %s: %s", key, reason)
	case line == 0:
		return fmt.Errorf("%s: key %s: %s", d.file, key, reason)
	default:
		return fmt.Errorf("%s:%d: key %s: %s", d.file, line, key, reason)
	}
}

// keyAt returns the indexed name of the key on line whose plain path is k,
// or k dotted when the index does not know it.
func (d *docIndex) keyAt(line int, k toml.Key) string {
	for _, e := range d.entries {
		if e.line == line && equalKey(e.plain, k) {
			return e.key
		}
	}
	for _, e := range d.entries {
		if e.line == line && len(e.plain) >= len(k) && equalKey(e.plain[len(e.plain)-len(k):], k) {
			return e.key
		}
	}
	return joinKey(k)
}

func equalKey(a []string, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func joinKey(parts []string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(quoteKey(p))
	}
	return b.String()
}

func quoteKey(p string) string {
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return strconv.Quote(p)
		}
	}
	if p == "" {
		return `""`
	}
	return p
}

// parentKey drops the last part of an indexed key: a.b[1].c → a.b[1] → a.b → a.
func parentKey(k string) string {
	if strings.HasSuffix(k, "]") {
		if i := strings.LastIndexByte(k, '['); i >= 0 {
			return k[:i]
		}
	}
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i]
	}
	return ""
}

// indexDocument walks the document's syntax tree and records where each key
// is, numbering the elements of arrays of tables as the decoder does.
func indexDocument(data []byte) (*docIndex, error) {
	d := &docIndex{lines: map[string]int{}}
	arrays := map[string]int{} // indexed key of an array of tables → elements so far
	var p unstable.Parser
	p.Reset(data)
	prefix, plainPrefix := "", []string(nil)

	// resolve returns the indexed key of a table path: each part that names
	// an array of tables refers to its last element.
	resolve := func(parts []string) string {
		k := ""
		for _, part := range parts {
			if k != "" {
				k += "."
			}
			k += quoteKey(part)
			if n, ok := arrays[k]; ok {
				k += "[" + strconv.Itoa(n-1) + "]"
			}
		}
		return k
	}
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, line := keyParts(&p, n)
			plainPrefix = parts
			if n.Kind == unstable.Table {
				prefix = resolve(parts)
			} else {
				base := resolve(parts[:len(parts)-1])
				if base != "" {
					base += "."
				}
				base += quoteKey(parts[len(parts)-1])
				i := arrays[base]
				arrays[base] = i + 1
				if _, ok := d.lines[base]; !ok {
					d.lines[base] = line
				}
				prefix = base + "[" + strconv.Itoa(i) + "]"
			}
			d.lines[prefix] = line
		case unstable.KeyValue:
			d.addKeyValue(&p, n, prefix, plainPrefix)
		}
	}
	if err := p.Error(); err != nil {
		return d, err
	}
	return d, nil
}

func keyParts(p *unstable.Parser, n *unstable.Node) ([]string, int) {
	var parts []string
	line := 0
	it := n.Key()
	for it.Next() {
		k := it.Node()
		if line == 0 {
			line = p.Shape(k.Raw).Start.Line
		}
		parts = append(parts, string(k.Data))
	}
	return parts, line
}

func (d *docIndex) addKeyValue(p *unstable.Parser, n *unstable.Node, prefix string, plainPrefix []string) {
	parts, line := keyParts(p, n)
	key := prefix
	for _, part := range parts {
		if key != "" {
			key += "."
		}
		key += quoteKey(part)
	}
	plain := append(append([]string(nil), plainPrefix...), parts...)
	d.addValue(p, n.Value(), key, plain, line)
}

func (d *docIndex) addValue(p *unstable.Parser, v *unstable.Node, key string, plain []string, line int) {
	d.entries = append(d.entries, entry{key: key, plain: plain, line: line, kind: v.Kind})
	if _, ok := d.lines[key]; !ok {
		d.lines[key] = line
	}
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			d.addKeyValue(p, it.Node(), key, plain)
		}
	case unstable.Array:
		it := v.Children()
		for i := 0; it.Next(); i++ {
			el := it.Node()
			if el.Kind != unstable.InlineTable {
				continue
			}
			elLine := line
			if el.Raw.Length > 0 {
				elLine = p.Shape(el.Raw).Start.Line
			}
			d.addValue(p, el, key+"["+strconv.Itoa(i)+"]", plain, elLine)
		}
	}
}

// checkTextTypes reports values of Duration and Secret keys that are not
// strings: go-toml hands their raw text to UnmarshalText and returns its
// error without a position, and a secret must not be echoed.
func checkTextTypes(file string, idx *docIndex) []error {
	idx.file = file
	var errs []error
	for _, e := range idx.entries {
		want := textKind(reflect.TypeOf(Config{}), e.plain)
		if want == "" || e.kind == unstable.String {
			continue
		}
		errs = append(errs, idx.lineError(e.line, e.key, fmt.Sprintf("want a string (%s), got %s", want, strings.ToLower(e.kind.String()))))
	}
	return errs
}

var (
	durationType = reflect.TypeOf(Duration{})
	secretType   = reflect.TypeOf(Secret{})
)

// textKind says whether the field at path is a Duration or a Secret.
func textKind(t reflect.Type, path []string) string {
	for _, part := range path {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType || t == secretType {
			return ""
		}
		f, ok := fieldByTag(t, part)
		if !ok {
			return ""
		}
		t = f.Type
	}
	switch t {
	case durationType:
		return `a duration like "90s", "15m" or "4h"`
	case secretType:
		return `a value, "${ENV_VAR}" or "file:/path"`
	}
	return ""
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == name || (tag == "" && strings.EqualFold(f.Name, name)) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// Defaults, as documented on the types.
const (
	DefaultConcurrency        = 8
	DefaultResourceManagerURL = "https://management.azure.com"
	DefaultRetailPricesURL    = "https://prices.azure.com/api/retail/prices"
	DefaultSlackAPIURL        = "https://slack.com/api/"
	DefaultWorkers            = 8
	DefaultQueue              = 64
	DefaultStorePath          = "poolbot.db"
	DefaultListen             = "127.0.0.1:3000"
	DefaultShutdownTimeout    = 20 * time.Second
	DefaultRetention          = 90 * 24 * time.Hour
)

func (c *Config) applyDefaults() {
	d := &c.DevOps
	d.OrganizationURL = strings.TrimRight(strings.TrimSpace(d.OrganizationURL), "/")
	if d.Auth == "" {
		d.Auth = "pat"
	}
	if d.Concurrency == 0 {
		d.Concurrency = DefaultConcurrency
	}
	if d.PoolURL == "" && d.OrganizationURL != "" {
		d.PoolURL = d.OrganizationURL + "/_settings/agentpools?poolId={id}"
	}

	a := &c.Azure
	if a.ResourceManagerURL == "" {
		a.ResourceManagerURL = DefaultResourceManagerURL
	}
	if a.Auth == "" {
		a.Auth = "default"
	}
	if a.RetailPricesURL == "" {
		a.RetailPricesURL = DefaultRetailPricesURL
	}

	s := &c.Slack
	if s.Mode == "" {
		s.Mode = "http"
	}
	if s.APIURL == "" {
		s.APIURL = DefaultSlackAPIURL
	}
	if s.Workers == 0 {
		s.Workers = DefaultWorkers
	}
	if s.Queue == 0 {
		s.Queue = DefaultQueue
	}

	for i := range c.Templates {
		c.Templates[i].OS = strings.ToLower(c.Templates[i].OS)
	}

	al := &c.Alerts
	setDur(&al.Interval, 60*time.Second)
	setDur(&al.RepeatInterval, 4*time.Hour)
	setDur(&al.StuckAfter, 20*time.Minute)
	setDur(&al.OfflineAfter, 15*time.Minute)
	setDur(&al.SaturatedAfter, 10*time.Minute)

	if c.Cost.Currency == "" {
		c.Cost.Currency = "USD"
	}
	setDur(&c.History.Retention, DefaultRetention)

	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	if c.Store.Driver == "sqlite" && c.Store.Path == "" {
		c.Store.Path = DefaultStorePath
	}

	if c.Server.Listen == "" {
		c.Server.Listen = DefaultListen
	}
	setDur(&c.Server.ShutdownTimeout, DefaultShutdownTimeout)

	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

func setDur(d *Duration, def time.Duration) {
	if d.Duration == 0 {
		d.Duration = def
	}
}

func (c *Config) validate(idx *docIndex) []error {
	if idx == nil {
		idx = &docIndex{}
	}
	idx.file = c.Path
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, idx.errorf(key, format, args...))
	}
	oneOf := func(key, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	checkURL := func(key, v string) {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key, "%q is not an http(s) URL", v)
		}
	}
	checkGlobs := func(key string, globs []string) {
		for i, g := range globs {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				bad(fmt.Sprintf("%s[%d]", key, i), "%q is not a pool name or glob", g)
			}
		}
	}
	checkZone := func(key, tz string) {
		if _, err := time.LoadLocation(tz); err != nil {
			bad(key, "unknown time zone %q", tz)
		}
	}

	// Azure DevOps.
	d := c.DevOps
	if d.OrganizationURL == "" {
		bad("azure_devops.organization_url", "required, e.g. https://dev.azure.com/contoso")
	} else {
		checkURL("azure_devops.organization_url", d.OrganizationURL)
	}
	oneOf("azure_devops.auth", d.Auth, "pat", "entra")
	if d.Auth == "pat" && !d.PAT.IsSet() {
		bad("azure_devops.pat", `required when auth is "pat"`)
	}
	if d.Concurrency < 0 {
		bad("azure_devops.concurrency", "must be positive")
	}

	// Azure Resource Manager.
	a := c.Azure
	checkURL("azure.resource_manager_url", a.ResourceManagerURL)
	checkURL("azure.retail_prices_url", a.RetailPricesURL)
	oneOf("azure.auth", a.Auth, "default", "client_secret", "static")
	switch a.Auth {
	case "client_secret":
		if a.TenantID == "" {
			bad("azure.tenant_id", `required when auth is "client_secret"`)
		}
		if a.ClientID == "" {
			bad("azure.client_id", `required when auth is "client_secret"`)
		}
		if !a.ClientSecret.IsSet() {
			bad("azure.client_secret", `required when auth is "client_secret"`)
		}
	case "static":
		if !a.StaticToken.IsSet() {
			bad("azure.static_token", `required when auth is "static"`)
		}
	}

	// Slack.
	s := c.Slack
	oneOf("slack.mode", s.Mode, "http", "socket")
	switch s.Mode {
	case "http":
		if !s.SigningSecret.IsSet() {
			bad("slack.signing_secret", `required when mode is "http"`)
		}
	case "socket":
		if !s.AppToken.IsSet() {
			bad("slack.app_token", `required when mode is "socket" (an xapp-… token)`)
		}
	}
	if !s.BotToken.IsSet() {
		bad("slack.bot_token", "required (an xoxb-… token)")
	}
	checkURL("slack.api_url", s.APIURL)
	if s.Workers < 0 {
		bad("slack.workers", "must be positive")
	}
	if s.Queue < 0 {
		bad("slack.queue", "must be positive")
	}

	// Roles.
	for i, r := range c.Roles {
		k := fmt.Sprintf("roles[%d]", i)
		oneOf(k+".name", r.Name, "viewer", "operator", "admin")
		if len(r.Users)+len(r.Groups)+len(r.Channels) == 0 {
			bad(k, "grants the role to no one: give users, groups or channels")
		}
		checkGlobs(k+".pools", r.Pools)
	}

	// Templates.
	templates := map[string]bool{}
	for i, t := range c.Templates {
		k := fmt.Sprintf("templates[%d]", i)
		switch {
		case t.Name == "":
			bad(k+".name", "required")
		case templates[t.Name]:
			bad(k+".name", "template %q is defined twice", t.Name)
		}
		templates[t.Name] = true
		oneOf(k+".os", t.OS, string(pool.Linux), string(pool.Windows))
		if t.SKU == "" {
			bad(k+".sku", "required, e.g. Standard_D4s_v5")
		}
		if _, err := pool.ParseImage(t.Image); err != nil {
			bad(k+".image", "%v", err)
		}
		if t.Max <= 0 {
			bad(k+".max", "must be at least 1")
		}
		if t.Standby < 0 || t.Standby > t.Max {
			bad(k+".standby", "must be between 0 and max (%d)", t.Max)
		}
		if t.TTLMinutes < 0 {
			bad(k+".ttl", "must not be negative")
		}
		for j, tag := range t.Tags {
			if name, _, ok := strings.Cut(tag, "="); !ok || name == "" {
				bad(fmt.Sprintf("%s.tags[%d]", k, j), "%q is not key=value", tag)
			}
		}
	}

	// Schedules.
	schedules := map[string]bool{}
	for i, sc := range c.Schedules {
		k := fmt.Sprintf("schedules[%d]", i)
		switch {
		case sc.Name == "":
			bad(k+".name", "required")
		case schedules[sc.Name]:
			bad(k+".name", "schedule %q is defined twice", sc.Name)
		}
		schedules[sc.Name] = true
		if len(sc.Pools) == 0 {
			bad(k+".pools", "required: the pools (names or globs) the schedule sets")
		}
		checkGlobs(k+".pools", sc.Pools)
		checkZone(k+".timezone", sc.TimeZone)
		for j, day := range sc.Skip {
			if _, err := time.Parse("2006-01-02", day); err != nil {
				bad(fmt.Sprintf("%s.skip[%d]", k, j), "%q is not a date like 2025-12-25", day)
			}
		}
		if len(sc.Entries) == 0 {
			bad(k+".entries", "required: at least one entry")
		}
		for j, e := range sc.Entries {
			ek := fmt.Sprintf("%s.entries[%d]", k, j)
			if strings.TrimSpace(e.Cron) == "" {
				bad(ek+".cron", "required: a 5-field cron expression")
			}
			if e.Standby == nil && e.Max == nil && e.TTL == nil && !e.Restore {
				bad(ek, "changes nothing: give standby, max, ttl or restore")
			}
			for _, f := range []struct {
				name string
				v    *int
			}{{"standby", e.Standby}, {"max", e.Max}, {"ttl", e.TTL}} {
				if f.v != nil && *f.v < 0 {
					bad(ek+"."+f.name, "must not be negative")
				}
			}
			if e.Standby != nil && e.Max != nil && *e.Standby > *e.Max {
				bad(ek+".standby", "must not exceed max (%d)", *e.Max)
			}
		}
	}

	// Alerts.
	al := c.Alerts
	for _, f := range []struct {
		name string
		v    Duration
	}{{"interval", al.Interval}, {"repeat_interval", al.RepeatInterval}, {"stuck_after", al.StuckAfter},
		{"offline_after", al.OfflineAfter}, {"saturated_after", al.SaturatedAfter}} {
		if f.v.Duration < time.Second {
			bad("alerts."+f.name, "must be at least 1s")
		}
	}
	for i, w := range al.Waits {
		k := fmt.Sprintf("alerts.waits[%d]", i)
		if len(w.Pools) == 0 {
			bad(k+".pools", "required: the pools (names or globs) the objective is for")
		}
		checkGlobs(k+".pools", w.Pools)
	}
	for i, r := range al.Routes {
		k := fmt.Sprintf("alerts.routes[%d]", i)
		if r.Channel == "" {
			bad(k+".channel", "required")
		}
		if len(r.Pools) == 0 {
			bad(k+".pools", "required: the pools (names or globs) routed")
		}
		checkGlobs(k+".pools", r.Pools)
	}

	// Cost.
	co := c.Cost
	if len(co.Currency) != 3 {
		bad("cost.currency", "%q is not a currency code like USD or EUR", co.Currency)
	}
	skus := make([]string, 0, len(co.Prices))
	for sku := range co.Prices {
		skus = append(skus, sku)
	}
	sort.Strings(skus)
	for _, sku := range skus {
		if co.Prices[sku] < 0 {
			bad("cost.prices."+quoteKey(sku), "must not be negative")
		}
	}
	checkZone("cost.digest_timezone", co.DigestTimeZone)
	for i, b := range co.Budgets {
		k := fmt.Sprintf("cost.budgets[%d]", i)
		if len(b.Pools) == 0 {
			bad(k+".pools", "required")
		}
		checkGlobs(k+".pools", b.Pools)
		if b.Daily < 0 {
			bad(k+".daily", "must not be negative")
		}
		if b.Monthly < 0 {
			bad(k+".monthly", "must not be negative")
		}
		if b.Daily == 0 && b.Monthly == 0 {
			bad(k, "sets no budget: give daily or monthly")
		}
	}

	if c.History.Retention.Duration < 24*time.Hour {
		bad("history.retention", "must be at least 1d")
	}

	// Store.
	oneOf("store.driver", c.Store.Driver, "sqlite", "postgres")
	if c.Store.Driver == "postgres" && !c.Store.DSN.IsSet() {
		bad("store.dsn", `required when driver is "postgres"`)
	}

	// Server and logs.
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		bad("server.listen", "%q is not host:port", c.Server.Listen)
	}
	if c.Log.Format != "" {
		oneOf("log.format", c.Log.Format, "json", "text")
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	return errs
}
