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
	"github.com/robfig/cron/v3"

	"github.com/poolbot/poolbot/pool"
)

// Load reads the TOML file at path, resolves its secrets, applies the
// defaults written in the types' comments and validates what can be checked
// without the network. Every problem is reported as "FILE:LINE: key a.b.c:
// reason" (an *Error), in the order of the file's lines; several problems are
// joined into one error. A secret's value never appears in an error.
func Load(path string) (*Config, error) {
	c, errs := LoadAll(path)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// LoadSections is Load reading only the named top-level sections (such as
// "schedules" or "roles"): the others are neither decoded nor checked, and
// their secrets are not resolved, so that a command that needs no secret
// (schedule preview, the demo) does not ask for one. Unknown sections are
// still errors.
func LoadSections(path string, sections ...string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	keep := map[string]bool{}
	for _, s := range sections {
		keep[s] = true
	}
	c, errs := parseAll(path, data, keep)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// LoadAll reads the file at path as Load does and returns every problem, in
// the order of the file's lines, with the configuration decoded from what is
// valid: a key whose value is wrong is left at its default, so that further
// checks (the scheduler's) can run and report theirs too. The configuration
// is nil when the file cannot be read or is not TOML.
func LoadAll(path string) (*Config, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{fmt.Errorf("read config: %w", err)}
	}
	return parseAll(path, data, nil)
}

func parse(file string, data []byte) (*Config, error) {
	c, errs := parseAll(file, data, nil)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// utf8BOM is the byte-order mark some editors write at the start of a UTF-8
// file. TOML does not allow it; it carries nothing, so it is skipped.
const utf8BOM = "\xEF\xBB\xBF"

// parseAll decodes data in three passes so that one mistake does not hide
// the others: the syntax tree is indexed; every key is checked against the
// types (unknown keys, wrong types, secrets that cannot be resolved,
// durations that do not parse) and the expressions in error are blanked out;
// what is left is decoded and validated. sections, when not nil, names the
// top-level sections to read.
func parseAll(file string, data []byte, sections map[string]bool) (*Config, []error) {
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return nil, []error{&Error{File: file, Line: 1, Msg: "the file is UTF-16; save it as UTF-8"}}
	}
	idx, err := indexDocument(data)
	if err != nil {
		return nil, []error{syntaxError(file, data, err)}
	}
	idx.file = file
	chk := &typeCheck{idx: idx, sections: sections, bad: map[string]bool{}}
	chk.run()
	clean := chk.blank(data)
	c := &Config{}
	if err := toml.NewDecoder(bytes.NewReader(clean)).DisallowUnknownFields().Decode(c); err != nil {
		return nil, SortErrors(append(chk.errs, decodeErrors(file, idx, err)...))
	}
	c.Path = file
	c.lines = idx.lines
	c.applyDefaults()
	errs := chk.errs
	for _, err := range c.validate(idx) {
		var e *Error
		if errors.As(err, &e) && (chk.covers(e.Key) || !chk.reads(e.Key)) {
			continue // already reported as the key's type, or not read
		}
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return c, SortErrors(errs)
	}
	return c, nil
}

// Error is one problem with a configuration file: "FILE:LINE: key K:
// reason". Line is 0 when unknown; Key is empty for a syntax error.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString("key " + e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// SortErrors orders errors by file and line, as an editor lists them;
// errors that name no line come first, in their order. It sorts in place
// and returns errs.
func SortErrors(errs []error) []error {
	pos := func(err error) (string, int) {
		var e *Error
		if errors.As(err, &e) {
			return e.File, e.Line
		}
		return "", 0
	}
	sort.SliceStable(errs, func(i, j int) bool {
		fi, li := pos(errs[i])
		fj, lj := pos(errs[j])
		if fi != fj {
			return fi < fj
		}
		return li < lj
	})
	return errs
}

// syntaxError describes a document the TOML parser rejects, at its line.
// The parser's own error is used, not the decoder's: the decoder reports
// a wrong type before a syntax error further down.
func syntaxError(file string, data []byte, err error) error {
	var pe *unstable.ParserError
	if !errors.As(err, &pe) {
		return &Error{File: file, Msg: "not valid TOML: " + err.Error()}
	}
	line := 0
	// The highlight is a slice of data: its offset is where capacities differ.
	if off := cap(data) - cap(pe.Highlight); pe.Highlight != nil && off >= 0 && off <= len(data) {
		line = 1 + bytes.Count(data[:off], []byte("\n"))
	}
	return &Error{File: file, Line: line, Msg: "not valid TOML: " + pe.Message}
}

// Validate checks the configuration as Load does and returns every problem,
// each naming the file, line and key when c was loaded from a file. Load
// already calls it; use it after changing a Config in code.
func (c *Config) Validate() []error {
	return c.validate(c.index())
}

// KeyError returns an error in Load's style for key, written as in Load's
// errors ("schedules[0].entries[1].cron"): "FILE:LINE: key K: reason", an
// *Error. The line is the key's in the file as Load read it (the file is
// not read again); a Config not loaded from a file names only the key.
// Other packages use it to report their own checks of the configuration.
func (c *Config) KeyError(key string, format string, args ...any) error {
	return c.index().errorf(key, format, args...)
}

// index is what KeyError and Validate need of the file Load read: the
// line of each key.
func (c *Config) index() *docIndex {
	return &docIndex{file: c.Path, lines: c.lines}
}

// decodeErrors turns what go-toml's decoder still finds once the type check
// has passed (a table defined twice, a number out of range) into *Errors.
func decodeErrors(file string, idx *docIndex, err error) []error {
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
		return errs
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := decoderWords(strings.TrimPrefix(de.Error(), "toml: "))
		if len(de.Key()) == 0 {
			return []error{&Error{File: file, Line: line, Msg: msg}}
		}
		return []error{idx.lineError(line, idx.keyAt(line, de.Key()), msg)}
	}
	return []error{&Error{File: file, Msg: err.Error()}}
}

