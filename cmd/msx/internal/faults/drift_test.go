//go:build faults

package faults_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// waitHeartbeats waits until the master has seen n more heartbeats of a target: an observable
// end for "nothing happens while heartbeats go by".
func waitHeartbeats(tb testing.TB, m *master.Master, server string, n int) {
	tb.Helper()
	var last time.Time
	seen := -1
	waitFor(tb, patience, fmt.Sprintf("%d heartbeats of %s", n, server), func() bool {
		ts, ok := m.TargetServer(server)
		if ok && ts.LastPollDate != nil && !ts.LastPollDate.Equal(last) {
			last = *ts.LastPollDate
			seen++
		}
		return seen >= n
	})
}

// rowsOf returns a target's download-list rows.
func rowsOf(tb testing.TB, m *master.Master, server string) []ledger.Row {
	tb.Helper()
	t, err := m.Target(server)
	if err != nil {
		tb.Fatal(err)
	}
	return m.Ledger.List(ledger.Filter{Token: t.Token})
}

// eventsWithCode counts the events of a target that carry an error code.
func eventsWithCode(tb testing.TB, m *master.Master, server string, code int) int {
	tb.Helper()
	evs, err := m.Events(tb.Context(), master.EventFilter{Server: server, Limit: 10000})
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.ErrorCode == code {
			n++
		}
	}
	return n
}

// TestFailingInsertLeftForTenHeartbeats posts a job a target refuses (a step names a proxy and
// proxy matching is off: 50030) and leaves it for ten heartbeats: there is exactly one failed
// row and one event, no DELETE and no new row while nothing changes (drift repair does not post
// what will fail again). A later INSERT of the same job that succeeds clears flag 4.
func TestFailingInsertLeftForTenHeartbeats(t *testing.T) {
	f := newSecureFixture(t)
	a := f.newAgent(t, "NOPROXY01", "")
	a.start()
	f.waitOnline(t, "NOPROXY01")
	applyAll(t, f.m, countingJob("fine job", "NOPROXY01"))
	bad := jobs.Job{Name: "needs a proxy", Category: "faults", Targets: jobs.Targets{Servers: []string{"NOPROXY01"}},
		Steps: []jobs.Step{{StepID: 1, StepName: "export", Subsystem: jobs.SubsystemCmdExec, Command: "echo export", ProxyName: "etl"}}}
	applyAll(t, f.m, bad)
	waitFor(t, patience, "the INSERT of 'needs a proxy' failed (flag 4)", func() bool {
		ts, _ := f.m.TargetServer("NOPROXY01")
		return ts.Status&ledger.StatusBlocked != 0 && ts.UnreadInstructions == 0
	})
	before := rowsOf(t, f.m, "NOPROXY01")

	waitHeartbeats(t, f.m, "NOPROXY01", 10)

	after := rowsOf(t, f.m, "NOPROXY01")
	failed, deletes := 0, 0
	for _, r := range after {
		if r.ErrorMessage != "" {
			failed++
			if r.ErrorCode != 50030 {
				t.Errorf("failed row %d: code %d (%s), want 50030", r.InstanceID, r.ErrorCode, r.ErrorMessage)
			}
		}
		if r.Operation == schemas.OpDelete {
			deletes++
		}
	}
	t.Logf("rows before the ten heartbeats %d, after %d; failed %d; DELETE %d", len(before), len(after), failed, deletes)
	if len(after) != len(before) || failed != 1 || deletes != 0 {
		t.Errorf("after ten heartbeats: %d rows (had %d), %d failed (want 1), %d DELETE (want 0)", len(after), len(before), failed, deletes)
	}
	if n := eventsWithCode(t, f.m, "NOPROXY01", 50030); n != 1 {
		t.Errorf("%d events with error 50030, want 1", n)
	}
	if ts, _ := f.m.TargetServer("NOPROXY01"); ts.Status&ledger.StatusBlocked == 0 || ts.DownloadErrors != 1 {
		t.Errorf("status %d with %d download errors, want flag 4 and 1", ts.Status, ts.DownloadErrors)
	}

	// The job changes so that the target can take it: its INSERT succeeds and clears flag 4.
	bad.Steps[0].ProxyName = ""
	applyAll(t, f.m, bad)
	waitFor(t, patience, "flag 4 gone after the successful INSERT", func() bool {
		ts, _ := f.m.TargetServer("NOPROXY01")
		return ts.Status&ledger.StatusBlocked == 0 && ts.UnreadInstructions == 0 && ts.Jobs == 2
	})
	if ts, _ := f.m.TargetServer("NOPROXY01"); ts.DownloadErrors != 0 || ts.Jobs != 2 {
		t.Errorf("after the good INSERT: %d download errors, %d jobs held, want 0 and 2", ts.DownloadErrors, ts.Jobs)
	}
	for _, r := range rowsOf(t, f.m, "NOPROXY01") {
		if r.ErrorMessage != "" && !r.ErrorCleared {
			t.Errorf("row %d still has an uncleared error: %s", r.InstanceID, r.ErrorMessage)
		}
	}
}

