package target_test

import (
	"testing"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// TestJobChains: a success starts on_success_start, a failure on_failure_start, on the same
// target; a chain to a job the target does not hold is a warning event.
func TestJobChains(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ok, bad := newJob("extract", jobs.SubsystemCmdExec, "echo ok"), newJob("flaky", jobs.SubsystemCmdExec, "exit 1")
	report, alert := newJob("report", jobs.SubsystemCmdExec, "echo report"), newJob("alert", jobs.SubsystemCmdExec, "echo alert")
	ok.OnSuccessStart, ok.OnFailureStart = "REPORT", "alert"
	bad.OnSuccessStart, bad.OnFailureStart = "report", "Alert"
	orphan := newJob("orphan", jobs.SubsystemCmdExec, "echo ok")
	orphan.OnSuccessStart = "not here"
	for _, j := range []*jobs.Job{ok, bad, report, alert, orphan} {
		h.insert(j)
	}

	if st := h.status(h.post(schemas.OpStart, ok.JobID, ok.Name, nil)); st.Status != schemas.StatusApplied {
		t.Fatalf("START: %+v", st.Error)
	}
	r := h.waitRuns(report.JobID, schemas.PhaseFinished, 1, 20*time.Second)[0]
	if r.InvokedBy != "Job extract (on_success_start)" || r.RunStatus != int(jobs.RunSucceeded) {
		t.Errorf("chained run %+v", r)
	}
	if st := h.status(h.post(schemas.OpStart, bad.JobID, bad.Name, nil)); st.Status != schemas.StatusApplied {
		t.Fatalf("START: %+v", st.Error)
	}
	a := h.waitRuns(alert.JobID, schemas.PhaseFinished, 1, 20*time.Second)[0]
	if a.InvokedBy != "Job flaky (on_failure_start)" {
		t.Errorf("chained run after a failure %+v", a)
	}
	if n := len(h.runs(report.JobID, schemas.PhaseStarted)); n != 1 {
		t.Errorf("report ran %d times, want once (after the success only)", n)
	}
	if n := len(h.runs(alert.JobID, schemas.PhaseStarted)); n != 1 {
		t.Errorf("alert ran %d times, want once (after the failure only)", n)
	}

	if st := h.status(h.post(schemas.OpStart, orphan.JobID, orphan.Name, nil)); st.Status != schemas.StatusApplied {
		t.Fatalf("START: %+v", st.Error)
	}
	ev := h.event(orphan.JobID, "should start job 'not here' (on_success_start), but this target does not hold that job")
	if ev.Severity != schemas.SeverityWarning || ev.JobName != "orphan" {
		t.Errorf("missing chain event %+v", ev)
	}
}
