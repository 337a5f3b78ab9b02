package trace

import (
	"math"
	"math/rand"
	"sort"
	"time"
)

// Durations are how long generated jobs run: Min plus a whole number of
// minutes below Steps, uniformly.
type Durations struct {
	Min   time.Duration
	Steps int
}

// Model draws job arrivals: a Poisson process per pool, each job at a
// random instant within the span drawn, with a random duration. It is the
// simulator's built-in arrival model; the instants are drawn from their own
// source, apart from the counts and durations, so that the jobs do not
// depend on how finely time is cut.
type Model struct {
	rng, at *rand.Rand
}

// NewModel returns a model seeded as the simulator seeds its own.
func NewModel(seed int64) *Model {
	return &Model{rng: rand.New(rand.NewSource(seed)), at: rand.New(rand.NewSource(seed + 2))}
}

// Draw returns the jobs of one pool that arrive in (now-span, now] at
// perMinute jobs a minute on average, sorted by queued, their Pool and
// Definition unset. It draws nothing when perMinute is not positive.
func (m *Model) Draw(now time.Time, span time.Duration, perMinute float64, d Durations) []Job {
	if perMinute <= 0 {
		return nil
	}
	var out []Job
	for k := poisson(m.rng.Float64, perMinute); k > 0; k-- {
		dur := d.Min + time.Duration(m.rng.Intn(max(d.Steps, 1)))*time.Minute
		at := now
		if span > 0 {
			at = now.Add(-time.Duration(m.at.Int63n(int64(span))))
		}
		out = append(out, Job{Queued: at, Duration: dur, Result: "succeeded"})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Queued.Before(out[j].Queued) })
	return out
}

// poisson draws from a Poisson distribution with mean lam (Knuth).
func poisson(u func() float64, lam float64) int {
	l := math.Exp(-lam)
	k, prod := 0, u()
	for prod > l {
		k++
		prod *= u()
	}
	return k
}

var jobNames = []string{"Build", "Test", "Lint", "Package", "Integration tests", "Deploy to staging"}

// JobName is the pipeline the simulator names its id-th job after.
func JobName(id uint64) string { return jobNames[id%uint64(len(jobNames))] }

// FirstJobID is the id the simulator gives its first job.
const FirstJobID = 1001

// Shape is one pool's demand: PerHour jobs an hour at the peak, times
// Demand(t), the share of the peak at t.
type Shape struct {
	Pool      string
	PerHour   float64
	Demand    func(t time.Time) float64
	Durations Durations
}

// Generate draws the jobs of shapes from start for span, as the simulator
// does minute by minute (each minute's arrivals at the rate of its end,
// pools in order), sorted by queued.
func Generate(seed int64, start time.Time, span time.Duration, shapes []Shape) []Job {
	m := NewModel(seed)
	id := uint64(FirstJobID - 1)
	var out []Job
	for t := start.Add(time.Minute); !t.After(start.Add(span)); t = t.Add(time.Minute) {
		for _, sh := range shapes {
			for _, j := range m.Draw(t, time.Minute, sh.PerHour/60*sh.Demand(t), sh.Durations) {
				id++
				j.Pool, j.Definition = sh.Pool, JobName(id)
				out = append(out, j)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Queued.Before(out[j].Queued) })
	return out
}

// Paris is the zone of the reference office.
var Paris = zone("Europe/Paris", 3600)

// LosAngeles is 9 hours behind Paris.
var LosAngeles = zone("America/Los_Angeles", -8*3600)

func zone(name string, off int) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone(name, off)
	}
	return l
}

// Office is the reference office's demand in loc: full on weekdays
// 08:00–18:00, 30% at 07:00 and 18:00–20:00, 4% at night, 3% at weekends.
func Office(loc *time.Location) func(time.Time) float64 {
	return func(t time.Time) float64 {
		l := t.In(loc)
		if wd := l.Weekday(); wd == time.Saturday || wd == time.Sunday {
			return 0.03
		}
		switch h := l.Hour(); {
		case h >= 8 && h < 18:
			return 1
		case h == 7 || h == 18 || h == 19:
			return 0.3
		default:
			return 0.04
		}
	}
}

