package api

import (
	"slices"
	"testing"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas/schedule"
)

func TestRunsByZone(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	servers := []master.JobServer{{ServerName: "NYC1"}, {ServerName: "LON1"}, {ServerName: "NYC2"}, {ServerName: "IST1"}}
	offsets := map[string]int{"NYC1": -300, "NYC2": -300, "LON1": 0, "IST1": 330}
	daily := schedule.Schedule{Name: "nightly", FreqType: 4, FreqInterval: 1, FreqSubdayType: 1, ActiveStartTime: 20000, ActiveStartDate: 20260101}
	got := runsByZone(daily, servers, func(s string) int { return offsets[s] }, now, 2)
	want := []struct {
		zone    string
		servers []string
		first   string
	}{
		{"UTC-05:00", []string{"NYC1", "NYC2"}, "2026-12-03T02:00:00-05:00"},
		{"UTC+00:00", []string{"LON1"}, "2026-12-03T02:00:00Z"},
		{"UTC+05:30", []string{"IST1"}, "2026-12-03T02:00:00+05:30"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d zones, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		z := got[i]
		if z.Zone != w.zone || !slices.Equal(z.Servers, w.servers) || len(z.NextRuns) != 2 || z.NextRuns[0].Format(time.RFC3339) != w.first {
			t.Errorf("zone %d: %s %v %v, want %s %v first %s", i, z.Zone, z.Servers, z.NextRuns, w.zone, w.servers, w.first)
		}
	}
	// A schedule with its own time zone runs there on every target: one group.
	daily.TimeZone = "Europe/Paris"
	if got := runsByZone(daily, servers, func(s string) int { return offsets[s] }, now, 1); len(got) != 1 || got[0].Zone != "Europe/Paris" || len(got[0].Servers) != 4 {
		t.Errorf("schedule with time_zone: %+v", got)
	}
}
