//go:build faults

package faults_test

import (
	"testing"
	"time"
)

// TestRestartKeepsEnlistmentInfo restarts a target configured with a location and a time zone
// other than the machine's: the master shows the configured zone's offset, and a restart
// without a location keeps the one last reported (ClearLocation clears it).
func TestRestartKeepsEnlistmentInfo(t *testing.T) {
	f := newSecureFixture(t)
	a := f.newAgent(t, "INFO01", "")
	a.cfg.Location, a.cfg.TimeZone = "rack 7", time.FixedZone("IST", 330*60)
	a.start()
	polled := func() time.Time {
		ts, ok := f.m.TargetServer("INFO01")
		if !ok || ts.LastPollDate == nil {
			return time.Time{}
		}
		return *ts.LastPollDate
	}
	waitFor(t, patience, "INFO01 online", func() bool { return !polled().IsZero() })
	check := func(when, location string) {
		t.Helper()
		// A heartbeat after the (re)start: enlistment, which comes before, is in.
		mark := polled()
		waitFor(t, patience, "a heartbeat after "+when, func() bool { return polled().After(mark) })
		ts, _ := f.m.TargetServer("INFO01")
		if ts.Location != location || ts.TimeZoneAdjustment != 330 {
			t.Errorf("%s: location %q, time_zone_adjustment %d; want %q, 330", when, ts.Location, ts.TimeZoneAdjustment, location)
		}
		if ts.LocalTime != nil {
			if _, off := ts.LocalTime.Zone(); off != 330*60 {
				t.Errorf("%s: local time %s is not in the target's zone", when, ts.LocalTime)
			}
		}
	}
	check("the first start", "rack 7")
	a.stop()
	a.cfg.Location = ""
	a.start()
	check("a restart without a location", "rack 7")
	a.stop()
	a.cfg.ClearLocation = true
	a.start()
	check("a restart that clears the location", "")
}
