package schedule

import (
	"cmp"
	"time"

	"github.com/robfig/cron/v3"
)

const (
	secondsPerDay = 86400
	// horizonDays bounds every search: Next looks at most about 100 years past after.
	horizonDays = 36525
	// maxSkips bounds the candidates Next may discard because daylight saving time maps them to
	// or before after (the second pass through a repeated hour, runs collapsed into a gap).
	maxSkips = 1 << 16
)

// Next returns the first run time strictly after after, evaluated on the wall clock of the
// schedule's time_zone if set, else of loc (the target's local zone; nil means UTC). The result
// is in that zone. It returns false when there is no further run: a disabled or invalid schedule
// (see Validate), a schedule that runs when the agent starts (64) or when the computer is idle
// (128), a one-time schedule already past, a schedule past its active_end_date, or no run within
// about 100 years of after.
//
// Daily, weekly and monthly recurrences count from active_start_date: every N days from that day,
// every N weeks from the week (Sunday to Saturday) that contains it, every N months from its
// month. A monthly schedule on a day that a month lacks (the 31st, February 29th) skips that
// month. Fields left at zero take their defaults (see Normalize), except that an omitted
// active_start_date reads as 19900101 rather than today, so that Next does not depend on when it
// is called: normalize a schedule when it is created.
//
// Daylight saving time: a wall time inside a spring-forward gap runs once at the first instant
// after the gap, and a wall time repeated by a fall-back overlap runs once at its first occurrence
// (see the package documentation). Next never panics, whatever the schedule.
func (s Schedule) Next(after time.Time, loc *time.Location) (time.Time, bool) {
	zone, next, ok := s.planner(after, loc)
	if !ok {
		return time.Time{}, false
	}
	return nextAfter(after, zone, next)
}

// Last returns the last run at or before atOrBefore (see Next for zones and DST), and false when
// the schedule never ran by then. A schedule has no "previous run": the search looks back from
// atOrBefore over a window that doubles, from a minute to about two years (lastLookBack), until
// a run falls inside it, then steps forward to the last one.
func (s Schedule) Last(atOrBefore time.Time, loc *time.Location) (time.Time, bool) {
	for w := time.Minute; w <= lastLookBack; w *= 2 {
		t, ok := s.Next(atOrBefore.Add(-w), loc)
		if !ok || t.After(atOrBefore) {
			continue
		}
		// t is inside the window: step to the last run at or before atOrBefore (a few steps:
		// the window is at most twice the distance to the last run before it).
		for {
			n, ok := s.Next(t, loc)
			if !ok || n.After(atOrBefore) {
				return t, true
			}
			t = n
		}
	}
	return time.Time{}, false
}

// lastLookBack bounds Last's window: about two years.
const lastLookBack = (1 << 20) * time.Minute

// NextN returns up to n run times after after, each strictly after the one before it (see Next).
// It returns fewer when the schedule ends, and nil when n < 1. The schedule is validated and
// planned once for all n.
func (s Schedule) NextN(after time.Time, loc *time.Location, n int) []time.Time {
	if n < 1 {
		return nil
	}
	zone, next, ok := s.planner(after, loc)
	if !ok {
		return nil
	}
	out := make([]time.Time, 0, min(n, 64))
	for range n {
		t, ok := nextAfter(after, zone, next)
		if !ok {
			break
		}
		out = append(out, t)
		after = t
	}
	return out
}

// planner validates the schedule and reduces it to its zone and a function from one wall time to
// the next run's wall time.
func (s Schedule) planner(after time.Time, loc *time.Location) (*time.Location, func(int64) (int64, bool), bool) {
	if !s.IsEnabled() || len(s.Validate("")) > 0 {
		return nil, nil, false
	}
	zone, err := s.Location(loc)
	if err != nil {
		return nil, nil, false
	}
	w := wallOf(after, zone)
	if s.Cron != "" {
		c, err := parseCron(s.Cron)
		if err != nil {
			return nil, nil, false
		}
		return zone, newCronPlan(s, c, w).next, true
	}
	p, ok := newPlan(s, w)
	if !ok {
		return nil, nil, false
	}
	return zone, p.next, true
}

// nextAfter returns the first run of next strictly after after.
func nextAfter(after time.Time, zone *time.Location, next func(int64) (int64, bool)) (time.Time, bool) {
	w := wallOf(after, zone)
	for range maxSkips {
		c, ok := next(w)
		if !ok {
			return time.Time{}, false
		}
		t := time.Unix(resolve(c, zone), 0).In(zone)
		if t.After(after) {
			return t, true
		}
		w = c
	}
	return time.Time{}, false
}

