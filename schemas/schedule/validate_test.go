package schedule

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// found is a problem reduced to what tests compare: its path and code.
type found struct {
	path string
	code int
}

var validateCases = []struct {
	name string
	s    Schedule
	want []found
}{
	{name: "daily with defaults", s: Schedule{Name: "d", FreqType: FreqDaily}},
	{name: "normalized weekly", s: Schedule{Name: "w", FreqType: FreqWeekly, FreqInterval: 127, FreqRecurrenceFactor: 1, FreqSubdayType: 1,
		ActiveStartDate: 20240101, ActiveEndDate: 99991231, ActiveEndTime: 235959}},
	{name: "monthly relative", s: monthlyRel(10, 16, 2, 20240101, 0)},
	{name: "every 10 seconds", s: repeat(SubdaySeconds, 10, 0, 235959)},
	{name: "window over midnight", s: repeat(SubdayHours, 1, 220000, 20000)},
	{name: "once", s: Schedule{Name: "o", FreqType: FreqOnce, ActiveStartDate: 20240229, ActiveStartTime: 235959}},
	{name: "agent start", s: Schedule{Name: "a", FreqType: FreqAgentStart}},
	{name: "cron", s: cronSched("0 2 * * 1-5", "Europe/London")},
	{name: "cron with seconds", s: cronSched("*/30 * * * * *", "")},
	{name: "cron descriptor", s: cronSched("@daily", "UTC")},

	{name: "no name", s: Schedule{FreqType: FreqDaily}, want: []found{{"s.name", 0}}},
	{name: "blank name", s: Schedule{Name: "  ", FreqType: FreqDaily}, want: []found{{"s.name", 0}}},
	{name: "long name", s: Schedule{Name: strings.Repeat("x", 129), FreqType: FreqDaily}, want: []found{{"s.name", 0}}},
	{name: "no freq_type", s: Schedule{Name: "x"}, want: []found{{"s.freq_type", 14278}}},
	{name: "unknown freq_type", s: Schedule{Name: "x", FreqType: 3}, want: []found{{"s.freq_type", 14266}}},
	{name: "cron and freq_type", s: with(cronSched("0 0 * * *", ""), func(s *Schedule) { s.FreqType = FreqDaily }),
		want: []found{{"s.freq_type", 14278}}},
	{name: "bad cron", s: cronSched("61 * * * *", ""), want: []found{{"s.cron", 0}}},
	{name: "cron with too many fields", s: cronSched("0 0 0 * * * *", ""), want: []found{{"s.cron", 0}}},
	{name: "cron with TZ prefix", s: cronSched("TZ=UTC", ""), want: []found{{"s.cron", 0}}},
	{name: "cron @every", s: cronSched("@every 5m", ""), want: []found{{"s.cron", 0}}},
	{name: "blank cron", s: cronSched("   ", ""), want: []found{{"s.cron", 0}}},
	{name: "unknown time zone", s: with(daily(0), func(s *Schedule) { s.TimeZone = "Mars/Olympus_Mons" }), want: []found{{"s.time_zone", 0}}},
	{name: "negative daily interval", s: with(daily(0), func(s *Schedule) { s.FreqInterval = -1 }), want: []found{{"s.freq_interval", 14278}}},
	{name: "weekly without days", s: Schedule{Name: "w", FreqType: FreqWeekly}, want: []found{{"s.freq_interval", 14278}}},
	{name: "weekly bitmask too large", s: Schedule{Name: "w", FreqType: FreqWeekly, FreqInterval: 128}, want: []found{{"s.freq_interval", 14278}}},
	{name: "weekly negative recurrence", s: Schedule{Name: "w", FreqType: FreqWeekly, FreqInterval: 2, FreqRecurrenceFactor: -2},
		want: []found{{"s.freq_recurrence_factor", 14278}}},
	{name: "monthly day 32", s: Schedule{Name: "m", FreqType: FreqMonthly, FreqInterval: 32}, want: []found{{"s.freq_interval", 14278}}},
	{name: "monthly without a day", s: Schedule{Name: "m", FreqType: FreqMonthly}, want: []found{{"s.freq_interval", 14278}}},
	{name: "monthly relative out of range", s: monthlyRel(11, 3, 1, 0, 0),
		want: []found{{"s.freq_interval", 14278}, {"s.freq_relative_interval", 14266}}},
	{name: "monthly relative without relative interval", s: monthlyRel(1, 0, 1, 0, 0), want: []found{{"s.freq_relative_interval", 14266}}},
	{name: "unknown subday type", s: with(daily(0), func(s *Schedule) { s.FreqSubdayType = 3 }), want: []found{{"s.freq_subday_type", 14266}}},
	{name: "seconds below 10", s: repeat(SubdaySeconds, 5, 0, 235959), want: []found{{"s.freq_subday_interval", 14200}}},
	{name: "zero minutes", s: repeat(SubdayMinutes, 0, 0, 235959), want: []found{{"s.freq_subday_interval", 14200}}},
	{name: "negative hours", s: repeat(SubdayHours, -1, 0, 235959), want: []found{{"s.freq_subday_interval", 14200}}},
	{name: "hour 24", s: daily(240000), want: []found{{"s.active_start_time", 14266}}},
	{name: "minute 60", s: with(daily(0), func(s *Schedule) { s.ActiveEndTime = 126000 }), want: []found{{"s.active_end_time", 14266}}},
	{name: "negative time", s: daily(-1), want: []found{{"s.active_start_time", 14266}}},
	{name: "February 29 in a non-leap year", s: with(daily(0), func(s *Schedule) { s.ActiveStartDate = 20230229 }),
		want: []found{{"s.active_start_date", 14266}}},
	{name: "before 1990", s: with(daily(0), func(s *Schedule) { s.ActiveStartDate = 19891231 }), want: []found{{"s.active_start_date", 14266}}},
	{name: "month 13", s: with(daily(0), func(s *Schedule) { s.ActiveEndDate = 20241301 }), want: []found{{"s.active_end_date", 14266}}},
	{name: "end date before start date", s: with(daily(0), func(s *Schedule) { s.ActiveEndDate = 20231231 }),
		want: []found{{"s.active_end_date", 14278}}},
	{name: "every problem at once", s: Schedule{FreqType: FreqMonthlyRelative, FreqInterval: 0, FreqRelativeInterval: 5, FreqRecurrenceFactor: -1,
		FreqSubdayType: SubdaySeconds, FreqSubdayInterval: 1, ActiveStartDate: 20240101, ActiveEndDate: 20230101,
		ActiveStartTime: 999999, TimeZone: "Nowhere"},
		want: []found{{"s.name", 0}, {"s.time_zone", 0}, {"s.freq_interval", 14278}, {"s.freq_relative_interval", 14266},
			{"s.freq_recurrence_factor", 14278}, {"s.freq_subday_interval", 14200}, {"s.active_start_time", 14266},
			{"s.active_end_date", 14278}}},
}

