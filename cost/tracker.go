package cost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/poolbot/poolbot/chart"
	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

const (
	// defaultMaxGap bounds the time accrued between two samples of a pool,
	// so that a bot that was down does not bill the downtime to one instant.
	defaultMaxGap = 10 * time.Minute
	// flushEvery is how often the day totals are written to the store.
	flushEvery = 5 * time.Minute
	// scaleSetsEvery is how often the scale sets (region and SKU) are re-read.
	scaleSetsEvery = 12 * time.Hour
	// savedEvery is how often a pool's saved (pre-scale-down) settings are re-read.
	savedEvery = 15 * time.Minute
	// keepDays is how many days of totals stay in memory.
	keepDays = 40
	// idleWasteHours is the idle agent-hours outside working hours in a day
	// that make idle waste worth telling.
	idleWasteHours = 2.0
	// weekendQuiet is how long into a weekend with no jobs a standby above
	// zero is called waste.
	weekendQuiet = 6 * time.Hour
)

// Day is one pool's totals for one day (in the digest's time zone).
type Day struct {
	InstanceHours float64 `json:"instance_hours"`
	IdleHours     float64 `json:"idle_hours"`
	BusyHours     float64 `json:"busy_hours"`
	OffHoursIdle  float64 `json:"off_hours_idle"` // idle agent-hours outside working hours
	Jobs          int     `json:"jobs"`
	SavedHours    float64 `json:"saved_hours"` // agent-hours the schedules scaled away
	Price         float64 `json:"price,omitempty"`
	Currency      string  `json:"currency,omitempty"`
}

// Estimate is the day's cost at the SKU's hourly price, and whether the
// price is known.
func (d Day) Estimate() (float64, bool) { return d.InstanceHours * d.Price, d.Currency != "" }

// Sample is what the watcher saw of one pool in one cycle.
type Sample struct {
	Pool     pool.Pool // Counts as last seen; Standby; ScaleSetID
	OffHours bool      // outside the pool's working hours
	Jobs     int       // jobs seen starting since the last sample
}

// Finding is a cost condition that holds for a pool now.
type Finding struct {
	Condition string // budget-daily, budget-monthly, idle-waste
	Severity  string
	Count     int
	Summary   string
	Detail    string
}

// Settings are the tracker's part of the [cost] section.
type Settings struct {
	Currency string // default USD
	// Prices per instance-hour by SKU, overriding the Retail Prices API
	// (NewPrices takes them).
	Prices map[string]float64
	// DigestCron is when the daily digest goes out, e.g. "0 8 * * *", in
	// DigestTimeZone (default UTC), to DigestChannel; none without both.
	DigestCron     string
	DigestTimeZone string
	DigestChannel  string
	Budgets        []Budget
}

// Budget is what some pools (names or globs) may cost a day and a month;
// zero is no limit.
type Budget struct {
	Pools   []string
	Daily   float64
	Monthly float64
}

// Store is the part of poolbot's store the tracker uses: day totals and the
// agents' counts under its own keys, the digest's claim and outbox messages,
// the job history for the digest's waits, and the settings a scale-down saved
// (standby to price while a pool is down). Implementations are safe for
// concurrent use, as pool.Store promises.
type Store interface {
	pool.KV
	pool.Claims
	pool.Enqueuer
	pool.JobStore
	SavedSettings(ctx context.Context, pool string) (pool.Saved, error) // pool.ErrNotFound
}

// TrackerOptions configures NewTracker.
type TrackerOptions struct {
	Service    pool.Service
	Store      Store
	Clock      clock.Clock
	Logger     *slog.Logger
	Settings   Settings
	Prices     *Prices
	Management *Management // nil: estimates only
	Owner      string      // this replica, for Store.Claim
	MaxGap     time.Duration
}

// Tracker accrues instance-hours per pool per day, prices them, evaluates
// the cost conditions and sends the daily digest.
type Tracker struct {
	o   TrackerOptions
	loc *time.Location

	started time.Time

	mu          sync.Mutex
	days        map[string]map[string]*Day // YYYY-MM-DD → pool → totals
	loaded      map[string]bool
	dirty       map[string]bool
	lastFlush   time.Time
	pools       map[string]*poolCost
	setsAt      time.Time
	agents      map[string][]chart.AgentPoint // the last day's counts per pool (chart.go)
	agentsDirty map[string]bool
}

