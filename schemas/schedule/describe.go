package schedule

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// Describe returns the schedule as one English sentence, such as "Occurs every week on Monday,
// Wednesday at 02:00:00", in the spirit of SQL Server Management Studio's schedule summary.
// Omitted fields read as their defaults. It describes invalid schedules as far as it can and never
// panics.
func (s Schedule) Describe() string {
	var b strings.Builder
	switch {
	case s.Cron != "":
		fmt.Fprintf(&b, "Occurs on cron schedule %q", s.Cron)
	case s.FreqType == FreqOnce:
		fmt.Fprintf(&b, "Occurs once on %s at %s", fmtDate(cmp.Or(s.ActiveStartDate, MinDate)), fmtTime(s.ActiveStartTime))
	case s.FreqType == FreqAgentStart:
		b.WriteString("Starts automatically when the agent starts")
	case s.FreqType == FreqIdle:
		b.WriteString("Starts whenever the computer becomes idle")
	case s.FreqType == FreqDaily:
		b.WriteString("Occurs " + every(cmp.Or(s.FreqInterval, 1), "day", "days"))
		s.describeDaily(&b)
	case s.FreqType == FreqWeekly:
		fmt.Fprintf(&b, "Occurs %s on %s", every(cmp.Or(s.FreqRecurrenceFactor, 1), "week", "weeks"), weekdays(s.FreqInterval))
		s.describeDaily(&b)
	case s.FreqType == FreqMonthly:
		fmt.Fprintf(&b, "Occurs %s on day %d", every(cmp.Or(s.FreqRecurrenceFactor, 1), "month", "months"), s.FreqInterval)
		s.describeDaily(&b)
	case s.FreqType == FreqMonthlyRelative:
		fmt.Fprintf(&b, "Occurs %s on the %s %s", every(cmp.Or(s.FreqRecurrenceFactor, 1), "month", "months"),
			relativeName(s.FreqRelativeInterval), relativeKind(s.FreqInterval))
		s.describeDaily(&b)
	case s.FreqType == 0:
		b.WriteString("Has no frequency (freq_type is missing)")
	default:
		fmt.Fprintf(&b, "Has an unknown frequency (freq_type %d)", s.FreqType)
	}
	if s.FreqType != FreqOnce || s.Cron != "" {
		if s.ActiveStartDate != 0 {
			b.WriteString(", starting " + fmtDate(s.ActiveStartDate))
		}
		if s.ActiveEndDate != 0 && s.ActiveEndDate != DefaultEndDate {
			b.WriteString(", until " + fmtDate(s.ActiveEndDate))
		}
	}
	if s.TimeZone != "" {
		b.WriteString(" (" + s.TimeZone + ")")
	}
	if !s.IsEnabled() {
		b.WriteString(" (disabled)")
	}
	return b.String()
}

// describeDaily writes the time of day or the sub-day repeat.
func (s Schedule) describeDaily(b *strings.Builder) {
	start, end := s.ActiveStartTime, cmp.Or(s.ActiveEndTime, DefaultEndTime)
	switch s.FreqSubdayType {
	case 0, SubdayAtTime:
		b.WriteString(" at " + fmtTime(start))
	case SubdaySeconds, SubdayMinutes, SubdayHours:
		unit := strings.TrimSuffix(unitName(s.FreqSubdayType), "s")
		fmt.Fprintf(b, " %s between %s and %s", every(s.FreqSubdayInterval, unit, unit+"s"), fmtTime(start), fmtTime(end))
		if end < start {
			b.WriteString(" the next day")
		}
	default:
		fmt.Fprintf(b, " with an unknown repeat (freq_subday_type %d)", s.FreqSubdayType)
	}
}

// every returns "every day" or "every 3 days".
func every(n int, one, many string) string {
	if n == 1 {
		return "every " + one
	}
	return fmt.Sprintf("every %d %s", n, many)
}

// weekdays names the days of a weekly bitmask: "Monday, Wednesday".
func weekdays(mask int) string {
	var names []string
	for d := time.Sunday; d <= time.Saturday; d++ {
		if mask&(1<<d) != 0 {
			names = append(names, d.String())
		}
	}
	if len(names) == 0 || mask < 0 || mask > 127 {
		return fmt.Sprintf("no valid day (freq_interval %d)", mask)
	}
	return strings.Join(names, ", ")
}

// relativeName names freq_relative_interval.
func relativeName(rel int) string {
	switch rel {
	case 1:
		return "first"
	case 2:
		return "second"
	case 4:
		return "third"
	case 8:
		return "fourth"
	case 16:
		return "last"
	}
	return fmt.Sprintf("unknown (freq_relative_interval %d)", rel)
}

// relativeKind names a monthly relative freq_interval.
func relativeKind(kind int) string {
	switch {
	case kind >= 1 && kind <= 7:
		return time.Weekday(kind - 1).String()
	case kind == 8:
		return "day"
	case kind == 9:
		return "weekday"
	case kind == 10:
		return "weekend day"
	}
	return fmt.Sprintf("unknown day (freq_interval %d)", kind)
}

// fmtDate writes a yyyymmdd date as 2006-01-02, or the number when it is not a date.
func fmtDate(v int) string {
	if t, ok := civil(v); ok {
		return t.Format(time.DateOnly)
	}
	return fmt.Sprintf("%d", v)
}

// fmtTime writes an hhmmss time as 15:04:05, or the number when it is not a time.
func fmtTime(v int) string {
	if _, ok := clock(v); ok {
		return fmt.Sprintf("%02d:%02d:%02d", v/10000, v/100%100, v%100)
	}
	return fmt.Sprintf("%d", v)
}