func TestValidate(t *testing.T) {
	for _, tc := range validateCases {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.s.Validate("s")
			var got []found
			for _, p := range l {
				got = append(got, found{p.Path, p.Code})
				if p.Message == "" {
					t.Errorf("%s: empty message", p.Path)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Validate = %v, want %v\n%v", got, tc.want, l.Err())
			}
			if (len(tc.want) == 0) != (l.Err() == nil) {
				t.Fatalf("Err() = %v with %d problems", l.Err(), len(l))
			}
		})
	}
}

func TestValidateNoPath(t *testing.T) {
	l := Schedule{Name: "x"}.Validate("")
	if len(l) != 1 || l[0].Path != "freq_type" {
		t.Fatalf("Validate(\"\") = %v, want one problem at freq_type", l)
	}
}

func TestValidateMessagesSayHowToFix(t *testing.T) {
	l := Schedule{Name: "x", FreqType: 3}.Validate("")
	if len(l) != 1 || !strings.Contains(l[0].Message, "The specified '@freq_type' is invalid (valid values are: 1, 4, 8, 16, 32, 64, 128)") ||
		!strings.Contains(l[0].Message, "got 3") {
		t.Fatalf("message = %v", l)
	}
}

func TestLocation(t *testing.T) {
	ny := zoneOf(t, "America/New_York")
	tests := []struct {
		name    string
		tz      string
		local   *time.Location
		want    string
		wantErr error
	}{
		{"target zone", "", ny, "America/New_York", nil},
		{"nil local is UTC", "", nil, "UTC", nil},
		{"schedule zone wins", "Europe/London", ny, "Europe/London", nil},
		{"unknown", "Nowhere/Else", ny, "", ErrTimeZone},
		{"path traversal", "../../etc/passwd", ny, "", ErrTimeZone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Schedule{TimeZone: tc.tz}.Location(tc.local)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && got.String() != tc.want {
				t.Fatalf("Location = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseCron(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr error
	}{
		{"0 2 * * *", nil},
		{"0 0 2 * * *", nil},
		{"@weekly", nil},
		{"", ErrCron},
		{"TZ=UTC", ErrCron},
		{"CRON_TZ=UTC 0 2 * * *", ErrCron},
		{"@every 1h", ErrCron},
		{"@sometimes", ErrCron},
		{"* * *", ErrCron},
		{", * * * * *", ErrCron},
		{"0 , * * *", ErrCron},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			if _, err := parseCron(tc.spec); !errors.Is(err, tc.wantErr) {
				t.Fatalf("parseCron(%q) = %v, want %v", tc.spec, err, tc.wantErr)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	today := time.Date(2024, 6, 7, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   Schedule
		want Schedule
	}{
		{"daily", Schedule{Name: "d", FreqType: FreqDaily},
			Schedule{Name: "d", FreqType: FreqDaily, FreqInterval: 1, FreqSubdayType: 1, ActiveStartDate: 20240607,
				ActiveEndDate: 99991231, ActiveEndTime: 235959}},
		{"weekly", Schedule{Name: "w", FreqType: FreqWeekly, FreqInterval: 2},
			Schedule{Name: "w", FreqType: FreqWeekly, FreqInterval: 2, FreqSubdayType: 1, FreqRecurrenceFactor: 1,
				ActiveStartDate: 20240607, ActiveEndDate: 99991231, ActiveEndTime: 235959}},
		{"monthly relative", Schedule{Name: "m", FreqType: FreqMonthlyRelative, FreqInterval: 1, FreqRelativeInterval: 1},
			Schedule{Name: "m", FreqType: FreqMonthlyRelative, FreqInterval: 1, FreqRelativeInterval: 1, FreqSubdayType: 1,
				FreqRecurrenceFactor: 1, ActiveStartDate: 20240607, ActiveEndDate: 99991231, ActiveEndTime: 235959}},
		{"set fields are kept", Schedule{Name: "d", FreqType: FreqDaily, FreqInterval: 3, FreqSubdayType: 4, FreqSubdayInterval: 5,
			ActiveStartDate: 20200101, ActiveEndDate: 20301231, ActiveStartTime: 10000, ActiveEndTime: 20000},
			Schedule{Name: "d", FreqType: FreqDaily, FreqInterval: 3, FreqSubdayType: 4, FreqSubdayInterval: 5,
				ActiveStartDate: 20200101, ActiveEndDate: 20301231, ActiveStartTime: 10000, ActiveEndTime: 20000}},
		{"missing freq_type stays missing", Schedule{Name: "x"},
			Schedule{Name: "x", FreqSubdayType: 1, ActiveStartDate: 20240607, ActiveEndDate: 99991231, ActiveEndTime: 235959}},
		{"cron gets dates only", Schedule{Name: "c", Cron: "0 0 * * *"},
			Schedule{Name: "c", Cron: "0 0 * * *", ActiveStartDate: 20240607, ActiveEndDate: 99991231, ActiveEndTime: 235959}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in
			got.Normalize(today)
			if got != tc.want {
				t.Fatalf("Normalize:\n got %+v\nwant %+v", got, tc.want)
			}
			again := got
			again.Normalize(today.AddDate(1, 0, 0))
			if again != got {
				t.Fatalf("Normalize is not idempotent: %+v", again)
			}
		})
	}
	var nilSchedule *Schedule
	nilSchedule.Normalize(today) // must not panic
}

// TestNormalizeTodayInItsZone checks that the default start date is today's date where today is.
func TestNormalizeTodayInItsZone(t *testing.T) {
	tokyo := zoneOf(t, "Asia/Tokyo")
	s := Schedule{Name: "d", FreqType: FreqDaily}
	s.Normalize(time.Date(2024, 6, 7, 1, 0, 0, 0, tokyo)) // still June 6 in UTC
	if s.ActiveStartDate != 20240607 {
		t.Fatalf("active_start_date = %d, want 20240607", s.ActiveStartDate)
	}
}
