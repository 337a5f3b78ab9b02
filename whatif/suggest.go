package whatif

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/poolbot/poolbot/autopilot"
	"github.com/poolbot/poolbot/pool"
	"github.com/poolbot/poolbot/scheduler"
	"github.com/poolbot/poolbot/trace"
)

// Suggestion is a fixed schedule for one pool and how it did on the trace.
type Suggestion struct {
	Schedule   scheduler.Schedule
	Result     Result // the schedule's figures
	Base       Result // the pool's own settings'
	Objective  time.Duration
	Met        bool // the schedule's p95 wait meets the objective
	Candidates int
}

// Suggest derives fixed cron schedules for the pool from its demand in the
// trace — the standby each preference's percentile provides for, hour by
// hour, on each kind of day, set 15 minutes ahead — replays each, and
// returns the one with the fewest idle VM-hours whose p95 wait (all jobs)
// is at most objective (0: the pool's own settings' p95). When none meets
// it, the one that waits least, with Met false.
func Suggest(ctx context.Context, o Options, name string, objective time.Duration, loc *time.Location) (Suggestion, error) {
	o.Jobs = trace.Of(o.Jobs, name)
	if len(o.Jobs) == 0 {
		return Suggestion{}, fmt.Errorf("the trace has no jobs of %s", name)
	}
	o.Pools, o.Preferences, o.Schedules = []string{name}, []string{"-"}, nil
	if o.Start.IsZero() {
		o.Start = o.Jobs[0].Queued.UTC().Truncate(24 * time.Hour)
	}
	if o.End.IsZero() {
		o.End = o.Jobs[len(o.Jobs)-1].Queued.Add(24 * time.Hour)
	}
	base, err := Run(ctx, o)
	if err != nil {
		return Suggestion{}, err
	}
	if objective == 0 {
		objective = base[0].WaitP95
	}
	var cands []scheduler.Schedule
	seen := map[string]bool{}
	for _, p := range autopilot.Preferences {
		for _, extra := range []int{0, 1} {
			sc, err := fixedSchedule(o.Jobs, name, loc, p.Name, extra, o.Start, o.End)
			if err != nil {
				return Suggestion{}, err
			}
			key := fmt.Sprint(sc.Entries)
			if len(sc.Entries) == 0 || seen[key] {
				continue
			}
			seen[key] = true
			sc.Name = fmt.Sprintf("%s-%s-%d", name, p.Name, extra)
			cands = append(cands, sc)
		}
	}
	if len(cands) == 0 {
		return Suggestion{}, errors.New("no schedule could be derived from the trace")
	}
	o.Schedules = cands
	rs, err := Run(ctx, o)
	if err != nil {
		return Suggestion{}, err
	}
	best := -1
	for i, r := range rs {
		if r.Policy == "none" {
			continue
		}
		met := r.WaitP95 <= objective
		if best < 0 {
			best = i
			continue
		}
		b := rs[best]
		bmet := b.WaitP95 <= objective
		switch {
		case met && !bmet, met && bmet && r.IdleVMHours < b.IdleVMHours, !met && !bmet && r.WaitP95 < b.WaitP95:
			best = i
		}
	}
	r := rs[best]
	var sc scheduler.Schedule
	for _, c := range cands {
		if c.Name == r.Policy {
			sc = c
		}
	}
	sc.Name = name + "-suggested"
	r.Policy = sc.Name
	return Suggestion{Schedule: sc, Result: r, Base: rs[0], Objective: objective, Met: r.WaitP95 <= objective, Candidates: len(cands)}, nil
}

// fixedSchedule turns the autopilot's hourly forecast at a preference into
// cron entries: per group of weekdays with the same day, an entry 15
// minutes before each hour whose standby differs from the hour before.
// extra agents are added to every hour with some standby.
func fixedSchedule(jobs []trace.Job, name string, loc *time.Location, pref string, extra int, start, end time.Time) (scheduler.Schedule, error) {
	ap, err := scheduler.NewAutopilot(scheduler.Schedule{Preference: pref, TimeZone: loc.String()})
	if err != nil {
		return scheduler.Schedule{}, err
	}
	d := ap.NewDemand()
	d.Learn(jobs, start, end)
	// A week of local days, Sunday first.
	l := end.In(loc)
	sunday := time.Date(l.Year(), l.Month(), l.Day()-int(l.Weekday()), 0, 0, 0, 0, loc)
	type hour struct{ standby, ttl int }
	var days [7][24]hour
	// A fixed schedule is written per kind of day: the hour's standby is
	// the median of the weekdays' forecasts, the larger of the weekend's.
	for _, kind := range [][]int{{1, 2, 3, 4, 5}, {0, 6}} {
		for h := range 24 {
			var vs []int
			for _, wd := range kind {
				at := time.Date(sunday.Year(), sunday.Month(), sunday.Day()+wd, h, 0, 0, 0, loc)
				v, ok := d.Forecast(at, ap.Percentile)
				if !ok {
					return scheduler.Schedule{}, errors.New("no demand learned from the trace")
				}
				vs = append(vs, v)
			}
			sort.Ints(vs)
			s := vs[len(vs)/2]
			if len(kind) == 2 {
				s = vs[1]
			}
			if s > 0 {
				s += extra
			}
			ttl := 1
			if s > 0 {
				ttl = 3
			}
			for _, wd := range kind {
				days[wd][h] = hour{s, ttl}
			}
		}
	}
	// Group days with the same hours.
	var groups [][]int
	for wd := range 7 {
		found := false
		for gi, g := range groups {
			if days[g[0]] == days[wd] {
				groups[gi] = append(groups[gi], wd)
				found = true
				break
			}
		}
		if !found {
			groups = append(groups, []int{wd})
		}
	}
	sc := scheduler.Schedule{Name: name, Pools: []string{name}, TimeZone: loc.String()}
	type timed struct {
		at int // minutes into the day, for ordering
		e  scheduler.Entry
	}
	var all []timed
	for _, g := range groups {
		dd := dayList(g)
		for h := range 24 {
			v := days[g[0]][h]
			if h > 0 && v == days[g[0]][h-1] {
				continue
			}
			cron := fmt.Sprintf("0 0 * * %s", dd)
			at := 0
			if h > 0 {
				cron, at = fmt.Sprintf("45 %d * * %s", h-1, dd), (h-1)*60+45
			}
			all = append(all, timed{at, scheduler.Entry{Cron: cron, Standby: pool.Int(v.standby), TTL: pool.Int(v.ttl)}})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].at < all[j].at })
	for _, t := range all {
		sc.Entries = append(sc.Entries, t.e)
	}
	return sc, nil
}

// dayList writes weekdays (0 Sunday) as a cron field: "1-5", "0,6".
func dayList(days []int) string {
	if len(days) == 7 {
		return "*"
	}
	var parts []string
	for i := 0; i < len(days); {
		j := i
		for j+1 < len(days) && days[j+1] == days[j]+1 {
			j++
		}
		switch {
		case j == i:
			parts = append(parts, strconv.Itoa(days[i]))
		default:
			parts = append(parts, fmt.Sprintf("%d-%d", days[i], days[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// TOML writes the schedule as config TOML.
func TOML(sc scheduler.Schedule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[[schedules]]\nname = %q\npools = [%q]\ntimezone = %q\n", sc.Name, sc.Pools[0], sc.TimeZone)
	for _, e := range sc.Entries {
		fmt.Fprintf(&b, "\n[[schedules.entries]]\ncron = %q\nstandby = %d\nttl = %d\n", e.Cron, *e.Standby, *e.TTL)
	}
	return b.String()
}
