package scheduler

import (
	"cmp"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/poolbot/poolbot/autopilot"
	"github.com/poolbot/poolbot/trace"
)

// The autopilot sets a pool's standby from its job history, as Managed
// DevOps Pools' predictive standby does, without its three-week warm-up.
// Every 5 minutes of history is a sample: how many more agents the jobs of
// the next lead window (a cold start plus the service's 5-minute sampling)
// kept busy at their busiest than at its start, had each started when it
// was queued. That rise is what standby must cover: agents freed by jobs
// that end within the window serve later ones. Samples are grouped by hour
// of the week in the schedule's zone; the standby for an instant is the
// preference's weighted percentile of its hour's samples, recent weeks
// weighing more. An hour with no sample yet borrows the same hour of the
// days of the same kind (weekdays or weekend days), then of any day.

const (
	sampleStep   = 5 * time.Minute
	halfLife     = 14 * 24 * time.Hour // a sample's weight halves every fortnight
	historySpan  = 28 * 24 * time.Hour // what the autopilot reads
	maxRunning   = 6 * time.Hour       // jobs running longer are not seen ending
	settle       = time.Hour           // a window is sampled this long after it ends
	autoInterval = 5 * time.Minute     // at most one change per pool this often
	// DefaultColdStart is how long a new agent takes to be ready, unless the
	// schedule says.
	DefaultColdStart = 5 * time.Minute
)

// Autopilot is an autopilot schedule's policy.
type Autopilot struct {
	Preference string  // canonical name, "balanced"
	Percentile float64 // of past demand provided for
	Lead       time.Duration
	MinStandby int // in working hours
	MaxStandby int // -1: the pool's max
	// Floor keeps one agent warm where the weighted share of an hour's
	// 20-minute blocks in which a lead window saw a job is at least Floor
	// (the chance of a job), even when the
	// preference's percentile says none; 0 is off (the default: it moves
	// along the preferences' trade-off rather than past it, see README).
	Floor float64
	// TTLBusy and TTLQuiet are the ttl, in minutes, while jobs are
	// expected and when none is.
	TTLBusy, TTLQuiet int
	loc               *time.Location
	hoursFrom         int // minutes after midnight; hoursTo 0: no working hours
	hoursTo           int
	days              [7]bool
	skip              map[string]bool
}

// NewAutopilot compiles an autopilot schedule; sc need not be one (its
// preference alone matters then), so that what-if runs can try each.
func NewAutopilot(sc Schedule) (*Autopilot, error) {
	name, pct, err := autopilot.ParsePreference(sc.Preference)
	if err != nil {
		return nil, err
	}
	loc, err := loadZone(sc.TimeZone)
	if err != nil {
		return nil, err
	}
	a := &Autopilot{Preference: name, Percentile: pct, Lead: cmp.Or(sc.ColdStart, DefaultColdStart) + sampleStep,
		MaxStandby: -1, TTLBusy: ttlBusy, TTLQuiet: ttlQuiet, loc: loc, skip: map[string]bool{}, days: [7]bool{false, true, true, true, true, true, false}}
	if sc.MinStandby != nil {
		a.MinStandby = *sc.MinStandby
	}
	if sc.MaxStandby != nil {
		a.MaxStandby = *sc.MaxStandby
	}
	if sc.WorkingHours != "" {
		if a.hoursFrom, a.hoursTo, err = autopilot.ParseHours(sc.WorkingHours); err != nil {
			return nil, err
		}
	} else if a.MinStandby > 0 {
		a.hoursFrom, a.hoursTo = 0, 24*60
	}
	if sc.WorkingDays != "" {
		if a.days, err = autopilot.ParseDays(sc.WorkingDays); err != nil {
			return nil, err
		}
	}
	for _, d := range sc.Skip {
		if t, err := time.Parse("2006-01-02", d); err == nil {
			a.skip[t.Format("2006-01-02")] = true
		}
	}
	return a, nil
}

// Working reports whether t is in the schedule's working hours.
func (a *Autopilot) Working(t time.Time) bool {
	l := t.In(a.loc)
	m := l.Hour()*60 + l.Minute()
	return a.hoursTo > 0 && a.days[l.Weekday()] && !a.skip[l.Format("2006-01-02")] && m >= a.hoursFrom && m < a.hoursTo
}

// Decision is what the autopilot wants a pool to have, and why.
type Decision struct {
	Known   bool // false: no history at all, the pool is left as it is
	Standby int
	TTL     int           // minutes
	Expect  int           // jobs expected by By (the preference's percentile)
	By      time.Time     // the end of the lead window, in the schedule's zone
	History time.Duration // how much history the forecast had
	Note    string        // "skip date", "working hours", …
}