// decoderWords rewrites the decoder's messages that name Go types.
func decoderWords(msg string) string {
	switch {
	case strings.Contains(msg, "out of range"), strings.Contains(msg, "overflow"), strings.Contains(msg, "too large"):
		return "the number is too large for a whole number (at most 9223372036854775807)"
	case strings.Contains(msg, "already defined"), strings.Contains(msg, "defined twice"), strings.Contains(msg, "already exists"):
		return "defined twice: write each table and key once"
	}
	return msg
}

// entry is one key = value of the document.
type entry struct {
	key   string   // with array indexes: schedules[0].entries[1].cron
	plain []string // without: schedules, entries, cron
	line  int
	kind  unstable.Kind
	value string // a string's value, to check secrets and durations
	expr  int    // the top-level expression it is part of (index in exprs)
	elem  bool   // an element of an array: pools[1], entries[0]
}

// header is a [table] or [[array of tables]] line.
type header struct {
	key   string
	plain []string
	line  int
	array bool
	start int // byte offset of its line
}

// expr is a top-level key = value: its bytes, and the header it is under
// (-1 before the first).
type expr struct {
	rng    unstable.Range
	header int
}

// docIndex knows the line of every key of a document, so that errors found
// after decoding can still name it.
type docIndex struct {
	file     string
	entries  []entry
	elements []entry // elements of arrays of values: pools[1]
	headers  []header
	exprs    []expr
	lines    map[string]int // key (and each table's key) → line
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
	return &Error{File: d.file, Line: line, Key: key, Msg: reason}
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
			start := 0
			if it := n.Key(); it.Next() {
				start = lineStart(data, int(it.Node().Raw.Offset))
			}
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
			d.headers = append(d.headers, header{key: prefix, plain: parts, line: line, array: n.Kind == unstable.ArrayTable, start: start})
		case unstable.KeyValue:
			d.exprs = append(d.exprs, expr{rng: n.Raw, header: len(d.headers) - 1})
			d.addKeyValue(&p, n, prefix, plainPrefix)
		}
	}
	if err := p.Error(); err != nil {
		return d, err
	}
	return d, nil
}

