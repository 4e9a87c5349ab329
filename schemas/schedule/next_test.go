package schedule

import (
	"testing"
	"time"
)

// nextCase is one Next table case: NextN(after, zone, n) must return want.
type nextCase struct {
	name  string
	s     Schedule
	zone  string // evaluation zone passed as loc; "" means UTC
	after string // RFC 3339
	n     int
	want  []string // RFC 3339, with the offset in force at each run
}

var (
	no  = false
	yes = true
)

// daily returns a daily schedule starting 2024-01-01 at hhmmss.
func daily(at int) Schedule {
	return Schedule{Name: "d", FreqType: FreqDaily, FreqInterval: 1, ActiveStartDate: 20240101, ActiveStartTime: at}
}

// repeat returns a daily schedule starting 2024-01-01 that repeats every n units in a window.
func repeat(unit, n, from, to int) Schedule {
	return Schedule{Name: "r", FreqType: FreqDaily, FreqSubdayType: unit, FreqSubdayInterval: n,
		ActiveStartDate: 20240101, ActiveStartTime: from, ActiveEndTime: to}
}

func monthlyRel(kind, rel, factor, start, at int) Schedule {
	return Schedule{Name: "mr", FreqType: FreqMonthlyRelative, FreqInterval: kind, FreqRelativeInterval: rel,
		FreqRecurrenceFactor: factor, ActiveStartDate: start, ActiveStartTime: at}
}

func cronSched(expr, tz string) Schedule {
	return Schedule{Name: "c", Cron: expr, TimeZone: tz}
}

func with(s Schedule, f func(*Schedule)) Schedule {
	f(&s)
	return s
}