type poolCost struct {
	last      time.Time
	standby   int
	os        pool.OS
	setID     string
	region    string
	sku       string
	saved     int // standby before the scheduler scaled down; -1 when none
	savedAt   time.Time
	savedSkew time.Duration
}

// NewTracker returns a Tracker. Day totals live in the store under
// "cost/day/YYYY-MM-DD", one JSON object per day for every pool.
func NewTracker(o TrackerOptions) *Tracker {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxGap <= 0 {
		o.MaxGap = defaultMaxGap
	}
	if o.Settings.Currency == "" {
		o.Settings.Currency = "USD"
	}
	loc := time.UTC
	if o.Settings.DigestTimeZone != "" {
		if l, err := time.LoadLocation(o.Settings.DigestTimeZone); err == nil {
			loc = l
		} else {
			o.Logger.Warn("cost: unknown digest time zone, using UTC", "zone", o.Settings.DigestTimeZone)
		}
	}
	return &Tracker{o: o, loc: loc, started: o.Clock.Now(), days: map[string]map[string]*Day{}, loaded: map[string]bool{},
		dirty: map[string]bool{}, pools: map[string]*poolCost{}, agents: map[string][]chart.AgentPoint{}, agentsDirty: map[string]bool{}}
}

// Location is the time zone days are counted in.
func (t *Tracker) Location() *time.Location { return t.loc }

func dayKey(d string) string { return "cost/day/" + d }

func (t *Tracker) date(tm time.Time) string { return tm.In(t.loc).Format("2006-01-02") }

// day returns the totals of every pool on date, reading them from the store
// the first time. t.mu is held.
func (t *Tracker) day(ctx context.Context, date string) map[string]*Day {
	if m, ok := t.days[date]; ok && t.loaded[date] {
		return m
	}
	m := t.days[date]
	if m == nil {
		m = map[string]*Day{}
	}
	v, err := t.o.Store.Get(ctx, dayKey(date))
	switch {
	case err == nil:
		var stored map[string]*Day
		if err := json.Unmarshal([]byte(v), &stored); err != nil {
			t.o.Logger.Warn("cost: unreadable day totals, starting afresh", "day", date, "err", err)
		}
		for p, d := range stored {
			if cur, ok := m[p]; ok { // accrued before the load finished: add
				d.InstanceHours += cur.InstanceHours
				d.IdleHours += cur.IdleHours
				d.BusyHours += cur.BusyHours
				d.OffHoursIdle += cur.OffHoursIdle
				d.Jobs += cur.Jobs
				d.SavedHours += cur.SavedHours
			}
			m[p] = d
		}
		t.loaded[date] = true
	case errors.Is(err, pool.ErrNotFound):
		t.loaded[date] = true
	default:
		// Not marked loaded: tried again next time, and accrual goes on in memory.
		t.o.Logger.Warn("cost: read day totals", "day", date, "err", err)
	}
	t.days[date] = m
	return m
}

// Observe accrues the time since each pool's previous sample at the counts
// seen now.
func (t *Tracker) Observe(ctx context.Context, now time.Time, samples []Sample) {
	t.refreshScaleSets(ctx, now, samples)
	t.mu.Lock()
	defer t.mu.Unlock()
	date := t.date(now)
	today := t.day(ctx, date)
	for _, s := range samples {
		p := s.Pool
		pc := t.pools[p.Name]
		if pc == nil {
			pc = &poolCost{saved: -1, savedSkew: skew(p.Name, savedEvery)}
			t.pools[p.Name] = pc
		}
		pc.standby, pc.os = p.Standby, p.OS
		if p.ScaleSetID != "" {
			pc.setID = p.ScaleSetID
		}
		t.refreshSaved(ctx, now, p.Name, pc)
		var h float64
		if !pc.last.IsZero() && now.After(pc.last) {
			gap := now.Sub(pc.last)
			if gap > t.o.MaxGap {
				gap = t.o.MaxGap
			}
			h = gap.Hours()
		}
		pc.last = now
		d := today[p.Name]
		if d == nil {
			d = &Day{}
			today[p.Name] = d
		}
		c := p.Counts
		t.recordAgents(ctx, now, p.Name, c)
		d.InstanceHours += float64(c.Total()) * h
		d.IdleHours += float64(c.Idle) * h
		d.BusyHours += float64(c.Busy) * h
		if s.OffHours {
			d.OffHoursIdle += float64(c.Idle) * h
		}
		d.Jobs += s.Jobs
		if pc.saved > p.Standby {
			d.SavedHours += float64(pc.saved-p.Standby) * h
		}
		if d.Currency == "" && pc.sku != "" {
			t.price(ctx, pc, d)
		}
	}
	t.dirty[date] = true
	t.prune(now)
}