// Reason is the change's line: "standby 3: expecting 4 jobs by 08:15".
func (d Decision) Reason() string {
	if !d.Known {
		return "no job history yet: left as it is"
	}
	s := fmt.Sprintf("standby %d: expecting %d job%s by %s", d.Standby, d.Expect, plural(d.Expect), d.By.Format("15:04"))
	if d.Note != "" {
		s += " (" + d.Note + ")"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Decide returns the standby and ttl the pool should have at now, from
// what demand learned; poolMax bounds standby.
func (a *Autopilot) Decide(now time.Time, d *Demand, poolMax int) Decision {
	by := now.Add(a.Lead).In(a.loc)
	dec := Decision{By: by, History: d.Span(now)}
	if a.skip[now.In(a.loc).Format("2006-01-02")] {
		dec.Known, dec.TTL, dec.Note = true, a.TTLQuiet, "skip date"
		return dec
	}
	// Agents asked for now are ready by the end of the lead window; the
	// standby must cover the busiest hour it reaches into.
	rise, arrivals, chance, ok := -1, 0.0, 0.0, false
	for _, u := range []time.Time{now, by} {
		r, n, c, known := d.forecastChance(u, a.Percentile)
		if known {
			ok = true
			rise = max(rise, r)
			arrivals = max(arrivals, n)
			chance = max(chance, c)
		}
	}
	floor := rise == 0 && a.Floor > 0 && chance >= a.Floor
	if floor {
		rise = 1
	}
	if !ok {
		return dec
	}
	dec.Known, dec.Standby, dec.Expect = true, rise, int(math.Round(arrivals))
	if floor {
		dec.Note = fmt.Sprintf("a job in %.0f%% of such windows", 100*chance)
	}
	if a.MinStandby > dec.Standby && (a.Working(now) || a.Working(by)) {
		dec.Standby, dec.Note = a.MinStandby, "working hours"
	}
	if a.MaxStandby >= 0 && dec.Standby > a.MaxStandby {
		dec.Standby = a.MaxStandby
	}
	dec.Standby = min(dec.Standby, poolMax)
	// A freed agent is worth keeping while jobs keep coming; when none is
	// expected it goes at the service's next pass.
	dec.TTL = a.TTLQuiet
	if arrivals >= 1 {
		dec.TTL = a.TTLBusy
	}
	return dec
}

// ttl the autopilot sets, in minutes: a freed agent is kept a little while
// jobs keep coming, and goes at the service's next pass when none is
// expected. Longer ttls bought less waiting than the same idle time spent
// on standby (whatif's reference weeks).
const (
	ttlQuiet = 1
	ttlBusy  = 3
)

// Demand is a pool's demand learned from its job history. Learn adds the
// samples the jobs complete; it is not safe for concurrent use.
type Demand struct {
	lead    time.Duration
	loc     *time.Location
	since   time.Time        // the history's start
	next    time.Time        // the next sample's instant
	slots   [7 * 24][]sample // blocks: each block's busiest window
	ver     [7 * 24]uint64   // bumped when a slot changes
	samples int
	cache   map[cacheKey]cached
}

type cacheKey struct {
	slot int
	pct  float64
}

type cached struct {
	sig      uint64
	rise     int
	arrivals float64
	chance   float64
}

type sample struct {
	at       time.Time
	rise     int
	arrivals int
}

// NewDemand returns an empty Demand for the autopilot's lead window and zone.
func (a *Autopilot) NewDemand() *Demand { return &Demand{lead: a.Lead, loc: a.loc} }

// Span is how much history the demand has at now.
func (d *Demand) Span(now time.Time) time.Duration {
	if d.since.IsZero() {
		return 0
	}
	return min(now.Sub(d.since), historySpan)
}

// Learn takes the pool's jobs queued in [since, now), sorted by queued (the
// same list, longer, on every call), and samples every 5 minutes whose
// lead window has passed. since is when the history starts: the hours
// before the first job count as hours without jobs.
func (d *Demand) Learn(jobs []trace.Job, since, now time.Time) {
	if d.next.IsZero() || since.Before(d.since) {
		*d = Demand{lead: d.lead, loc: d.loc, since: since, next: since.Truncate(sampleStep)}
	}
	if d.next.Before(since) {
		d.next = since.Truncate(sampleStep) // a gap: start again at the history's start
	}
	// Samples older than the history span plus a week go.
	old := now.Add(-historySpan - 7*24*time.Hour)
	for i, sl := range d.slots {
		k := 0
		for k < len(sl) && sl[k].at.Before(old) {
			k++
		}
		if k > 0 {
			d.samples -= k
			d.slots[i] = sl[k:]
			d.ver[i]++
		}
	}
	type event struct {
		at time.Time
		up bool
	}
	var ev []event
	// A window is sampled once the jobs queued in it have most likely
	// finished: the history holds finished jobs only.
	for ; !d.next.Add(d.lead + settle).After(now); d.next = d.next.Add(sampleStep) {
		t, end := d.next, d.next.Add(d.lead)
		lo := sort.Search(len(jobs), func(i int) bool { return jobs[i].Queued.After(t.Add(-maxRunning)) })
		ev = ev[:0]
		arrivals := 0
		for _, j := range jobs[lo:] {
			if j.Queued.After(end) {
				break
			}
			if j.Queued.After(t) {
				ev = append(ev, event{j.Queued, true})
				arrivals++
			}
			if f := j.Queued.Add(j.Duration); f.After(t) && !f.After(end) && f.After(j.Queued) {
				ev = append(ev, event{f, false})
			}
		}
		sort.Slice(ev, func(i, k int) bool {
			if !ev[i].at.Equal(ev[k].at) {
				return ev[i].at.Before(ev[k].at)
			}
			return !ev[i].up && ev[k].up
		})
		cum, rise := 0, 0
		for _, e := range ev {
			if e.up {
				cum++
			} else {
				cum--
			}
			rise = max(rise, cum)
		}
		l := t.In(d.loc)
		slot := int(l.Weekday())*24 + l.Hour()
		b := t.Truncate(blockSpan)
		d.ver[slot]++
		if sl := d.slots[slot]; len(sl) > 0 && sl[len(sl)-1].at.Equal(b) {
			last := &sl[len(sl)-1]
			last.rise, last.arrivals = max(last.rise, rise), max(last.arrivals, arrivals)
		} else {
			d.slots[slot] = append(d.slots[slot], sample{at: b, rise: rise, arrivals: arrivals})
			d.samples++
		}
	}
}

// forecast is the pct-th weighted percentile of the rise and of the
// arrivals at u's hour of the week. Each sample is a 20-minute block's
// busiest lead window: a percentile of single windows leaves standby short
// in the windows that matter, and one of whole hours keeps too much. The
// same hour of the other days of the same kind (weekdays, weekend days)
// counts half, so that a few weeks of history give a steady answer; with
// none of those, any day's. ok is false with no sample at all.
func (d *Demand) forecast(u time.Time, pct float64) (rise int, arrivals float64, ok bool) {
	rise, arrivals, _, ok = d.forecastChance(u, pct)
	return rise, arrivals, ok
}

// forecastChance is forecast with the weighted share of the hour's samples
// in which any job arrived: the chance that a lead window of the hour sees
// one.
func (d *Demand) forecastChance(u time.Time, pct float64) (rise int, arrivals, chance float64, ok bool) {
	l := u.In(d.loc)
	wd, h := int(l.Weekday()), l.Hour()
	kind := []int{1, 2, 3, 4, 5}
	if wd == 0 || wd == 6 {
		kind = []int{0, 6}
	}
	// The answer changes only when one of the week's slots of that hour does.
	var sig uint64
	for day := range 7 {
		sig += d.ver[day*24+h]
	}
	key := cacheKey{wd*24 + h, pct}
	if c, hit := d.cache[key]; hit && c.sig == sig {
		return c.rise, c.arrivals, c.chance, true
	}
	var s []sample
	var w []float64
	add := func(day int, weight float64) {
		for _, x := range d.slots[day*24+h] {
			s = append(s, x)
			w = append(w, weight)
		}
	}
	add(wd, 1)
	for _, day := range kind {
		if day != wd {
			add(day, 0.5)
		}
	}
	if len(s) == 0 {
		for day := range 7 {
			add(day, 1)
		}
	}
	if len(s) == 0 {
		return 0, 0, 0, false
	}
	newest := s[0].at
	for _, x := range s {
		if x.at.After(newest) {
			newest = x.at
		}
	}
	for i, x := range s {
		w[i] *= math.Exp2(-float64(newest.Sub(x.at)) / float64(halfLife))
	}
	rise = int(weightedPercentile(s, w, pct, func(x sample) float64 { return float64(x.rise) }))
	arrivals = weightedPercentile(s, w, pct, func(x sample) float64 { return float64(x.arrivals) })
	var any, all float64
	for i, x := range s {
		all += w[i]
		if x.arrivals > 0 {
			any += w[i]
		}
	}
	chance = any / all
	if d.cache == nil {
		d.cache = map[cacheKey]cached{}
	}
	d.cache[key] = cached{sig: sig, rise: rise, arrivals: arrivals, chance: chance}
	return rise, arrivals, chance, true
}

// blockSpan groups samples: each block's busiest window is one sample.
const blockSpan = 20 * time.Minute

// weightedPercentile is the smallest value whose samples, with those
// below it, weigh at least pct% of all.
func weightedPercentile(s []sample, w []float64, pct float64, v func(sample) float64) float64 {
	idx := make([]int, len(s))
	total := 0.0
	for i := range idx {
		idx[i] = i
		total += w[i]
	}
	sort.Slice(idx, func(a, b int) bool { return v(s[idx[a]]) < v(s[idx[b]]) })
	acc := 0.0
	for _, i := range idx {
		acc += w[i]
		if acc >= pct/100*total-1e-9 {
			return v(s[i])
		}
	}
	return v(s[idx[len(idx)-1]])
}

// Forecast is the preference's standby for the hour of the week holding
// at: the rise it provides for; false with no history.
func (d *Demand) Forecast(at time.Time, pct float64) (int, bool) {
	r, _, ok := d.forecast(at, pct)
	return r, ok
}
