package master

import (
	"testing"
	"time"

	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
)

// TestDriftDecide: a difference is repaired on the second heartbeat that shows it, never twice
// for one heartbeat, and repairs of one target back off exponentially up to the cap; a target
// in sync starts over.
func TestDriftDecide(t *testing.T) {
	d := newDriftTracker()
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	plan := driftPlan{fixes: []jobFix{{JobID: "J", Name: "j", Want: 2, Have: 1}}}
	hb := func(i int) *schemas.Heartbeat {
		return &schemas.Heartbeat{Sent: t0.Add(time.Duration(i) * time.Second), IntervalMS: 1000}
	}
	type step struct {
		beat    int
		at      time.Duration // master clock, from t0
		act     bool
		wait    time.Duration
		inSync  bool // the target reports the expected digest
		changed bool // another difference
	}
	for _, s := range []step{
		{beat: 1, at: 1 * time.Second}, // first sighting
		{beat: 1, at: 1 * time.Second}, // the same heartbeat again: not a second sighting
		{beat: 2, at: 2 * time.Second, act: true, wait: 4 * time.Second},
		{beat: 3, at: 3 * time.Second}, // seen again after the repair: first sighting
		{beat: 4, at: 4 * time.Second}, // second, but within the 4 s backoff
		{beat: 6, at: 6 * time.Second, act: true, wait: 8 * time.Second},
		{beat: 7, at: 7 * time.Second},
		{beat: 15, at: 15 * time.Second, act: true, wait: 16 * time.Second},
		{beat: 16, at: 16 * time.Second, inSync: true}, // repaired: backoff starts over
		{beat: 17, at: 17 * time.Second},
		{beat: 18, at: 18 * time.Second, act: true, wait: 4 * time.Second},
		{beat: 19, at: 30 * time.Second},
		{beat: 20, at: 31 * time.Second, changed: true}, // a different difference: first sighting
		{beat: 21, at: 32 * time.Second, changed: true, act: true, wait: 8 * time.Second},
	} {
		if s.inSync {
			d.inSync("T")
			continue
		}
		p := plan
		if s.changed {
			p = driftPlan{fixes: []jobFix{{JobID: "K", Name: "k", Want: 1}}}
		}
		act, wait := d.decide("T", hb(s.beat), &p, t0.Add(s.at))
		if act != s.act || wait != s.wait {
			t.Fatalf("heartbeat %d at %s: act %v wait %s, want %v %s", s.beat, s.at, act, wait, s.act, s.wait)
		}
	}
	var capped time.Duration
	d.by["T"].gate.attempts = 30
	d.by["T"].gate.key, d.by["T"].gate.notBefore = plan.key(), time.Time{}
	if _, capped = d.decide("T", hb(100), &plan, t0.Add(time.Hour)); capped != maxRepairBackoff {
		t.Errorf("backoff after 30 repairs %s, want the cap %s", capped, maxRepairBackoff)
	}
}

func TestFailsAgain(t *testing.T) {
	failed := ledger.Row{Operation: schemas.OpInsert, Version: 3, Status: 1, ErrorMessage: "proxy"}
	for _, tc := range []struct {
		name    string
		r       ledger.Row
		wanted  bool
		version int
		want    bool
	}{
		{"same version failed", failed, true, 3, true},
		{"new version", failed, true, 4, false},
		{"cleared", ledger.Row{Operation: schemas.OpInsert, Version: 3, Status: 1, ErrorMessage: "proxy", ErrorCleared: true}, true, 3, false},
		{"succeeded", ledger.Row{Operation: schemas.OpInsert, Version: 3, Status: 1}, true, 3, false},
		{"not downloaded", ledger.Row{Operation: schemas.OpInsert, Version: 3}, true, 3, false},
		{"DELETE failed, job not wanted", ledger.Row{Operation: schemas.OpDelete, Status: 1, ErrorMessage: "x"}, false, 0, true},
		{"INSERT failed, job no longer wanted", failed, false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := failsAgain(tc.r, tc.wanted, tc.version); got != tc.want {
				t.Errorf("failsAgain = %v, want %v", got, tc.want)
			}
		})
	}
}