// day is a calendar date as days since 1970-01-01.
type day = int64

// plan is a valid freq_type schedule reduced to numbers. Wall times are seconds as returned by
// wallOf; a run is owned by the day its window starts on.
type plan struct {
	freqType int
	interval int64 // days (daily), day bitmask (weekly), day of month or relative day kind
	relative int   // freq_relative_interval
	factor   int64 // weeks or months between runs
	first    day   // active_start_date
	last     day   // min(active_end_date, horizon)
	start    int64 // active_start_time, seconds after midnight
	window   int64 // seconds from start to the last run of the day's window
	step     int64 // seconds between runs; 0 for one run a day
}

// Clamps that keep arithmetic in range without changing results: a period longer than these
// never repeats before 9999-12-31.
const (
	maxDays   = 4_000_000
	maxWeeks  = maxDays / 7
	maxMonths = 130_000
	maxStep   = 3 * secondsPerDay
)

// newPlan reduces s (valid, not cron) for a search starting at wall time w. It returns false for
// schedules that never run on their own (agent start, idle).
func newPlan(s Schedule, w int64) (plan, bool) {
	if s.FreqType == FreqAgentStart || s.FreqType == FreqIdle {
		return plan{}, false
	}
	p := plan{freqType: s.FreqType, relative: s.FreqRelativeInterval}
	p.interval = int64(s.FreqInterval)
	p.factor = min(int64(max(s.FreqRecurrenceFactor, 1)), maxMonths)
	if s.FreqType == FreqDaily {
		p.interval = min(max(p.interval, 1), maxDays)
	}
	if s.FreqType == FreqWeekly {
		p.factor = min(p.factor, maxWeeks)
	}
	p.first = dateDay(cmp.Or(s.ActiveStartDate, MinDate))
	p.last = min(dateDay(cmp.Or(s.ActiveEndDate, DefaultEndDate)), horizon(w, p.first))
	p.start, _ = clock(s.ActiveStartTime)
	end, _ := clock(cmp.Or(s.ActiveEndTime, DefaultEndTime))
	if s.FreqType != FreqOnce && s.FreqSubdayType > SubdayAtTime {
		unit := int64(1)
		switch s.FreqSubdayType {
		case SubdayMinutes:
			unit = 60
		case SubdayHours:
			unit = 3600
		}
		p.step = min(int64(s.FreqSubdayInterval), maxStep) * unit
		p.step = min(p.step, maxStep)
		p.window = end - p.start
		if end < p.start {
			p.window += secondsPerDay // the window spans midnight
		}
	}
	if s.FreqType == FreqOnce {
		p.last = p.first
	}
	return p, true
}

// next returns the first run (a wall time) strictly after wall time w.
func (p plan) next(w int64) (int64, bool) {
	d := floorDiv(w, secondsPerDay)
	if p.window+p.start >= secondsPerDay {
		d-- // yesterday's window may reach into today
	}
	for d <= p.last {
		var ok bool
		if d, ok = p.activeFrom(max(d, p.first)); !ok {
			return 0, false
		}
		if c, ok := p.slotAfter(d, w); ok {
			return c, true
		}
		d++
	}
	return 0, false
}

// slotAfter returns the first run of day d's window strictly after w.
func (p plan) slotAfter(d day, w int64) (int64, bool) {
	base := d*secondsPerDay + p.start
	if base > w {
		return base, true
	}
	if p.step == 0 {
		return 0, false
	}
	k := (w-base)/p.step + 1
	if k*p.step > p.window {
		return 0, false
	}
	return base + k*p.step, true
}