var nextCases = []nextCase{
	// once
	{name: "once in the future", s: Schedule{Name: "o", FreqType: FreqOnce, ActiveStartDate: 20240315, ActiveStartTime: 123000},
		after: "2024-03-01T00:00:00Z", n: 2, want: []string{"2024-03-15T12:30:00Z"}},
	{name: "once in the past", s: Schedule{Name: "o", FreqType: FreqOnce, ActiveStartDate: 20240315, ActiveStartTime: 123000},
		after: "2024-03-16T00:00:00Z", n: 1},
	{name: "once exactly at after", s: Schedule{Name: "o", FreqType: FreqOnce, ActiveStartDate: 20240315, ActiveStartTime: 123000},
		after: "2024-03-15T12:30:00Z", n: 1},
	{name: "once ignores sub-day repeat", s: Schedule{Name: "o", FreqType: FreqOnce, FreqSubdayType: SubdayHours, FreqSubdayInterval: 1,
		ActiveStartDate: 20240315, ActiveStartTime: 100000}, after: "2024-03-15T00:00:00Z", n: 3, want: []string{"2024-03-15T10:00:00Z"}},

	// daily
	{name: "daily", s: daily(20000), after: "2024-01-01T00:00:00Z", n: 3,
		want: []string{"2024-01-01T02:00:00Z", "2024-01-02T02:00:00Z", "2024-01-03T02:00:00Z"}},
	{name: "daily every 3 days from the start date", s: with(daily(0), func(s *Schedule) { s.FreqInterval = 3 }),
		after: "2024-01-02T00:00:00Z", n: 3, want: []string{"2024-01-04T00:00:00Z", "2024-01-07T00:00:00Z", "2024-01-10T00:00:00Z"}},
	{name: "daily until active end date", s: with(daily(20000), func(s *Schedule) { s.ActiveEndDate = 20240103 }),
		after: "2024-01-01T12:00:00Z", n: 5, want: []string{"2024-01-02T02:00:00Z", "2024-01-03T02:00:00Z"}},
	{name: "daily from a future start date", s: with(daily(20000), func(s *Schedule) { s.ActiveStartDate = 20240601 }),
		after: "2024-01-01T00:00:00Z", n: 1, want: []string{"2024-06-01T02:00:00Z"}},
	{name: "past the active end date", s: with(daily(20000), func(s *Schedule) { s.ActiveEndDate = 20240103 }),
		after: "2024-02-01T00:00:00Z", n: 1},
	{name: "omitted fields take defaults", s: Schedule{Name: "d", FreqType: FreqDaily},
		after: "2024-05-05T10:00:00Z", n: 2, want: []string{"2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z"}},
	{name: "zero after starts at 1990-01-01", s: Schedule{Name: "d", FreqType: FreqDaily},
		after: "0001-01-01T00:00:00Z", n: 1, want: []string{"1990-01-01T00:00:00Z"}},
	{name: "nothing after 9999-12-31", s: Schedule{Name: "d", FreqType: FreqDaily}, after: "9999-12-31T12:00:00Z", n: 1},
	{name: "time_zone replaces loc", s: with(daily(20000), func(s *Schedule) { s.TimeZone = "Asia/Tokyo" }), zone: "America/New_York",
		after: "2024-01-01T00:00:00Z", n: 1, want: []string{"2024-01-02T02:00:00+09:00"}},
	{name: "disabled", s: with(daily(20000), func(s *Schedule) { s.Enabled = &no }), after: "2024-01-01T00:00:00Z", n: 1},
	{name: "enabled explicitly", s: with(daily(20000), func(s *Schedule) { s.Enabled = &yes }), after: "2024-01-01T00:00:00Z", n: 1,
		want: []string{"2024-01-01T02:00:00Z"}},
	{name: "agent start never has a next time", s: Schedule{Name: "a", FreqType: FreqAgentStart}, after: "2024-01-01T00:00:00Z", n: 1},
	{name: "idle never has a next time", s: Schedule{Name: "i", FreqType: FreqIdle}, after: "2024-01-01T00:00:00Z", n: 1},
	{name: "invalid schedule", s: Schedule{Name: "w", FreqType: FreqWeekly, FreqInterval: 0}, after: "2024-01-01T00:00:00Z", n: 1},

	// weekly
	{name: "weekly Monday and Wednesday", s: Schedule{Name: "w", FreqType: FreqWeekly, FreqInterval: 2 | 8, ActiveStartDate: 20240101, ActiveStartTime: 20000},
		after: "2024-01-01T00:00:00Z", n: 4,
		want: []string{"2024-01-01T02:00:00Z", "2024-01-03T02:00:00Z", "2024-01-08T02:00:00Z", "2024-01-10T02:00:00Z"}},
	{name: "weekly every 2 weeks from the week of the start date", s: Schedule{Name: "w", FreqType: FreqWeekly, FreqInterval: 1 | 64,
		FreqRecurrenceFactor: 2, ActiveStartDate: 20240103}, after: "2023-12-01T00:00:00Z", n: 5,
		want: []string{"2024-01-06T00:00:00Z", "2024-01-14T00:00:00Z", "2024-01-20T00:00:00Z", "2024-01-28T00:00:00Z", "2024-02-03T00:00:00Z"}},

	// monthly
	{name: "monthly on the 31st skips shorter months", s: Schedule{Name: "m", FreqType: FreqMonthly, FreqInterval: 31, ActiveStartDate: 20240101},
		after: "2024-01-01T00:00:00Z", n: 5,
		want: []string{"2024-01-31T00:00:00Z", "2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z", "2024-08-31T00:00:00Z"}},
	{name: "monthly on the 29th in a non-leap year", s: Schedule{Name: "m", FreqType: FreqMonthly, FreqInterval: 29, ActiveStartDate: 20230101},
		after: "2023-01-01T00:00:00Z", n: 3, want: []string{"2023-01-29T00:00:00Z", "2023-03-29T00:00:00Z", "2023-04-29T00:00:00Z"}},
	{name: "monthly on the 29th in a leap year", s: Schedule{Name: "m", FreqType: FreqMonthly, FreqInterval: 29, ActiveStartDate: 20240101},
		after: "2024-01-30T00:00:00Z", n: 2, want: []string{"2024-02-29T00:00:00Z", "2024-03-29T00:00:00Z"}},
	{name: "monthly every 3 months from the start month", s: Schedule{Name: "m", FreqType: FreqMonthly, FreqInterval: 15, FreqRecurrenceFactor: 3,
		ActiveStartDate: 20240120, ActiveStartTime: 63000}, after: "2024-01-01T00:00:00Z", n: 3,
		want: []string{"2024-04-15T06:30:00Z", "2024-07-15T06:30:00Z", "2024-10-15T06:30:00Z"}},
	{name: "monthly on the 30th every 12 months from February never runs", s: Schedule{Name: "m", FreqType: FreqMonthly, FreqInterval: 30,
		FreqRecurrenceFactor: 12, ActiveStartDate: 20240201}, after: "2024-01-01T00:00:00Z", n: 1},

	// monthly relative
	{name: "first Monday", s: monthlyRel(2, 1, 1, 20240101, 90000), after: "2024-01-01T00:00:00Z", n: 3,
		want: []string{"2024-01-01T09:00:00Z", "2024-02-05T09:00:00Z", "2024-03-04T09:00:00Z"}},
	{name: "last Friday", s: monthlyRel(6, 16, 1, 20240101, 0), after: "2024-01-01T00:00:00Z", n: 3,
		want: []string{"2024-01-26T00:00:00Z", "2024-02-23T00:00:00Z", "2024-03-29T00:00:00Z"}},
	{name: "fourth Thursday is not the fifth", s: monthlyRel(5, 8, 1, 20240201, 0), after: "2024-01-01T00:00:00Z", n: 3,
		want: []string{"2024-02-22T00:00:00Z", "2024-03-28T00:00:00Z", "2024-04-25T00:00:00Z"}},
	{name: "last Thursday is the fifth when there is one", s: monthlyRel(5, 16, 1, 20240201, 0), after: "2024-01-01T00:00:00Z", n: 2,
		want: []string{"2024-02-29T00:00:00Z", "2024-03-28T00:00:00Z"}},
	{name: "first weekday", s: monthlyRel(9, 1, 1, 20240601, 0), after: "2024-01-01T00:00:00Z", n: 2,
		want: []string{"2024-06-03T00:00:00Z", "2024-07-01T00:00:00Z"}},
	{name: "last weekday", s: monthlyRel(9, 16, 1, 20240801, 0), after: "2024-01-01T00:00:00Z", n: 2,
		want: []string{"2024-08-30T00:00:00Z", "2024-09-30T00:00:00Z"}},
	{name: "second weekend day", s: monthlyRel(10, 2, 1, 20240101, 0), after: "2024-01-01T00:00:00Z", n: 2,
		want: []string{"2024-01-07T00:00:00Z", "2024-02-04T00:00:00Z"}},
	{name: "last weekend day every 2 months", s: monthlyRel(10, 16, 2, 20240101, 0), after: "2024-01-01T00:00:00Z", n: 2,
		want: []string{"2024-01-28T00:00:00Z", "2024-03-31T00:00:00Z"}},
	{name: "last day every 2 months", s: monthlyRel(8, 16, 2, 20240101, 0), after: "2024-01-01T00:00:00Z", n: 3,
		want: []string{"2024-01-31T00:00:00Z", "2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z"}},
	{name: "third day", s: monthlyRel(8, 4, 1, 20240101, 0), after: "2024-01-05T00:00:00Z", n: 1,
		want: []string{"2024-02-03T00:00:00Z"}},
	{name: "relative day before the start date waits a month", s: monthlyRel(2, 1, 1, 20240102, 0), after: "2024-01-01T00:00:00Z", n: 1,
		want: []string{"2024-02-05T00:00:00Z"}},

	// sub-day repeats
	{name: "every 10 seconds", s: repeat(SubdaySeconds, 10, 0, 30), after: "2024-01-01T00:00:05Z", n: 4,
		want: []string{"2024-01-01T00:00:10Z", "2024-01-01T00:00:20Z", "2024-01-01T00:00:30Z", "2024-01-02T00:00:00Z"}},
	{name: "every 15 minutes in a window", s: repeat(SubdayMinutes, 15, 80000, 90000), after: "2024-01-01T08:50:00Z", n: 3,
		want: []string{"2024-01-01T09:00:00Z", "2024-01-02T08:00:00Z", "2024-01-02T08:15:00Z"}},
	{name: "every 5 hours", s: repeat(SubdayHours, 5, 0, 235959), after: "2024-01-01T19:00:00Z", n: 3,
		want: []string{"2024-01-01T20:00:00Z", "2024-01-02T00:00:00Z", "2024-01-02T05:00:00Z"}},
	{name: "window over midnight", s: repeat(SubdayHours, 1, 220000, 20000), after: "2024-01-01T21:00:00Z", n: 6,
		want: []string{"2024-01-01T22:00:00Z", "2024-01-01T23:00:00Z", "2024-01-02T00:00:00Z", "2024-01-02T01:00:00Z",
			"2024-01-02T02:00:00Z", "2024-01-02T22:00:00Z"}},
	{name: "window over midnight belongs to the day it starts", s: Schedule{Name: "w", FreqType: FreqWeekly, FreqInterval: 2,
		FreqSubdayType: SubdayHours, FreqSubdayInterval: 1, ActiveStartDate: 20240101, ActiveStartTime: 220000, ActiveEndTime: 20000},
		after: "2024-01-01T00:00:00Z", n: 6,
		want: []string{"2024-01-01T22:00:00Z", "2024-01-01T23:00:00Z", "2024-01-02T00:00:00Z", "2024-01-02T01:00:00Z",
			"2024-01-02T02:00:00Z", "2024-01-08T22:00:00Z"}},
	{name: "window over midnight on the active end date", s: with(repeat(SubdayHours, 1, 230000, 10000), func(s *Schedule) { s.ActiveEndDate = 20240102 }),
		after: "2024-01-02T12:00:00Z", n: 5,
		want: []string{"2024-01-02T23:00:00Z", "2024-01-03T00:00:00Z", "2024-01-03T01:00:00Z"}},
	{name: "interval longer than the window", s: repeat(SubdayHours, 100, 10000, 30000), after: "2024-01-01T00:00:00Z", n: 2,
		want: []string{"2024-01-01T01:00:00Z", "2024-01-02T01:00:00Z"}},

	// daylight saving time
	{name: "New York spring forward gap runs after the gap", s: daily(23000), zone: "America/New_York",
		after: "2024-03-09T12:00:00-05:00", n: 2, want: []string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"}},
	{name: "New York gap runs once", s: repeat(SubdayMinutes, 30, 10000, 40000), zone: "America/New_York",
		after: "2024-03-10T00:00:00-05:00", n: 6,
		want: []string{"2024-03-10T01:00:00-05:00", "2024-03-10T01:30:00-05:00", "2024-03-10T03:00:00-04:00",
			"2024-03-10T03:30:00-04:00", "2024-03-10T04:00:00-04:00", "2024-03-11T01:00:00-04:00"}},
	{name: "New York fall back overlap runs at the first occurrence", s: daily(13000), zone: "America/New_York",
		after: "2024-11-02T12:00:00-04:00", n: 2, want: []string{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}},
	{name: "New York repeated hour runs once", s: repeat(SubdayMinutes, 15, 10000, 30000), zone: "America/New_York",
		after: "2024-11-03T01:40:00-04:00", n: 3,
		want: []string{"2024-11-03T01:45:00-04:00", "2024-11-03T02:00:00-05:00", "2024-11-03T02:15:00-05:00"}},
	{name: "New York after in the second pass", s: repeat(SubdayMinutes, 15, 10000, 30000), zone: "America/New_York",
		after: "2024-11-03T01:10:00-05:00", n: 1, want: []string{"2024-11-03T02:00:00-05:00"}},
	{name: "London spring forward gap", s: daily(13000), zone: "Europe/London",
		after: "2024-03-30T12:00:00Z", n: 2, want: []string{"2024-03-31T02:00:00+01:00", "2024-04-01T01:30:00+01:00"}},
	{name: "London fall back overlap", s: daily(13000), zone: "Europe/London",
		after: "2024-10-26T12:00:00+01:00", n: 2, want: []string{"2024-10-27T01:30:00+01:00", "2024-10-28T01:30:00Z"}},
	{name: "London hourly over fall back", s: repeat(SubdayHours, 1, 0, 235959), zone: "Europe/London",
		after: "2024-10-27T00:30:00+01:00", n: 3,
		want: []string{"2024-10-27T01:00:00+01:00", "2024-10-27T02:00:00Z", "2024-10-27T03:00:00Z"}},

	// cron
	{name: "cron five fields", s: cronSched("30 2 * * 1-5", ""), after: "2024-01-05T03:00:00Z", n: 2,
		want: []string{"2024-01-08T02:30:00Z", "2024-01-09T02:30:00Z"}},
	{name: "cron with seconds", s: cronSched("*/20 * * * * *", ""), after: "2024-01-01T00:00:05Z", n: 3,
		want: []string{"2024-01-01T00:00:20Z", "2024-01-01T00:00:40Z", "2024-01-01T00:01:00Z"}},
	{name: "cron in its time zone", s: cronSched("0 9 * * *", "Europe/London"), zone: "America/New_York",
		after: "2024-07-01T00:00:00Z", n: 2, want: []string{"2024-07-01T09:00:00+01:00", "2024-07-02T09:00:00+01:00"}},
	{name: "cron in the target's zone", s: cronSched("0 9 * * *", ""), zone: "America/New_York",
		after: "2024-07-01T00:00:00Z", n: 1, want: []string{"2024-07-01T09:00:00-04:00"}},
	{name: "cron gap", s: cronSched("30 2 * * *", ""), zone: "America/New_York",
		after: "2024-03-09T12:00:00-05:00", n: 2, want: []string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"}},
	{name: "cron overlap", s: cronSched("30 1 * * *", ""), zone: "America/New_York",
		after: "2024-11-02T12:00:00-04:00", n: 2, want: []string{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}},
	{name: "cron within active dates", s: with(cronSched("0 0 * * *", ""), func(s *Schedule) { s.ActiveStartDate, s.ActiveEndDate = 20240110, 20240111 }),
		after: "2024-01-01T00:00:00Z", n: 5, want: []string{"2024-01-10T00:00:00Z", "2024-01-11T00:00:00Z"}},
	{name: "cron that never fires", s: cronSched("0 0 30 2 *", ""), after: "2024-01-01T00:00:00Z", n: 1},
	{name: "cron field that matches nothing", s: cronSched(", * * * * *", ""), after: "2024-01-01T00:00:00Z", n: 1},
	{name: "cron descriptor", s: cronSched("@monthly", ""), after: "2024-01-15T00:00:00Z", n: 1, want: []string{"2024-02-01T00:00:00Z"}},
	{name: "cron rarely fires", s: cronSched("0 0 29 2 *", ""), after: "2024-03-01T00:00:00Z", n: 1, want: []string{"2028-02-29T00:00:00Z"}},
	{name: "cron with freq_type is invalid", s: with(cronSched("0 0 * * *", ""), func(s *Schedule) { s.FreqType = FreqDaily }),
		after: "2024-01-01T00:00:00Z", n: 1},
}

// zoneOf loads a test zone; "" is UTC.
func zoneOf(tb testing.TB, name string) *time.Location {
	tb.Helper()
	if name == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatalf("load zone %q: %v", name, err)
	}
	return loc
}

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatalf("parse %q: %v", s, err)
	}
	return t
}

