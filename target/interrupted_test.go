package target_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/store"
)

// A run that was in progress when the agent died (kill -9) is reported as failed when the agent
// starts again, once, instead of staying "in progress" on the master forever.
func TestInterruptedRunReportedOnRestart(t *testing.T) {
	h := newHarness(t)
	h.stopAgent()

	// What a killed agent leaves behind: a run recorded as started, never finished.
	started, st := h.leaveStartedRun(t, "run-killed", "8a0e7a40-0000-4000-8000-000000000001", "Killed mid-run")
	st.Close()

	h.startAgent()
	got := h.waitRuns(started.JobID, schemas.PhaseFinished, 1, 20*time.Second)
	r := got[0]
	if r.RunID != "run-killed" || r.RunStatus != int(jobs.RunFailed) || !strings.Contains(r.Message, "agent stopped while the job was running") {
		t.Fatalf("interrupted run reported as %+v", r)
	}
	if len(r.Rows) != 1 {
		t.Fatalf("%d history rows, want the job outcome row", len(r.Rows))
	}

	// Restarting again reports nothing more: the record is gone. The outbox is sent in order, so
	// once the report of an instruction posted after the restart is in, a second report of the
	// interrupted run, queued at start-up, would be in too.
	h.stopAgent()
	h.startAgent()
	h.status(h.post(schemas.OpSyncTime, "", "", nil))
	if n := len(h.runs(started.JobID, schemas.PhaseFinished)); n != 1 {
		t.Fatalf("interrupted run reported %d times, want once", n)
	}
}

// leaveStartedRun records in the stopped agent's database what a killed agent leaves behind: a
// run recorded as started, never finished. It returns the run and the open store.
func (h *harness) leaveStartedRun(t *testing.T, runID, jobID, jobName string) (*schemas.RunResult, *store.Store) {
	t.Helper()
	started := &schemas.RunResult{RunID: runID, Phase: schemas.PhaseStarted, JobID: jobID,
		JobName: jobName, VersionNumber: 1, Server: serverName, InvokedBy: "Schedule 1 (every minute)",
		Started: time.Now().Add(-time.Minute).UTC(), RunStatus: int(jobs.RunInProgress)}
	doc, err := schemas.Encode(started)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), filepath.Join(h.dataDir, "target.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RunStarted(t.Context(), started.RunID, doc); err != nil {
		st.Close()
		t.Fatal(err)
	}
	return started, st
}
