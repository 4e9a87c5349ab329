package schedule

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/msx-project/msx/schemas/problem"
)

// SQL Server message numbers used as problem codes.
const (
	// codeInvalid is 14200 "The specified '%s' is invalid."
	codeInvalid = 14200
	// codeInvalidValues is 14266 "The specified '%s' is invalid (valid values are: %s)."
	codeInvalidValues = 14266
	// codeScheduleInvalid is 14278 "The schedule for this job is invalid (reason: %s)."
	codeScheduleInvalid = 14278
)

// Defaults and limits, as in msdb.
const (
	// DefaultEndDate is active_end_date when it is omitted.
	DefaultEndDate = 99991231
	// DefaultEndTime is active_end_time when it is omitted.
	DefaultEndTime = 235959
	// MinDate is the earliest active date SQL Server Agent accepts, and the active_start_date
	// that Next assumes when it is omitted (see Next).
	MinDate = 19900101
	// MaxNameLen is the longest schedule name, in characters (sysname).
	MaxNameLen = 128
	// MinSubdaySeconds is the shortest repeat in seconds (freq_subday_type 2).
	MinSubdaySeconds = 10
)

// cronParser accepts 5 fields, 6 fields with seconds first, and descriptors such as @daily.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom |
	cron.Month | cron.Dow | cron.Descriptor)

// parseCron parses a cron expression; errors wrap ErrCron. It refuses what the parser would
// accept but msx does not: a TZ= or CRON_TZ= prefix (use time_zone, which also avoids a panic in
// the parser on "TZ=x" without a space) and @every, which has no anchor and drifts with restarts.
func parseCron(spec string) (cron.Schedule, error) {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil, fmt.Errorf("%w: empty", ErrCron)
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return nil, fmt.Errorf("%w: a TZ= prefix is not accepted; set time_zone instead", ErrCron)
	case strings.HasPrefix(spec, "@every"):
		return nil, fmt.Errorf("%w: @every is not accepted (it has no fixed start and drifts when the agent restarts); "+
			"use freq_type 4 with freq_subday_type 2, 4 or 8 and freq_subday_interval", ErrCron)
	}
	c, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCron, err)
	}
	sc, ok := c.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported expression", ErrCron)
	}
	// The parser accepts fields such as "," that match nothing; such a schedule never fires, and
	// the parser's own search would step through five years one second at a time to find that out.
	const star = 1 << 63
	for _, f := range []struct {
		name string
		bits uint64
	}{{"second", sc.Second}, {"minute", sc.Minute}, {"hour", sc.Hour}, {"day-of-month", sc.Dom},
		{"month", sc.Month}, {"day-of-week", sc.Dow}} {
		if f.bits&^star == 0 {
			return nil, fmt.Errorf("%w: the %s field matches no value", ErrCron, f.name)
		}
	}
	return c, nil
}

// Normalize fills SQL Server Agent's defaults for omitted (zero) fields, with today's date (in
// today's location) as active_start_date: freq_subday_type 1 (at the specified time),
// freq_recurrence_factor 1 for weekly, monthly and monthly relative schedules, freq_interval 1
// for daily schedules, active_start_date today, active_end_date 99991231, active_start_time
// 000000 and active_end_time 235959. A missing freq_type stays 0, which Validate reports unless
// cron is set; the freq_* defaults are not filled for cron schedules, which ignore them.
// Normalize on a nil schedule does nothing.
func (s *Schedule) Normalize(today time.Time) {
	if s == nil {
		return
	}
	if s.Cron == "" {
		if s.FreqSubdayType == 0 {
			s.FreqSubdayType = SubdayAtTime
		}
		switch s.FreqType {
		case FreqWeekly, FreqMonthly, FreqMonthlyRelative:
			if s.FreqRecurrenceFactor == 0 {
				s.FreqRecurrenceFactor = 1
			}
		case FreqDaily:
			if s.FreqInterval == 0 {
				s.FreqInterval = 1
			}
		}
	}
	if s.ActiveStartDate == 0 {
		y, m, d := today.Date()
		s.ActiveStartDate = y*10000 + int(m)*100 + d
	}
	if s.ActiveEndDate == 0 {
		s.ActiveEndDate = DefaultEndDate
	}
	// ActiveStartTime's default is 0: nothing to fill.
	if s.ActiveEndTime == 0 {
		s.ActiveEndTime = DefaultEndTime
	}
}