// TestBulkDeployWithFastHeartbeats applies 500 jobs to two targets, one at a time, while the
// targets send a heartbeat every second: the heartbeats see the deploy half done, which is not
// drift. The download list holds exactly the 1,000 INSERTs the deploy needs: no DELETE, no
// resync.
func TestBulkDeployWithFastHeartbeats(t *testing.T) {
	const n = 500
	f := newSecureFixture(t)
	var agents []*agent
	for _, name := range []string{"BULK01", "BULK02"} {
		a := f.newAgent(t, name, "")
		a.cfg.HeartbeatInterval = time.Second
		a.start()
		agents = append(agents, a)
	}
	waitFor(t, patience, "both targets online", func() bool {
		for _, a := range agents {
			if ts, ok := f.m.TargetServer(a.cfg.Name); !ok || ts.LastPollDate == nil {
				return false
			}
		}
		return true
	})
	// The deploy goes as fast as the targets take it (each job applied everywhere before the
	// next): heartbeats then mostly see every posted job applied, the moment a heartbeat judged
	// against the master's newest expectation mistakes the next job for drift.
	start := time.Now()
	for i := range n {
		applyAll(t, f.m, countingJob(fmt.Sprintf("bulk %03d", i), names(agents)...))
		waitFor(t, patience, fmt.Sprintf("job %d applied everywhere", i), func() bool {
			for _, a := range agents {
				if _, pending := ledgerIDs(f.m, a.tok); pending > 0 {
					return false
				}
			}
			return true
		})
	}
	t.Logf("%d jobs applied in %s", n, time.Since(start).Round(time.Millisecond))
	for _, a := range agents {
		waitFor(t, 3*patience, a.cfg.Name+" holds every job", func() bool {
			ts, _ := f.m.TargetServer(a.cfg.Name)
			return ts.Jobs == n && ts.UnreadInstructions == 0
		})
	}
	t.Logf("deploy applied on both targets after %s", time.Since(start).Round(time.Millisecond))
	// Three more heartbeats: a repair would be posted by then.
	waitHeartbeats(t, f.m, "BULK01", 3)
	for _, a := range agents {
		rows := rowsOf(t, f.m, a.cfg.Name)
		inserts, deletes, other := 0, 0, 0
		for _, r := range rows {
			switch r.Operation {
			case schemas.OpInsert:
				inserts++
			case schemas.OpDelete:
				deletes++
			default:
				other++
			}
			if r.ErrorMessage != "" {
				t.Errorf("%s row %d failed: %s", a.cfg.Name, r.InstanceID, r.ErrorMessage)
			}
		}
		// Rows beyond the newest 100 downloaded are trimmed from the ledger: count what the
		// target applied.
		posted, applyDeletes := postedTo(t, f, a)
		t.Logf("%s: %d instructions posted, %d of them DELETE (%d rows kept: %d INSERT, %d DELETE, %d other); %d drift repairs",
			a.cfg.Name, posted, applyDeletes, len(rows), inserts, deletes, other, f.m.Repairs(a.cfg.Name))
		if deletes != 0 || other != 0 || applyDeletes != 0 || posted != n {
			t.Errorf("%s: %d instructions posted, %d DELETE; want exactly the %d INSERTs of the deploy", a.cfg.Name, posted, applyDeletes, n)
		}
	}
}

