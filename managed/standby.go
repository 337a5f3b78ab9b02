package managed

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Who sets a managed pool's standby agents. poolbot writes a Manual
// resourcePredictions scheme holding one all-week value; a schedule may
// instead hand standby to the service (a daysData week generated from its
// entries, or Automatic with a predictionPreference). A tag on the
// resource says which poolbot wrote, so that a scheme another tool wrote
// is never overwritten unless poolbot's configuration claims the pool.
const standbyTag = "poolbot-standby"

// Owner says who sets a managed pool's standby.
type Owner int

const (
	OwnerPoolbot   Owner = iota // a Manual all-week value: poolbot's commands and schedules set it
	OwnerSchedule               // a daysData week poolbot generated from the pool's schedule
	OwnerAutomatic              // Automatic, handed over by poolbot's configuration
	OwnerForeign                // a daysData week or Automatic that another tool wrote
)

// Preferences are the Automatic predictionPreference values.
var Preferences = []string{"MostCostEffective", "MoreCostEffective", "Balanced", "MorePerformance", "BestPerformance"}

// Scheme is a standby scheme to write: Manual with one value (Days nil), a
// daysData week (Days, seven maps Sunday first, or one for all week), or
// Automatic with a Preference.
type Scheme struct {
	Standby    int
	Days       []map[string]int
	TimeZone   string // Windows time zone name; default "UTC"
	Automatic  bool
	Preference string
}

// standbyOf reads who owns standby and the value holding at now.
func standbyOf(r map[string]any, now time.Time) (owner Owner, value int, says string) {
	ap := obj(r, "properties", "agentProfile")
	tag := strings.ToLower(str(r, "tags", standbyTag))
	if strings.EqualFold(str(ap, "resourcePredictionsProfile", "kind"), "Automatic") {
		pref := str(ap, "resourcePredictionsProfile", "predictionPreference")
		if pref == "" {
			pref = "Balanced"
		}
		if tag == "automatic" {
			return OwnerAutomatic, 0, "the service (Automatic, " + pref + ", handed over by poolbot)"
		}
		return OwnerForeign, 0, "the service (Automatic, " + pref + ", set outside poolbot)"
	}
	preds := obj(ap, "resourcePredictions")
	days, _ := at(preds, "daysData").([]any)
	v, _ := valueAt(preds, now)
	if single(days) {
		return OwnerPoolbot, v, "poolbot"
	}
	if tag == "days" {
		return OwnerSchedule, v, "the service (a daysData week from poolbot's schedule)"
	}
	return OwnerForeign, v, "the service (a daysData week written outside poolbot)"
}

// single reports whether daysData is absent or one all-week value from midnight.
func single(days []any) bool {
	switch len(days) {
	case 0:
		return true
	case 1:
		d, _ := asMap(days[0])
		if len(d) == 0 {
			return true
		}
		_, ok := d["00:00:00"]
		return len(d) == 1 && ok
	}
	return false
}

var windowsZones = map[string]string{
	"utc": "UTC", "coordinated universal time": "UTC", "gmt standard time": "Europe/London",
	"central europe standard time": "Europe/Budapest", "w. europe standard time": "Europe/Berlin",
	"romance standard time": "Europe/Paris", "eastern standard time": "America/New_York",
	"pacific standard time": "America/Los_Angeles",
}

// ianaToWindows is the reverse, for writing a schedule's zone.
var ianaToWindows = map[string]string{
	"UTC": "UTC", "Europe/London": "GMT Standard Time", "Europe/Budapest": "Central Europe Standard Time",
	"Europe/Berlin": "W. Europe Standard Time", "Europe/Paris": "Romance Standard Time",
	"America/New_York": "Eastern Standard Time", "America/Los_Angeles": "Pacific Standard Time",
}

// WindowsZone names an IANA zone the way daysData schemes do.
func WindowsZone(iana string) (string, error) {
	if iana == "" {
		return "UTC", nil
	}
	if w, ok := ianaToWindows[iana]; ok {
		return w, nil
	}
	return "", fmt.Errorf("time zone %q has no Windows name poolbot knows (use one of %s)", iana, strings.Join(sortedKeys(ianaToWindows), ", "))
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func zone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if iana, ok := windowsZones[strings.ToLower(strings.TrimSpace(name))]; ok {
		return time.LoadLocation(iana)
	}
	return time.LoadLocation(name)
}

// valueAt returns the standby a {timeZone, daysData} scheme holds at t: a
// count holds until the next entry, through empty days.
func valueAt(preds map[string]any, t time.Time) (int, error) {
	if preds == nil {
		return 0, nil
	}
	loc, err := zone(str(preds, "timeZone"))
	if err != nil {
		return 0, fmt.Errorf("daysData time zone: %w", err)
	}
	days, _ := at(preds, "daysData").([]any)
	if len(days) == 0 {
		return 0, nil
	}
	if len(days) != 1 && len(days) != 7 {
		return 0, fmt.Errorf("daysData holds %d days, not 1 or 7", len(days))
	}
	local := t.In(loc)
	now := local.Hour()*3600 + local.Minute()*60 + local.Second()
	for back := 0; back <= 7; back++ {
		day := 0
		if len(days) == 7 {
			day = (int(local.Weekday()) - back + 56) % 7
		}
		entries, _ := asMap(days[day])
		best, val := -1, 0
		for k, v := range entries {
			sec, err := hms(k)
			if err != nil {
				return 0, err
			}
			if back == 0 && sec > now {
				continue
			}
			if sec > best {
				f, _ := v.(float64)
				best, val = sec, int(f)
			}
		}
		if best >= 0 {
			return val, nil
		}
		if len(days) == 1 && back == 1 {
			break
		}
	}
	return 0, nil
}