// Validate returns every problem with the schedule at once, each with its field path (path joined
// with the field name, e.g. "schedules[0].freq_interval") and the SQL Server message number for
// the same condition where there is one: 14266 for a code outside its valid values, 14200 for an
// invalid value, 14278 for a schedule whose fields do not fit together. Zero fields are read as
// their defaults (see Normalize), so a schedule is valid before and after Normalize. An empty List
// means valid.
func (s Schedule) Validate(path string) problem.List {
	var l problem.List
	at := func(field string) string { return problem.Join(path, field) }

	switch n := utf8.RuneCountInString(s.Name); {
	case strings.TrimSpace(s.Name) == "":
		l.Add(at("name"), 0, "a schedule needs a name: set name to up to %d characters", MaxNameLen)
	case n > MaxNameLen:
		l.Add(at("name"), 0, "the schedule name is %d characters long: shorten it to at most %d", n, MaxNameLen)
	}

	if s.TimeZone != "" {
		if _, err := loadZone(s.TimeZone); err != nil {
			l.Add(at("time_zone"), 0, "time_zone %q is not a known time zone: use an IANA name such as \"Europe/London\", "+
				"\"America/New_York\" or \"UTC\", or omit time_zone to run in the target's local time", s.TimeZone)
		}
	}

	if s.Cron != "" {
		if _, err := parseCron(s.Cron); err != nil {
			l.Add(at("cron"), 0, "%s: write 5 fields (minute hour day-of-month month day-of-week, e.g. \"30 2 * * 1-5\"), "+
				"6 fields with seconds first, or a descriptor such as @daily", err.Error())
		}
		if s.FreqType != 0 {
			l.Add(at("freq_type"), codeScheduleInvalid,
				"The schedule for this job is invalid (reason: cron and freq_type %d are both set; cron replaces the freq_* fields). "+
					"Remove freq_type, or remove cron", s.FreqType)
		}
	} else {
		s.validateFreq(&l, at)
	}
	validateDates(&l, s, at)
	return l
}

// validateFreq checks freq_type and its companion fields.
func (s Schedule) validateFreq(l *problem.List, at func(string) string) {
	switch s.FreqType {
	case 0:
		l.Add(at("freq_type"), codeScheduleInvalid,
			"The schedule for this job is invalid (reason: freq_type is missing). Set freq_type to 1 (once), 4 (daily), "+
				"8 (weekly), 16 (monthly), 32 (monthly relative), 64 (when the agent starts) or 128 (when the computer is idle), "+
				"or set cron")
		return
	case FreqOnce, FreqAgentStart, FreqIdle:
		return // SQL Server Agent ignores the other freq_* fields for these
	case FreqDaily:
		if s.FreqInterval < 0 {
			l.Add(at("freq_interval"), codeScheduleInvalid,
				"The schedule for this job is invalid (reason: freq_interval %d must be at least 1 for a daily schedule). "+
					"Set freq_interval to the number of days between runs (1 = every day)", s.FreqInterval)
		}
	case FreqWeekly:
		if s.FreqInterval < 1 || s.FreqInterval > 127 {
			l.Add(at("freq_interval"), codeScheduleInvalid,
				"The schedule for this job is invalid (reason: freq_interval %d is not a day-of-week bitmask for a weekly schedule). "+
					"Set freq_interval to the sum of the days (Sunday 1, Monday 2, Tuesday 4, Wednesday 8, Thursday 16, Friday 32, "+
					"Saturday 64), between 1 and 127", s.FreqInterval)
		}
	case FreqMonthly:
		if s.FreqInterval < 1 || s.FreqInterval > 31 {
			l.Add(at("freq_interval"), codeScheduleInvalid,
				"The schedule for this job is invalid (reason: freq_interval %d must be between 1 and 31 for a monthly schedule). "+
					"Set freq_interval to the day of the month", s.FreqInterval)
		}
	case FreqMonthlyRelative:
		if s.FreqInterval < 1 || s.FreqInterval > 10 {
			l.Add(at("freq_interval"), codeScheduleInvalid,
				"The schedule for this job is invalid (reason: freq_interval %d must be between 1 and 10 for a monthly relative schedule). "+
					"Set freq_interval to 1 (Sunday) .. 7 (Saturday), 8 (day), 9 (weekday) or 10 (weekend day)", s.FreqInterval)
		}
		switch s.FreqRelativeInterval {
		case 1, 2, 4, 8, 16:
		default:
			l.Add(at("freq_relative_interval"), codeInvalidValues,
				"The specified '@freq_relative_interval' is invalid (valid values are: 1, 2, 4, 8, 16): got %d. "+
					"Set it to 1 (first), 2 (second), 4 (third), 8 (fourth) or 16 (last)", s.FreqRelativeInterval)
		}
	default:
		l.Add(at("freq_type"), codeInvalidValues,
			"The specified '@freq_type' is invalid (valid values are: 1, 4, 8, 16, 32, 64, 128): got %d. "+
				"Use 1 (once), 4 (daily), 8 (weekly), 16 (monthly), 32 (monthly relative), 64 (when the agent starts) "+
				"or 128 (when the computer is idle)", s.FreqType)
		return
	}
	switch s.FreqType {
	case FreqWeekly, FreqMonthly, FreqMonthlyRelative:
		if s.FreqRecurrenceFactor < 0 {
			l.Add(at("freq_recurrence_factor"), codeScheduleInvalid,
				"The schedule for this job is invalid (reason: freq_recurrence_factor %d must be at least 1). "+
					"Set it to the number of weeks or months between runs (1 = every week or month)", s.FreqRecurrenceFactor)
		}
	}
	switch s.FreqSubdayType {
	case 0, SubdayAtTime:
	case SubdaySeconds:
		if s.FreqSubdayInterval < MinSubdaySeconds {
			l.Add(at("freq_subday_interval"), codeInvalid,
				"The specified '@freq_subday_interval' is invalid: %d seconds is below the minimum of %d. "+
					"Set freq_subday_interval to %d or more, or repeat in minutes (freq_subday_type 4)",
				s.FreqSubdayInterval, MinSubdaySeconds, MinSubdaySeconds)
		}
	case SubdayMinutes, SubdayHours:
		if s.FreqSubdayInterval < 1 {
			l.Add(at("freq_subday_interval"), codeInvalid,
				"The specified '@freq_subday_interval' is invalid: got %d. Set it to the number of %s between runs (at least 1)",
				s.FreqSubdayInterval, unitName(s.FreqSubdayType))
		}
	default:
		l.Add(at("freq_subday_type"), codeInvalidValues,
			"The specified '@freq_subday_type' is invalid (valid values are: 1, 2, 4, 8): got %d. "+
				"Use 1 (once at active_start_time), 2 (every N seconds), 4 (every N minutes) or 8 (every N hours)", s.FreqSubdayType)
	}
}

