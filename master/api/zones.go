package api

import (
	"fmt"
	"slices"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas/schedule"
)

// ZoneRuns are a schedule's next run times on the targets that share one time zone: the
// schedule's own time_zone, or the UTC offset a target reports (time_zone_adjustment).
type ZoneRuns struct {
	Zone     string      `json:"zone"`             // "UTC-05:00", or the schedule's IANA zone
	Offset   *int        `json:"offset,omitempty"` // minutes east of UTC, when Zone is an offset
	Servers  []string    `json:"servers"`          // targets in this zone, sorted
	NextRuns []time.Time `json:"next_runs"`        // in that zone
}

// zoneLabel names a UTC offset in minutes as "UTC+hh:mm".
func zoneLabel(min int) string {
	sign := '+'
	if min < 0 {
		sign, min = '-', -min
	}
	return fmt.Sprintf("UTC%c%02d:%02d", sign, min/60, min%60)
}

// runsByZone plans a schedule's next n runs once per time zone among servers. A target's zone
// is the fixed offset it reports: daylight saving changes ahead are not foreseen.
func runsByZone(sc schedule.Schedule, servers []master.JobServer, offsetOf func(string) int, now time.Time, n int) []ZoneRuns {
	if sc.TimeZone != "" {
		zr := ZoneRuns{Zone: sc.TimeZone, Servers: []string{}, NextRuns: nonNil(sc.NextN(now, time.UTC, n))}
		for _, s := range servers {
			zr.Servers = append(zr.Servers, s.ServerName)
		}
		return []ZoneRuns{zr}
	}
	by := map[int][]string{}
	for _, s := range servers {
		off := offsetOf(s.ServerName)
		by[off] = append(by[off], s.ServerName)
	}
	offsets := make([]int, 0, len(by))
	for off := range by {
		offsets = append(offsets, off)
	}
	slices.Sort(offsets)
	out := make([]ZoneRuns, 0, len(offsets))
	for _, off := range offsets {
		loc := time.FixedZone(zoneLabel(off), off*60)
		names := by[off]
		slices.Sort(names)
		out = append(out, ZoneRuns{Zone: zoneLabel(off), Offset: &off, Servers: names, NextRuns: nonNil(sc.NextN(now, loc, n))})
	}
	return out
}