// price sets d's price from the pool's SKU. t.mu is held; the lookup is
// cached by Prices, so only the first of a SKU goes to the network.
func (t *Tracker) price(ctx context.Context, pc *poolCost, d *Day) {
	if t.o.Prices == nil || pc.sku == "" {
		return
	}
	v, cur, err := t.o.Prices.Hourly(ctx, pc.region, pc.sku, pc.os)
	if err != nil {
		t.o.Logger.Debug("cost: no price", "sku", pc.sku, "region", pc.region, "err", err)
		return
	}
	d.Price, d.Currency = v, cur
}

func (t *Tracker) refreshSaved(ctx context.Context, now time.Time, name string, pc *poolCost) {
	if !pc.savedAt.IsZero() && now.Sub(pc.savedAt) < savedEvery {
		return
	}
	if pc.savedAt.IsZero() {
		// Spread the first reads over the period so that later refreshes do
		// not all fall in the same cycle.
		pc.savedAt = now.Add(-savedEvery + pc.savedSkew)
		if pc.savedSkew > 0 {
			return
		}
	}
	pc.savedAt = now
	s, err := t.o.Store.SavedSettings(ctx, name)
	switch {
	case err == nil && s.By == "scheduler" && s.Settings.Standby != nil:
		pc.saved = *s.Settings.Standby
	case err == nil || errors.Is(err, pool.ErrNotFound):
		pc.saved = -1
	default:
		t.o.Logger.Debug("cost: read saved settings", "pool", name, "err", err)
	}
}