// lineStart returns the offset of the start of the line holding offset.
func lineStart(data []byte, offset int) int {
	if offset > len(data) {
		offset = len(data)
	}
	return bytes.LastIndexByte(data[:offset], '\n') + 1
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
	d.addValue(p, n.Value(), key, plain, line, false)
}

func (d *docIndex) addValue(p *unstable.Parser, v *unstable.Node, key string, plain []string, line int, elem bool) {
	e := entry{key: key, plain: plain, line: line, kind: v.Kind, expr: len(d.exprs) - 1, elem: elem}
	if v.Kind == unstable.String {
		e.value = string(v.Data)
	}
	d.entries = append(d.entries, e)
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
			elLine := line
			if el.Raw.Length > 0 {
				elLine = p.Shape(el.Raw).Start.Line
			}
			if el.Kind != unstable.InlineTable {
				d.elements = append(d.elements, entry{key: key + "[" + strconv.Itoa(i) + "]", plain: plain, line: elLine, kind: el.Kind, expr: len(d.exprs) - 1, elem: true})
				continue
			}
			d.addValue(p, el, key+"["+strconv.Itoa(i)+"]", plain, elLine, true)
		}
	}
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
	DefaultSnapshotMaxAge     = 5 * time.Second
	DefaultResourceManagerURL = "https://management.azure.com"
	DefaultRetailPricesURL    = "https://prices.azure.com/api/retail/prices"
	DefaultSlackAPIURL        = "https://slack.com/api/"
	DefaultWorkers            = 8
	DefaultQueue              = 64
	DefaultStorePath          = "poolbot.db"
	DefaultListen             = "127.0.0.1:3000"
	DefaultShutdownTimeout    = 20 * time.Second
	DefaultReadTimeout        = 10 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultIdleTimeout        = 60 * time.Second
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
	setDur(&d.SnapshotMaxAge, DefaultSnapshotMaxAge)
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
	setDur(&c.Server.ReadTimeout, DefaultReadTimeout)
	setDur(&c.Server.WriteTimeout, DefaultWriteTimeout)
	setDur(&c.Server.IdleTimeout, DefaultIdleTimeout)

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
	if v := d.SnapshotMaxAge.Duration; v < 0 || v > time.Minute {
		bad("azure_devops.snapshot_max_age", "must be at most 1m, and not negative")
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

	c.validateImages(bad)

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
		checkAutopilot(k, sc, bad)
		if len(sc.Entries) == 0 && !sc.Autopilot() {
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
	c.validateDrift(bad, checkGlobs)
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
	if co.DigestCron != "" {
		if err := checkCron(co.DigestCron); err != nil {
			bad("cost.digest_cron", "%v", err)
		}
	}
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
	if _, _, err := net.SplitHostPort(c.Server.MetricsListen); c.Server.MetricsListen != "" && err != nil {
		bad("server.metrics_listen", "%q is not host:port", c.Server.MetricsListen)
	}
	for i, h := range c.Slack.ResponseURLHosts {
		if h == "" || strings.ContainsAny(h, "/?#@ ") {
			bad(fmt.Sprintf("slack.response_url_hosts[%d]", i), "%q is not a host or host:port (write it without a scheme or path)", h)
		}
	}
	if c.Log.Format != "" {
		oneOf("log.format", c.Log.Format, "json", "text")
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	return errs
}

// checkCron checks a 5-field cron expression, and that it ever fires: "0 25
// * * *" does not parse, "0 8 31 2 *" parses but names no real day.
func checkCron(expr string) (err error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return fmt.Errorf("%q: give the time zone as digest_timezone, not in the expression", expr)
	}
	defer func() {
		// The parser has panicked on malformed input before.
		if r := recover(); r != nil {
			err = fmt.Errorf("%q is not a cron expression", expr)
		}
	}()
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return fmt.Errorf("%q is not a 5-field cron expression (minute hour day month weekday, e.g. \"0 8 * * *\"): %v", expr, err)
	}
	if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return fmt.Errorf("%q never fires: it names no real date", expr)
	}
	return nil
}
