//go:build faults

package faults_test

import (
	"fmt"
	"testing"
	"time"

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
	waitFor(t, patience, "NOPROXY01 online", func() bool {
		ts, ok := f.m.TargetServer("NOPROXY01")
		return ok && ts.LastPollDate != nil
	})
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
	start := time.Now()
	for i := range n {
		applyAll(t, f.m, countingJob(fmt.Sprintf("bulk %03d", i), names(agents)...))
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
		// Rows beyond the newest 100 downloaded are trimmed: count what the stream holds
		// through the ledger's instance ids instead of its length.
		posted := postedTo(t, f, a)
		t.Logf("%s: %d instructions posted (%d rows kept: %d INSERT, %d DELETE, %d other)", a.cfg.Name, posted, len(rows), inserts, deletes, other)
		if deletes != 0 || other != 0 || posted != n {
			t.Errorf("%s: %d instructions posted, %d DELETE, %d other rows; want exactly %d INSERTs", a.cfg.Name, posted, deletes, other, n)
		}
	}
}

// postedTo counts the instructions ever posted to a target: the master trims downloaded rows
// beyond the newest 100, the target's applied table keeps every one it took; add those still
// pending.
func postedTo(tb testing.TB, f *fixture, a *agent) int {
	tb.Helper()
	_, pending := ledgerIDs(f.m, a.tok)
	return len(appliedIDs(tb, a.cfg.DataDir)) + pending
}