// refreshScaleSets learns each pool's region and SKU, once and then every
// scaleSetsEvery, with one List that reads the scale sets.
func (t *Tracker) refreshScaleSets(ctx context.Context, now time.Time, samples []Sample) {
	if t.o.Service == nil {
		return
	}
	t.mu.Lock()
	missing := false
	for _, s := range samples {
		if pc := t.pools[s.Pool.Name]; pc == nil || pc.sku == "" {
			missing = true
			break
		}
	}
	due := t.setsAt.IsZero() || now.Sub(t.setsAt) >= scaleSetsEvery ||
		missing && now.Sub(t.setsAt) >= time.Hour
	if due {
		t.setsAt = now
	}
	t.mu.Unlock()
	if !due {
		return
	}
	pools, err := t.o.Service.List(ctx, pool.ListOptions{ScaleSets: true})
	if err != nil {
		t.o.Logger.Warn("cost: read scale sets", "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range pools {
		pc := t.pools[p.Name]
		if pc == nil {
			pc = &poolCost{saved: -1, savedSkew: skew(p.Name, savedEvery)}
			t.pools[p.Name] = pc
		}
		pc.os = p.OS
		if p.ScaleSet != nil {
			pc.region, pc.sku, pc.setID = p.ScaleSet.Region, p.ScaleSet.SKU, p.ScaleSet.ID
		}
		if pc.setID == "" {
			pc.setID = p.ScaleSetID
		}
	}
}

// SetScaleSet tells the tracker a pool's scale set without asking Azure
// (for a scale set poolbot created, or read elsewhere).
func (t *Tracker) SetScaleSet(name, region, sku, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pc := t.pools[name]
	if pc == nil {
		pc = &poolCost{saved: -1, savedSkew: skew(name, savedEvery)}
		t.pools[name] = pc
	}
	pc.region, pc.sku = region, sku
	if id != "" {
		pc.setID = id
	}
}

func (t *Tracker) prune(now time.Time) {
	cut := t.date(now.AddDate(0, 0, -keepDays))
	for d := range t.days {
		if d < cut && !t.dirty[d] {
			delete(t.days, d)
			delete(t.loaded, d)
		}
	}
}

// Flush writes the day totals changed since the last flush.
func (t *Tracker) Flush(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.flush(ctx)
}

func (t *Tracker) flush(ctx context.Context) error {
	var errs []error
	for date := range t.dirty {
		m := t.day(ctx, date)
		if !t.loaded[date] {
			errs = append(errs, fmt.Errorf("day %s not loaded", date))
			continue
		}
		b, err := json.Marshal(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := t.o.Store.Put(ctx, dayKey(date), string(b)); err != nil {
			errs = append(errs, fmt.Errorf("save cost totals of %s: %w", date, err))
			continue
		}
		delete(t.dirty, date)
	}
	if err := t.flushAgents(ctx); err != nil {
		errs = append(errs, err)
	}
	t.lastFlush = t.o.Clock.Now()
	return errors.Join(errs...)
}

// Today returns the pool's cost so far today, as DayCost counts it (today
// is not over, so it is the estimate).
func (t *Tracker) Today(ctx context.Context, name string) (float64, string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.dayCost(ctx, name, t.date(t.o.Clock.Now()))
	return c.Value, c.Currency, c.Priced
}

// Totals returns a copy of the pool's totals on date (YYYY-MM-DD).
func (t *Tracker) Totals(ctx context.Context, name, date string) (Day, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.day(ctx, date)[name]
	if d == nil {
		return Day{}, false
	}
	return *d, true
}

// DayCost is a pool's cost on one day, as every figure poolbot shows of
// it (the budget alerts, the digest, its chart) is computed: Cost
// Management's once its figure for the day is final, else the estimate
// (instance-hours × the SKU's hourly price). A budget alert during the day
// and the next morning's digest therefore agree, and each says which it is.
type DayCost struct {
	Value    float64
	Currency string
	Actual   bool // Cost Management's final figure, not the estimate
	Priced   bool // a figure is known at all
	// SoFar is Cost Management's figure when it is not final yet (part of
	// the day): shown beside the estimate, never in its place.
	SoFar    float64
	HasSoFar bool
	// Hours and Price are the estimate's terms.
	Hours, Price float64
}

// dayCost is the pool's cost on date (see DayCost). t.mu is held.
func (t *Tracker) dayCost(ctx context.Context, name, date string) DayCost {
	var c DayCost
	if d := t.day(ctx, date)[name]; d != nil {
		c.Value, c.Priced = d.Estimate()
		c.Currency, c.Hours, c.Price = d.Currency, d.InstanceHours, d.Price
	}
	pc := t.pools[name]
	if t.o.Management != nil && pc != nil && pc.setID != "" {
		if v, cur, final, ok := t.o.Management.Final(pc.setID, date); ok {
			if final {
				c.Value, c.Currency, c.Actual, c.Priced = v, cur, true, true
			} else {
				c.SoFar, c.HasSoFar = v, true
				if c.Currency == "" {
					c.Currency = cur
				}
			}
		}
	}
	return c
}

// DayCost returns the pool's cost on date (YYYY-MM-DD).
func (t *Tracker) DayCost(ctx context.Context, name, date string) DayCost {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dayCost(ctx, name, date)
}

// Explain says where a day's figure comes from, for an alert's detail.
func (c DayCost) Explain() string {
	if c.Actual {
		return "from Azure Cost Management (its day is the UTC day)"
	}
	s := fmt.Sprintf("estimate: %.1f instance-hours at %s an hour", c.Hours, Money(c.Price, c.Currency))
	if c.HasSoFar {
		s += fmt.Sprintf("; Azure Cost Management has %s so far, final a day after the day ends", Money(c.SoFar, c.Currency))
	}
	return s
}

// budget returns the first budget whose globs match the pool.
func (t *Tracker) budget(name string) (Budget, bool) {
	for _, b := range t.o.Settings.Budgets {
		if Match(b.Pools, name) {
			return b, true
		}
	}
	return Budget{}, false
}

// Match reports whether name matches one of the globs (path.Match syntax).
func Match(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// Conditions returns the cost conditions holding for p now.
func (t *Tracker) Conditions(ctx context.Context, p pool.Pool, now time.Time) []Finding {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Finding
	date := t.date(now)
	d := t.day(ctx, date)[p.Name]
	if b, ok := t.budget(p.Name); ok {
		if b.Daily > 0 {
			// The digest's figure for the day, as it stands now.
			if c := t.dayCost(ctx, p.Name, date); c.Priced && c.Value > b.Daily {
				out = append(out, Finding{Condition: "budget-daily", Severity: "warning", Count: 1,
					Summary: fmt.Sprintf("%s has cost %s today, over its daily budget of %s", p.Name, Money(c.Value, c.Currency), Money(b.Daily, c.Currency)),
					Detail:  c.Explain()})
			}
		}
		if b.Monthly > 0 {
			if f, ok := t.monthly(ctx, p.Name, b.Monthly, now); ok {
				out = append(out, f)
			}
		}
	}
	if d != nil && d.OffHoursIdle >= idleWasteHours {
		v := d.OffHoursIdle * d.Price
		out = append(out, Finding{Condition: "idle-waste", Severity: "info", Count: int(d.OffHoursIdle + 0.5),
			Summary: fmt.Sprintf("%s: %.1f idle agent-hours outside working hours today (about %s)", p.Name, d.OffHoursIdle, Money(v, d.Currency))})
	} else if f, ok := t.weekendWaste(ctx, p, now); ok {
		out = append(out, f)
	}
	return out
}

func (t *Tracker) monthly(ctx context.Context, name string, budget float64, now time.Time) (Finding, bool) {
	n := now.In(t.loc)
	start := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, t.loc)
	var mtd float64
	var cur string
	var first time.Time
	for d := start; !d.After(n); d = d.AddDate(0, 0, 1) {
		c := t.dayCost(ctx, name, d.Format("2006-01-02"))
		if !c.Priced {
			continue
		}
		if first.IsZero() {
			first = d
		}
		mtd += c.Value
		cur = c.Currency
	}
	if first.IsZero() {
		return Finding{}, false
	}
	elapsed := n.Sub(first).Hours() / 24
	if elapsed < 0.5 { // too little seen to forecast a month from
		return Finding{}, false
	}
	// What is known, and the rate seen so far for the rest of the month.
	remaining := start.AddDate(0, 1, 0).Sub(n).Hours() / 24
	forecast := mtd + mtd/elapsed*remaining
	if forecast <= budget {
		return Finding{}, false
	}
	return Finding{Condition: "budget-monthly", Severity: "warning", Count: 1,
		Summary: fmt.Sprintf("%s is on course for %s this month, over its monthly budget of %s (%s so far)",
			name, Money(forecast, cur), Money(budget, cur), Money(mtd, cur))}, true
}

// weekendWaste: a standby above zero kept since Saturday began, with no job run.
func (t *Tracker) weekendWaste(ctx context.Context, p pool.Pool, now time.Time) (Finding, bool) {
	n := now.In(t.loc)
	var sat time.Time
	switch n.Weekday() {
	case time.Saturday:
		sat = time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, t.loc)
	case time.Sunday:
		sat = time.Date(n.Year(), n.Month(), n.Day()-1, 0, 0, 0, 0, t.loc)
	default:
		return Finding{}, false
	}
	if p.Standby == 0 || n.Sub(sat) < weekendQuiet {
		return Finding{}, false
	}
	var idle, busy float64
	var jobs int
	var cur string
	var price float64
	for d := sat; !d.After(n); d = d.AddDate(0, 0, 1) {
		x := t.day(ctx, d.Format("2006-01-02"))[p.Name]
		if x == nil {
			continue
		}
		idle += x.IdleHours
		busy += x.BusyHours
		jobs += x.Jobs
		cur, price = x.Currency, x.Price
	}
	if busy > 0 || jobs > 0 || idle == 0 {
		return Finding{}, false
	}
	return Finding{Condition: "idle-waste", Severity: "info", Count: p.Standby,
		Summary: fmt.Sprintf("%s keeps %d standby agents through the weekend with no jobs: %.1f idle agent-hours since Saturday (about %s)",
			p.Name, p.Standby, idle, Money(idle*price, cur))}, true
}

// Money formats an amount: "$12.34", "€3.10", "12.34 CHF".
func Money(v float64, currency string) string {
	switch strings.ToUpper(currency) {
	case "USD", "":
		return fmt.Sprintf("$%.2f", v)
	case "EUR":
		return fmt.Sprintf("€%.2f", v)
	case "GBP":
		return fmt.Sprintf("£%.2f", v)
	}
	return fmt.Sprintf("%.2f %s", v, currency)
}

// skew spreads per-pool work over a period, the same for a pool on every run.
func skew(name string, period time.Duration) time.Duration {
	h := fnv.New32a()
	h.Write([]byte(name))
	return time.Duration(h.Sum32()%uint32(period/time.Second)) * time.Second
}

// Pools returns the names of the pools seen, sorted.
func (t *Tracker) Pools() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.pools))
	for n := range t.pools {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