func TestNext(t *testing.T) {
	for _, tc := range nextCases {
		t.Run(tc.name, func(t *testing.T) {
			loc := zoneOf(t, tc.zone)
			got := tc.s.NextN(mustTime(t, tc.after), loc, tc.n)
			if len(got) != len(tc.want) {
				t.Fatalf("NextN = %v, want %v", fmtTimes(got), tc.want)
			}
			for i, g := range got {
				if g.Format(time.RFC3339) != tc.want[i] {
					t.Fatalf("NextN = %v, want %v", fmtTimes(got), tc.want)
				}
			}
			// Next agrees with NextN and returns false after the last run.
			if len(got) < tc.n {
				from := mustTime(t, tc.after)
				if len(got) > 0 {
					from = got[len(got)-1]
				}
				if next, ok := tc.s.Next(from, loc); ok {
					t.Fatalf("Next(%v) = %v, want no further run", from, next)
				}
			}
		})
	}
}

func fmtTimes(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Format(time.RFC3339)
	}
	return out
}

func TestNextNilLocationIsUTC(t *testing.T) {
	got, ok := daily(20000).Next(mustTime(t, "2024-01-01T00:00:00Z"), nil)
	if !ok || got.Format(time.RFC3339) != "2024-01-01T02:00:00Z" {
		t.Fatalf("Next = %v, %v", got, ok)
	}
	if got.Location() != time.UTC {
		t.Fatalf("location = %v, want UTC", got.Location())
	}
}

