package schedule

import (
	"fmt"
	"sync"
	"time"
)

// zones caches time.LoadLocation results by name: loading reads the zone database each time, and
// Next needs the zone on every call. Only zones that loaded are kept, so the cache is bounded by
// the size of the zone database.
var zones sync.Map // string -> *time.Location

// loadZone is time.LoadLocation with a cache.
func loadZone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrTimeZone, name, err)
	}
	zones.Store(name, l)
	return l, nil
}

// Location returns the zone the schedule runs in: time_zone when set, else local, else UTC when
// local is nil. It returns an error wrapping ErrTimeZone when time_zone does not load.
func (s Schedule) Location(local *time.Location) (*time.Location, error) {
	if s.TimeZone != "" {
		return loadZone(s.TimeZone)
	}
	if local == nil {
		return time.UTC, nil
	}
	return local, nil
}

// wallOf returns t's wall clock in loc as seconds since 1970-01-01 00:00:00 of that wall clock
// (as if the wall clock were UTC), rounded down to the second.
func wallOf(t time.Time, loc *time.Location) int64 {
	t = t.In(loc)
	_, off := t.Zone()
	return t.Unix() + int64(off)
}

// maxOffset bounds the distance between a wall clock and UTC, with room for the local mean times
// of the zone database (Asia/Manila was 15:56 behind before 1845).
const maxOffset = 26 * 3600

// resolve turns a wall time in loc (seconds, as returned by wallOf) into an instant (Unix
// seconds). A wall time that occurs twice resolves to its first occurrence; a wall time in a gap
// resolves to the first instant after the gap. See the package documentation.
func resolve(w int64, loc *time.Location) int64 {
	type period struct {
		start, end int64 // [start, end); math limits when unbounded
		off        int64
	}
	const (
		minInt = -1 << 63
		maxInt = 1<<63 - 1
	)
	var ps [8]period
	n := 0
	t := time.Unix(w-maxOffset, 0).In(loc)
	for n < len(ps) {
		_, off := t.Zone()
		s, e := t.ZoneBounds()
		p := period{start: minInt, end: maxInt, off: int64(off)}
		if !s.IsZero() {
			p.start = s.Unix()
		}
		if !e.IsZero() {
			p.end = e.Unix()
		}
		ps[n] = p
		n++
		if e.IsZero() || p.end > w+maxOffset || p.end <= t.Unix() {
			break
		}
		t = e
	}
	// The first period that contains w-off is the first occurrence: periods are in time order.
	for _, p := range ps[:n] {
		if u := w - p.off; u >= p.start && u < p.end {
			return u
		}
	}
	// A gap: w is at or after the end of one period read with its offset and before the start of
	// the next read with the next offset. The run happens when the next period starts.
	for i := 0; i+1 < n; i++ {
		next := ps[i+1]
		if w-ps[i].off >= next.start && w-next.off < next.start {
			return next.start
		}
	}
	// Unreachable with a sane zone database; fall back to the standard library's choice.
	return w - int64(zoneOffsetAt(w, loc))
}

// zoneOffsetAt returns loc's offset at instant u.
func zoneOffsetAt(u int64, loc *time.Location) int {
	_, off := time.Unix(u, 0).In(loc).Zone()
	return off
}