// postedTo counts the instructions ever posted to a target, and the DELETEs among them: the
// master trims downloaded rows beyond the newest 100, the target's applied table keeps every
// instruction it took, with its operation; add those still pending.
func postedTo(tb testing.TB, f *fixture, a *agent) (posted, deletes int) {
	tb.Helper()
	_, pending := ledgerIDs(f.m, a.tok)
	db := openRO(tb, filepath.Join(a.cfg.DataDir, "target.db"))
	defer db.Close()
	if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE operation = ?) FROM applied`, int(schemas.OpDelete)).Scan(&posted, &deletes); err != nil {
		tb.Fatal(err)
	}
	return posted + pending, deletes
}

// TestHeartbeatOvertakenByReports delivers a target's heartbeat after the report of an
// instruction the target applied after sending it (the two travel on different streams, and a
// busy master reads them in either order): the heartbeat's digest is the state at its
// applied_seq, one job short of the master's newest expectation. That is not drift: nothing is
// posted, no DELETE, no resync. The messages are real ones on the real bus, sent in the order
// that a race produces, so the scenario does not depend on timing.
func TestHeartbeatOvertakenByReports(t *testing.T) {
	f := newSecureFixture(t)
	a := f.newAgent(t, "LATE01", "")
	a.start()
	f.waitOnline(t, "LATE01")
	first := applyAll(t, f.m, countingJob("first", "LATE01"))
	waitFor(t, patience, "LATE01 holds the first job", func() bool {
		ts, _ := f.m.TargetServer("LATE01")
		return ts.Jobs == 1 && ts.UnreadInstructions == 0
	})
	a.stop() // from here its messages are written by hand, in the order of the race
	before := rowsOf(t, f.m, "LATE01")
	s1 := before[len(before)-1].InstanceID
	applyAll(t, f.m, countingJob("second", "LATE01"))
	rows := rowsOf(t, f.m, "LATE01")
	if len(rows) != len(before)+1 {
		t.Fatalf("rows after the second job: %+v", rows)
	}
	r2 := rows[len(rows)-1]
	// The report of the second job's INSERT arrives first...
	rep, err := schemas.Encode(&schemas.InstructionStatus{InstructionID: r2.InstructionID, Seq: r2.InstanceID,
		Status: schemas.StatusApplied, Downloaded: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.js.Publish(t.Context(), bus.AppliedSubject(a.tok), rep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "the report read", func() bool {
		ts, _ := f.m.TargetServer("LATE01")
		return ts.UnreadInstructions == 0
	})
	// ...then heartbeats sent before it: the state at s1, the first job only.
	held := map[string]int{first.JobID: first.VersionNumber}
	for i := range 4 {
		hb := &schemas.Heartbeat{ServerName: "LATE01", Sent: time.Now().UTC(), LocalTime: time.Now().Format(time.RFC3339),
			PollInterval: 60, IntervalMS: 2000, Version: "faults", ProtocolVersion: schemas.ProtocolVersion,
			JobDigest: schemas.JobSetDigest(held), Jobs: 1, AppliedSeq: s1, Held: held}
		b, err := schemas.Encode(hb)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.js.Publish(t.Context(), bus.StatusSubject(a.tok), b); err != nil {
			t.Fatal(err)
		}
		waitFor(t, patience, fmt.Sprintf("heartbeat %d read", i+1), func() bool {
			ts, _ := f.m.TargetServer("LATE01")
			return ts.LastPollDate != nil && !ts.LastPollDate.Before(hb.Sent.Add(-time.Second)) && ts.Version == "faults" && ts.Jobs == 1
		})
	}
	// The agent comes back and applies the second job for real; its own heartbeats follow.
	a.start()
	waitFor(t, patience, "LATE01 holds both jobs", func() bool {
		ts, _ := f.m.TargetServer("LATE01")
		return ts.Jobs == 2 && ts.UnreadInstructions == 0 && ts.Version != "faults"
	})
	waitHeartbeats(t, f.m, "LATE01", 3)
	after := rowsOf(t, f.m, "LATE01")
	deletes := 0
	for _, r := range after {
		if r.Operation == schemas.OpDelete {
			deletes++
		}
	}
	t.Logf("rows: %d before the stale heartbeats, %d after; %d DELETE", len(rows), len(after), deletes)
	if len(after) != len(rows) || deletes != 0 {
		t.Errorf("a heartbeat older than a report started a repair: %d rows (want %d), %d DELETE", len(after), len(rows), deletes)
	}
}