func TestNextNNonPositive(t *testing.T) {
	for _, n := range []int{0, -1} {
		if got := daily(0).NextN(mustTime(t, "2024-01-01T00:00:00Z"), time.UTC, n); got != nil {
			t.Fatalf("NextN(%d) = %v, want nil", n, got)
		}
	}
}

// TestResolve checks the wall-clock to instant mapping directly at both kinds of transition.
func TestResolve(t *testing.T) {
	tests := []struct {
		name, zone, wall, want string
	}{
		{"ordinary", "America/New_York", "2024-06-01T12:00:00Z", "2024-06-01T12:00:00-04:00"},
		{"gap start", "America/New_York", "2024-03-10T02:00:00Z", "2024-03-10T03:00:00-04:00"},
		{"gap middle", "America/New_York", "2024-03-10T02:59:59Z", "2024-03-10T03:00:00-04:00"},
		{"gap end", "America/New_York", "2024-03-10T03:00:00Z", "2024-03-10T03:00:00-04:00"},
		{"overlap", "America/New_York", "2024-11-03T01:00:00Z", "2024-11-03T01:00:00-04:00"},
		{"after overlap", "America/New_York", "2024-11-03T02:00:00Z", "2024-11-03T02:00:00-05:00"},
		{"London gap", "Europe/London", "2024-03-31T01:15:00Z", "2024-03-31T02:00:00+01:00"},
		{"London overlap", "Europe/London", "2024-10-27T01:15:00Z", "2024-10-27T01:15:00+01:00"},
		{"Lord Howe half-hour overlap", "Australia/Lord_Howe", "2024-04-07T01:45:00Z", "2024-04-07T01:45:00+11:00"},
		{"Samoa skipped day", "Pacific/Apia", "2011-12-30T12:00:00Z", "2011-12-31T00:00:00+14:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loc := zoneOf(t, tc.zone)
			got := time.Unix(resolve(mustTime(t, tc.wall).Unix(), loc), 0).In(loc).Format(time.RFC3339)
			if got != tc.want {
				t.Fatalf("resolve(%s) = %s, want %s", tc.wall, got, tc.want)
			}
		})
	}
}

