package target

import (
	"strings"
	"time"
)

// Counter types (cntr_type of sys.dm_os_performance_counters), and how a condition's value is
// computed from them, as Performance Monitor and SQL Server Agent show it:
//
//	65792       PERF_COUNTER_LARGE_RAWCOUNT  the value as read (also 65536, and unknown types)
//	272696576   PERF_COUNTER_BULK_COUNT      per second: (v2 - v1) / seconds between the two
//	                                         samples (also 272696320, PERF_COUNTER_COUNTER)
//	537003264   PERF_LARGE_RAW_FRACTION      a ratio in percent: 100 * value / base
//	1073874176  PERF_AVERAGE_BULK            an average: (v2 - v1) / (base2 - base1)
//	1073939712  PERF_LARGE_RAW_BASE          the base of the two above: the row of the same
//	                                         object and instance named "<counter> base"
//
// A per-second counter or an average needs two samples: its condition is not judged at the
// first evaluation after the agent starts (or after the counter is reset, when the count goes
// down); it is from the second on. A base of 0 makes the ratio or the average 0, as
// Performance Monitor shows it.
const (
	cntrRawCount      = 65792
	cntrCounter       = 272696320
	cntrBulkCount     = 272696576
	cntrRawFraction   = 537003264
	cntrAverageBulk   = 1073874176
	cntrRawBase       = 1073939712
	baseCounterSuffix = " base"
)

// perfRow is one row of sys.dm_os_performance_counters.
type perfRow struct {
	object, counter, instance string
	value                     int64
	typ                       int
}

// perfSample is the previous reading of a per-second or average counter.
type perfSample struct {
	ok          bool
	value, base int64
	at          time.Time
}

// baseOf returns the base row of r (same object and instance, "<counter> base", type
// PERF_LARGE_RAW_BASE).
func baseOf(r perfRow, rows []perfRow) (perfRow, bool) {
	want := strings.TrimSpace(r.counter) + baseCounterSuffix
	for _, b := range rows {
		if b.typ == cntrRawBase && strings.EqualFold(strings.TrimSpace(b.counter), want) &&
			strings.EqualFold(strings.TrimSpace(b.object), strings.TrimSpace(r.object)) &&
			strings.EqualFold(strings.TrimSpace(b.instance), strings.TrimSpace(r.instance)) {
			return b, true
		}
	}
	return perfRow{}, false
}

// counterValue computes the value a condition compares from its row r (and its base row among
// rows), given the previous sample s taken at now. ready is false when the value cannot be
// judged yet (a first sample) and noBase when the base row the type needs is missing. It
// returns the sample to keep.
func counterValue(r perfRow, rows []perfRow, s perfSample, now time.Time) (v float64, ready, noBase bool, next perfSample) {
	switch r.typ {
	case cntrBulkCount, cntrCounter:
		next = perfSample{ok: true, value: r.value, at: now}
		secs := now.Sub(s.at).Seconds()
		if !s.ok || secs <= 0 || r.value < s.value {
			return 0, false, false, next
		}
		return float64(r.value-s.value) / secs, true, false, next
	case cntrRawFraction:
		b, ok := baseOf(r, rows)
		if !ok {
			return 0, false, true, s
		}
		if b.value == 0 {
			return 0, true, false, s
		}
		return 100 * float64(r.value) / float64(b.value), true, false, s
	case cntrAverageBulk:
		b, ok := baseOf(r, rows)
		if !ok {
			return 0, false, true, s
		}
		next = perfSample{ok: true, value: r.value, base: b.value, at: now}
		if !s.ok || r.value < s.value || b.value < s.base {
			return 0, false, false, next
		}
		if b.value == s.base {
			return 0, true, false, next
		}
		return float64(r.value-s.value) / float64(b.value-s.base), true, false, next
	default:
		return float64(r.value), true, false, s
	}
}
