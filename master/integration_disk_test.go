package master_test

import (
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
)

// TestIntegrationDiskState: the disk state a heartbeat reports shows in the target's status
// (flag 8 while full, the disk column), with one event when the disk fills and one when it
// recovers, not one per heartbeat.
func TestIntegrationDiskState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startTarget(t, "sql93")
	f.waitOnline(t, a)
	a.stopClean(t) // its heartbeats are sent by hand from here on
	tok := f.reg(t, "sql93").Token
	beat := func(state string, held int) {
		t.Helper()
		hb := &schemas.Heartbeat{ServerName: "SQL93", Sent: time.Now().UTC(), LocalTime: time.Now().Format(time.RFC3339),
			PollInterval: 60, IntervalMS: 60000, Version: "x", ProtocolVersion: schemas.ProtocolVersion,
			JobDigest: schemas.JobSetDigest(nil), Disk: &schemas.DiskState{State: state, FreeBytes: 4096, HeldReports: held}}
		b, err := schemas.Encode(hb)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.js.Publish(t.Context(), bus.StatusSubject(tok), b); err != nil {
			t.Fatal(err)
		}
	}
	diskEvents := func() (full, recovered int) {
		evs, err := f.m.Events(t.Context(), master.EventFilter{Server: "SQL93", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			switch {
			case e.Source == "master" && strings.HasPrefix(e.Message, "Disk full on SQL93"):
				full++
			case e.Source == "master" && strings.HasPrefix(e.Message, "Disk space on SQL93 recovered"):
				recovered++
			}
		}
		return full, recovered
	}
	for i := range 3 {
		beat(schemas.DiskFull, 2+i)
		f.waitTarget(t, a, "disk full with the reports held", func(ts master.TargetServer) bool {
			return ts.Disk != nil && ts.Disk.HeldReports == 2+i
		})
	}
	ts := f.waitTarget(t, a, "flag 8", func(ts master.TargetServer) bool { return ts.Status&ledger.StatusDiskFull != 0 })
	if ts.Status != ledger.StatusNormal|ledger.StatusDiskFull {
		t.Errorf("status %d, want 9 (normal, disk full)", ts.Status)
	}
	waitFor(t, patience, func() bool { full, _ := diskEvents(); return full >= 1 }, "the disk full event")
	beat(schemas.DiskOK, 0)
	f.waitTarget(t, a, "flag 8 gone", func(ts master.TargetServer) bool {
		return ts.Status&ledger.StatusDiskFull == 0 && ts.Disk != nil && ts.Disk.State == schemas.DiskOK
	})
	waitFor(t, patience, func() bool { _, rec := diskEvents(); return rec >= 1 }, "the recovery event")
	if full, rec := diskEvents(); full != 1 || rec != 1 {
		t.Errorf("%d disk full and %d recovery events for three full heartbeats and one ok, want 1 and 1", full, rec)
	}
}