// TestLast checks Last against the runs NextN lists: for every cutoff, the last listed run at
// or before it.
func TestLast(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []Schedule{
		{Name: "daily 03:00", FreqType: 4, FreqInterval: 1, ActiveStartTime: 30000},
		{Name: "weekly", FreqType: 8, FreqInterval: 2, FreqRecurrenceFactor: 1},
		{Name: "every second", Cron: "* * * * * *"},
	} {
		s.Normalize(from)
		runs := s.NextN(from, time.UTC, 50)
		if len(runs) < 3 {
			t.Fatalf("%s: %d runs listed", s.Name, len(runs))
		}
		if _, ok := s.Last(runs[0].Add(-time.Second), time.UTC); ok && s.Cron == "" {
			t.Errorf("%s: a run before the first one after %s", s.Name, from)
		}
		for i := 1; i < len(runs); i++ {
			cut := runs[i].Add(-time.Nanosecond)
			got, ok := s.Last(cut, time.UTC)
			if !ok || !got.Equal(runs[i-1]) {
				t.Errorf("%s: Last(%s) = %s %v, want %s", s.Name, cut, got, ok, runs[i-1])
			}
			if got, _ := s.Last(runs[i], time.UTC); !got.Equal(runs[i]) {
				t.Errorf("%s: Last(%s) = %s, want the run itself", s.Name, runs[i], got)
			}
		}
	}
}