func hms(s string) (int, error) {
	p := strings.Split(s, ":")
	if len(p) != 3 {
		return 0, fmt.Errorf("daysData time %q is not HH:MM:SS", s)
	}
	out := 0
	for i, mul := range []int{3600, 60, 1} {
		v, err := strconv.Atoi(p[i])
		if err != nil || v < 0 || (i == 0 && v > 23) || (i > 0 && v > 59) {
			return 0, fmt.Errorf("daysData time %q is not HH:MM:SS", s)
		}
		out += v * mul
	}
	return out, nil
}

// Change is one standby change of a weekly schedule: from Weekday at
// Hour:Minute, Standby agents.
type Change struct {
	Weekday      time.Weekday
	Hour, Minute int
	Standby      int
}

// Week turns a schedule's weekly standby changes into daysData: one day
// for all week when every day has the same changes, else seven, Sunday
// first. It fails on an empty list.
func Week(changes []Change) ([]map[string]int, error) {
	if len(changes) == 0 {
		return nil, fmt.Errorf("the schedule sets no standby")
	}
	days := make([]map[string]int, 7)
	for i := range days {
		days[i] = map[string]int{}
	}
	for _, c := range changes {
		days[c.Weekday][fmt.Sprintf("%02d:%02d:00", c.Hour, c.Minute)] = c.Standby
	}
	same := true
	for _, d := range days[1:] {
		if fmt.Sprint(d) != fmt.Sprint(days[0]) {
			same = false
		}
	}
	if same {
		return days[:1], nil
	}
	return days, nil
}

// agentProfileFor returns agentProfile ap with the standby scheme sc written.
func agentProfileFor(ap map[string]any, sc Scheme) map[string]any {
	out := deepCopy(ap)
	if out == nil {
		out = map[string]any{"kind": "Stateless"}
	}
	if sc.Automatic {
		out["resourcePredictionsProfile"] = map[string]any{"kind": "Automatic", "predictionPreference": sc.Preference}
		delete(out, "resourcePredictions")
		return out
	}
	out["resourcePredictionsProfile"] = map[string]any{"kind": "Manual"}
	tz := sc.TimeZone
	if tz == "" {
		tz = str(out, "resourcePredictions", "timeZone")
	}
	if tz == "" {
		tz = "UTC"
	}
	days := sc.Days
	if days == nil {
		days = []map[string]int{{"00:00:00": sc.Standby}}
	}
	list := make([]any, len(days))
	for i, d := range days {
		m := map[string]any{}
		for k, v := range d {
			m[k] = float64(v)
		}
		list[i] = m
	}
	out["resourcePredictions"] = map[string]any{"timeZone": tz, "daysData": list}
	return out
}

func (sc Scheme) tag() string {
	switch {
	case sc.Automatic:
		return "automatic"
	case sc.Days != nil:
		return "days"
	}
	return "manual"
}

// maxDays is the largest standby a scheme asks for.
func (sc Scheme) maxDays() int {
	m := sc.Standby
	for _, d := range sc.Days {
		for _, v := range d {
			m = max(m, v)
		}
	}
	return m
}

// diff returns the JSON merge patch (RFC 7396) that turns a into b.
func diff(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, bv := range b {
		av, ok := a[k]
		am, aIsMap := asMap(av)
		bm, bIsMap := asMap(bv)
		switch {
		case ok && aIsMap && bIsMap:
			if d := diff(am, bm); len(d) > 0 {
				out[k] = d
			}
		case !ok || !jsonEqual(av, bv):
			out[k] = bv
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out[k] = nil
		}
	}
	return out
}

func jsonEqual(a, b any) bool {
	return fmt.Sprint(deepCopy(a)) == fmt.Sprint(deepCopy(b))
}

// CronStandby is a schedule entry that sets standby: a 5-field cron
// expression and the count that holds from each of its instants.
type CronStandby struct {
	Cron    string
	Standby int
}

// WeekFromCron turns a schedule's standby entries, in IANA zone tz, into
// daysData and the zone's Windows name. Every entry must repeat weekly
// (minute, hour and weekdays only): a daysData week cannot hold a monthly
// or dated entry.
func WeekFromCron(entries []CronStandby, tz string) ([]map[string]int, string, error) {
	win, err := WindowsZone(tz)
	if err != nil {
		return nil, "", err
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, "", err
	}
	// A week without daylight-saving changes, Sunday first.
	start := time.Date(2026, 1, 4, 0, 0, 0, 0, loc)
	var changes []Change
	for _, e := range entries {
		sched, err := cron.ParseStandard(e.Cron)
		if err != nil {
			return nil, "", fmt.Errorf("cron %q: %w", e.Cron, err)
		}
		var week, next []time.Time
		for t := sched.Next(start.Add(-time.Second)); t.Before(start.AddDate(0, 0, 14)); t = sched.Next(t) {
			if t.Before(start.AddDate(0, 0, 7)) {
				week = append(week, t)
			} else {
				next = append(next, t.AddDate(0, 0, -7))
			}
		}
		if len(week) != len(next) {
			return nil, "", fmt.Errorf("cron %q does not repeat every week, so a daysData week cannot hold it", e.Cron)
		}
		for i, t := range week {
			if !t.Equal(next[i]) {
				return nil, "", fmt.Errorf("cron %q does not repeat every week, so a daysData week cannot hold it", e.Cron)
			}
			changes = append(changes, Change{Weekday: t.Weekday(), Hour: t.Hour(), Minute: t.Minute(), Standby: e.Standby})
		}
	}
	days, err := Week(changes)
	return days, win, err
}