// activeFrom returns the first day on or after d (d >= p.first) on which the schedule runs, up
// to p.last.
func (p plan) activeFrom(d day) (day, bool) {
	switch p.freqType {
	case FreqOnce:
		if d > p.first {
			return 0, false
		}
		return p.first, true
	case FreqDaily:
		k := (d - p.first + p.interval - 1) / p.interval
		d = p.first + k*p.interval
	case FreqWeekly:
		week0 := p.first - weekday(p.first) // the Sunday that starts the first week
		for d <= p.last {
			wk := (d - week0) / 7
			if wk%p.factor != 0 {
				d = week0 + (wk/p.factor+1)*p.factor*7
				continue
			}
			if p.interval&(1<<weekday(d)) != 0 {
				return d, true
			}
			d++
		}
	case FreqMonthly, FreqMonthlyRelative:
		fy, fm, _ := dayDate(p.first)
		y, m, _ := dayDate(d)
		mi := int64(y*12+int(m)) - int64(fy*12+int(fm))
		if r := mi % p.factor; r != 0 {
			mi += p.factor - r
		}
		for ; ; mi += p.factor {
			months := int64(fy*12+int(fm)-1) + mi
			y, m := int(months/12), time.Month(months%12+1)
			if days(y, m, 1) > p.last {
				return 0, false
			}
			var dom int
			if p.freqType == FreqMonthly {
				dom = int(p.interval)
				if dom > daysIn(y, m) {
					continue // SQL Server Agent skips months without that day
				}
			} else {
				dom = relativeDay(y, m, int(p.interval), p.relative)
			}
			if c := days(y, m, dom); c >= d {
				d = c
				break
			}
		}
	}
	return d, d <= p.last
}

// relativeDay returns the day of month for a monthly relative schedule: kind 1..7 is Sunday ..
// Saturday, 8 any day, 9 a weekday (Monday to Friday), 10 a weekend day; rel 1, 2, 4, 8 is the
// first .. fourth such day and 16 the last. Every month has a fourth of each kind.
func relativeDay(y int, m time.Month, kind, rel int) int {
	n := daysIn(y, m)
	match := func(dom int) bool {
		wd := weekday(days(y, m, dom))
		switch {
		case kind >= 1 && kind <= 7:
			return wd == int64(kind-1)
		case kind == 9:
			return wd >= 1 && wd <= 5
		case kind == 10:
			return wd == 0 || wd == 6
		}
		return true // 8: any day
	}
	if rel == 16 {
		for dom := n; dom > 1; dom-- {
			if match(dom) {
				return dom
			}
		}
		return 1
	}
	want := map[int]int{1: 1, 2: 2, 4: 3, 8: 4}[rel]
	seen := 0
	for dom := 1; dom <= n; dom++ {
		if match(dom) {
			if seen++; seen == want {
				return dom
			}
		}
	}
	return 1 // unreachable for a valid schedule
}

// cronPlan is a valid cron schedule bounded by the active dates.
type cronPlan struct {
	spec        cron.Schedule
	first, last day
}

func newCronPlan(s Schedule, c cron.Schedule, w int64) cronPlan {
	p := cronPlan{spec: c, first: dateDay(cmp.Or(s.ActiveStartDate, MinDate))}
	p.last = min(dateDay(cmp.Or(s.ActiveEndDate, DefaultEndDate)), horizon(w, p.first))
	return p
}

// next matches the expression against the wall clock, which robfig/cron sees as UTC (no daylight
// saving time there). The parser searches at most five years per call, so a rare expression is
// searched again from the following year up to the horizon.
func (p cronPlan) next(w int64) (int64, bool) {
	w = max(w, p.first*secondsPerDay-1)
	for w/secondsPerDay <= p.last {
		t := p.spec.Next(time.Unix(w, 0).UTC())
		if t.IsZero() {
			// Nothing up to the end of the year five years on: go on from there.
			y := time.Unix(w, 0).UTC().Year() + 6
			w = time.Date(y, time.January, 1, 0, 0, 0, 0, time.UTC).Unix() - 1
			continue
		}
		c := t.Unix()
		if floorDiv(c, secondsPerDay) > p.last || c <= w {
			return 0, false
		}
		return c, true
	}
	return 0, false
}

// dateDay converts a valid yyyymmdd date to a day.
func dateDay(v int) day {
	t, _ := civil(v)
	return floorDiv(t.Unix(), secondsPerDay)
}

// days converts a calendar date to a day.
func days(y int, m time.Month, d int) day {
	return floorDiv(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix(), secondsPerDay)
}

// dayDate converts a day to a calendar date.
func dayDate(d day) (int, time.Month, int) {
	return time.Unix(d*secondsPerDay, 0).UTC().Date()
}

// daysIn returns the number of days in a month.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// weekday returns 0 (Sunday) .. 6 (Saturday); 1970-01-01 was a Thursday.
func weekday(d day) int64 {
	return (d%7 + 7 + 4) % 7
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// horizon returns the last day a search from wall time w may reach: about 100 years after w, or
// after the first active day when that is later.
func horizon(w int64, first day) day {
	return max(floorDiv(w, secondsPerDay), first) + horizonDays
}