// validateDates checks the active dates and times, and that the end date is not before the start.
func validateDates(l *problem.List, s Schedule, at func(string) string) {
	startOK := checkDate(l, at("active_start_date"), "@active_start_date", s.ActiveStartDate)
	endOK := checkDate(l, at("active_end_date"), "@active_end_date", s.ActiveEndDate)
	checkTime(l, at("active_start_time"), "@active_start_time", s.ActiveStartTime)
	checkTime(l, at("active_end_time"), "@active_end_time", s.ActiveEndTime)
	if startOK && endOK && s.ActiveStartDate != 0 && s.ActiveEndDate != 0 && s.ActiveEndDate < s.ActiveStartDate {
		l.Add(at("active_end_date"), codeScheduleInvalid,
			"The schedule for this job is invalid (reason: active_end_date %d is before active_start_date %d). "+
				"Set active_end_date on or after active_start_date, or omit it for no end (99991231)",
			s.ActiveEndDate, s.ActiveStartDate)
	}
}

// checkDate reports a yyyymmdd date that is not a calendar date between 19900101 and 99991231.
// Zero (the default) is valid. It returns whether the date is valid.
func checkDate(l *problem.List, path, param string, v int) bool {
	if v == 0 {
		return true
	}
	if _, ok := civil(v); ok && v >= MinDate {
		return true
	}
	l.Add(path, codeInvalidValues,
		"The specified '%s' is invalid (valid values are: %d..%d): %d is not a date in yyyymmdd form. "+
			"Write a calendar date such as 20240131", param, MinDate, DefaultEndDate, v)
	return false
}

// checkTime reports an hhmmss time that is not a time of day. Zero is valid.
func checkTime(l *problem.List, path, param string, v int) {
	if _, ok := clock(v); ok {
		return
	}
	l.Add(path, codeInvalidValues,
		"The specified '%s' is invalid (valid values are: 000000..235959): %d is not a time in hhmmss form. "+
			"Write hours 00-23, minutes 00-59 and seconds 00-59, e.g. 143000 for 14:30:00", param, v)
}

// civil splits a yyyymmdd date, reporting whether it is a calendar date in years 1..9999.
func civil(v int) (time.Time, bool) {
	if v < 10101 || v > DefaultEndDate {
		return time.Time{}, false
	}
	y, m, d := v/10000, time.Month(v/100%100), v%100
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || t.Month() != m || t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}

// clock converts an hhmmss time to seconds since midnight, reporting whether it is a time of day.
func clock(v int) (int64, bool) {
	if v < 0 || v > DefaultEndTime {
		return 0, false
	}
	h, m, s := v/10000, v/100%100, v%100
	if m > 59 || s > 59 {
		return 0, false
	}
	return int64(h*3600 + m*60 + s), true
}

// unitName names a sub-day unit in the plural.
func unitName(subday int) string {
	switch subday {
	case SubdaySeconds:
		return "seconds"
	case SubdayMinutes:
		return "minutes"
	case SubdayHours:
		return "hours"
	}
	return "units"
}