// Nightly is a nightly pool's demand in Paris: full 00:00–05:00 every day,
// 5% otherwise.
func Nightly(t time.Time) float64 {
	if t.In(Paris).Hour() < 5 {
		return 1
	}
	return 0.05
}

// Standard durations: CI jobs of 5–25 minutes, nightly ones of 30–60.
var (
	CIDurations      = Durations{Min: 5 * time.Minute, Steps: 21}
	NightlyDurations = Durations{Min: 30 * time.Minute, Steps: 31}
)

// ReferenceShapes are the simulator's seeded pools' demand: linux-ci (24
// jobs an hour at the peak) and windows-ci (14.4) in Paris office hours,
// gpu-nightly (6) at night.
func ReferenceShapes() []Shape {
	return []Shape{
		{Pool: "linux-ci", PerHour: 24, Demand: Office(Paris), Durations: CIDurations},
		{Pool: "windows-ci", PerHour: 14.4, Demand: Office(Paris), Durations: CIDurations},
		{Pool: "gpu-nightly", PerHour: 6, Demand: Nightly, Durations: NightlyDurations},
	}
}

// Reference is the office weeks exactly as the simulator started at start
// with seed makes them with its seeded pools.
func Reference(seed int64, start time.Time, span time.Duration) []Job {
	return Generate(seed, start, span, ReferenceShapes())
}

// NightBatch: linux-ci runs a batch of 20 jobs an hour of 10–40 minutes
// every night 01:00–04:00 Paris and little by day (5%); windows-ci keeps
// the office.
func NightBatch(seed int64, start time.Time, span time.Duration) []Job {
	batch := func(t time.Time) float64 {
		if h := t.In(Paris).Hour(); h >= 1 && h < 4 {
			return 1
		}
		return 0.05
	}
	return Generate(seed, start, span, []Shape{
		{Pool: "linux-ci", PerHour: 20, Demand: batch, Durations: Durations{Min: 10 * time.Minute, Steps: 31}},
		{Pool: "windows-ci", PerHour: 14.4, Demand: Office(Paris), Durations: CIDurations},
	})
}

// TwoZones: two teams share both pools, one in Paris and one in Los
// Angeles, 9 hours behind, each with an office day; linux-ci gets 12 jobs
// an hour from each at their peaks, windows-ci 7.2.
func TwoZones(seed int64, start time.Time, span time.Duration) []Job {
	both := func(a, b func(time.Time) float64) func(time.Time) float64 {
		return func(t time.Time) float64 { return a(t) + b(t) }
	}
	d := both(Office(Paris), Office(LosAngeles))
	return Generate(seed, start, span, []Shape{
		{Pool: "linux-ci", PerHour: 12, Demand: d, Durations: CIDurations},
		{Pool: "windows-ci", PerHour: 7.2, Demand: d, Durations: CIDurations},
	})
}

// ReleaseDay: the office weeks, with a release every Thursday that brings
// 1.6 times the peak from 13:00 to 17:00 Paris.
func ReleaseDay(seed int64, start time.Time, span time.Duration) []Job {
	office := Office(Paris)
	d := func(t time.Time) float64 {
		l := t.In(Paris)
		if l.Weekday() == time.Thursday && l.Hour() >= 13 && l.Hour() < 17 {
			return 1.6
		}
		return office(t)
	}
	return Generate(seed, start, span, []Shape{
		{Pool: "linux-ci", PerHour: 24, Demand: d, Durations: CIDurations},
		{Pool: "windows-ci", PerHour: 14.4, Demand: d, Durations: CIDurations},
	})
}

// Shapes are the named generators, for tests, benchmarks and the command
// line.
var Shapes = map[string]func(seed int64, start time.Time, span time.Duration) []Job{
	"office":      Reference,
	"night-batch": NightBatch,
	"two-zones":   TwoZones,
	"release-day": ReleaseDay,
}
