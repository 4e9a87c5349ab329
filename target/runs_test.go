package target_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target"
	"github.com/msx-project/msx/target/store"
)

func TestScheduledCmdExec(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	j := newJob("echo every 10 s", jobs.SubsystemCmdExec, "echo hello from $(ESCAPE_NONE(JOBNAME))")
	j.Schedules = append(j.Schedules, every10s())
	h.insert(j)

	fin := h.waitRuns(j.JobID, schemas.PhaseFinished, 1, 15*time.Second)[0]
	started := h.runs(j.JobID, schemas.PhaseStarted)
	if len(started) == 0 || started[0].RunID != fin.RunID || started[0].RunStatus != int(jobs.RunInProgress) {
		t.Fatalf("started results %+v, want run %s in progress first", started, fin.RunID)
	}
	if fin.RunStatus != int(jobs.RunSucceeded) || fin.InvokedBy != "Schedule 1 (every 10 s)" || fin.Server != serverName ||
		fin.VersionNumber != 1 || fin.Finished.Before(fin.Started) {
		t.Errorf("finished result %+v", fin)
	}
	rs := rows(t, fin)
	if len(rs) != 2 || rs[0].StepID != 0 || rs[1].StepID != 1 {
		t.Fatalf("rows %+v, want the job outcome and step 1", rs)
	}
	if rs[0].RunStatus != jobs.RunSucceeded || !strings.Contains(rs[0].Message, "invoked by Schedule 1 (every 10 s)") {
		t.Errorf("job outcome %+v", rs[0])
	}
	if rs[1].RunStatus != jobs.RunSucceeded || !strings.Contains(rs[1].Output, "hello from echo every 10 s") || rs[1].RunID != fin.RunID {
		t.Errorf("step row %+v", rs[1])
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	j := newJob("sleeper", jobs.SubsystemCmdExec, "sleep 30")
	h.insert(j)

	if st := h.status(h.post(schemas.OpStop, j.JobID, j.Name, nil)); errCode(st) != target.CodeJobRunning ||
		st.Error.Message != "SQLServerAgent Error: Request to stop job sleeper (from User MSX) refused because the job is not currently running." {
		t.Errorf("STOP of an idle job: %+v", st.Error)
	}
	if st := h.status(h.post(schemas.OpStart, j.JobID, j.Name, nil)); st.Status != schemas.StatusApplied {
		t.Fatalf("START: %+v", st.Error)
	}
	started := h.waitRuns(j.JobID, schemas.PhaseStarted, 1, 10*time.Second)[0]
	if started.InvokedBy != "User MSX" {
		t.Errorf("invoked by %q, want User MSX", started.InvokedBy)
	}

	seq := h.post(schemas.OpStart, j.JobID, j.Name, nil)
	st := h.status(seq)
	if errCode(st) != target.CodeJobRunning || st.Error.Message !=
		"SQLServerAgent Error: Request to run job sleeper (from User MSX) refused because the job is already running from a request by User MSX." {
		t.Errorf("START while running: %+v", st.Error)
	}
	waitFor(t, 10*time.Second, "instruction failure event", func() bool {
		for _, e := range h.events.all() {
			if e.Source == "instruction" && e.Severity == schemas.SeverityError && e.ErrorCode == target.CodeJobRunning && e.JobID == j.JobID {
				return true
			}
		}
		return false
	})

	if st := h.status(h.post(schemas.OpStop, j.JobID, j.Name, nil)); st.Status != schemas.StatusApplied {
		t.Fatalf("STOP: %+v", st.Error)
	}
	fin := h.waitRuns(j.JobID, schemas.PhaseFinished, 1, 10*time.Second)[0]
	if fin.RunID != started.RunID || fin.RunStatus != int(jobs.RunCanceled) ||
		!strings.Contains(fin.Message, "The job was stopped prior to completion by User MSX.") {
		t.Errorf("finished %+v", fin)
	}
	if rs := rows(t, fin); len(rs) != 2 || rs[1].RunStatus != jobs.RunCanceled {
		t.Errorf("rows %+v, want the outcome and a canceled step", rs)
	}
	waitFor(t, 10*time.Second, "canceled job event", func() bool {
		for _, e := range h.events.all() {
			if e.Source == "job" && e.Severity == schemas.SeverityInfo && e.RunID == fin.RunID {
				return true
			}
		}
		return false
	})

	if st := h.status(h.post(schemas.OpStart, "no-such-job", "", nil)); errCode(st) != target.CodeUnknownObject {
		t.Errorf("START of an unknown job: %+v", st.Error)
	}
}

func TestFailingStepRaisesEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	j := newJob("fails", jobs.SubsystemCmdExec, "echo oops; exit 3")
	j.DeleteLevel = jobs.LevelOnFailure
	h.insert(j)
	if st := h.status(h.post(schemas.OpStart, j.JobID, j.Name, nil)); st.Status != schemas.StatusApplied {
		t.Fatalf("START: %+v", st.Error)
	}
	fin := h.waitRuns(j.JobID, schemas.PhaseFinished, 1, 10*time.Second)[0]
	if fin.RunStatus != int(jobs.RunFailed) {
		t.Errorf("run status %d, want failed", fin.RunStatus)
	}
	waitFor(t, 10*time.Second, "step and job error events", func() bool {
		var step, job bool
		for _, e := range h.events.all() {
			if e.RunID != fin.RunID || e.Severity != schemas.SeverityError {
				continue
			}
			step = step || e.Source == "step" && e.StepID == 1 && strings.Contains(e.Message, "exit code 3")
			job = job || e.Source == "job" && strings.HasPrefix(e.Message, "The job failed.")
		}
		return step && job
	})
	// delete_level 2: the failed job is deleted from the target.
	waitFor(t, 10*time.Second, "job deleted after its failed run", func() bool {
		return errCode(h.status(h.post(schemas.OpStart, j.JobID, j.Name, nil))) == target.CodeUnknownObject
	})
}

func TestTSQLOnEmbeddedSQLite(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	j := newJob("tsql", jobs.SubsystemTSQL, "CREATE TABLE t(x); INSERT INTO t VALUES (1)\nGO\nSELECT count(*) FROM t")
	h.insert(j)
	if st := h.status(h.post(schemas.OpStart, j.JobID, j.Name, nil)); st.Status != schemas.StatusApplied {
		t.Fatalf("START: %+v", st.Error)
	}
	fin := h.waitRuns(j.JobID, schemas.PhaseFinished, 1, 10*time.Second)[0]
	rs := rows(t, fin)
	if fin.RunStatus != int(jobs.RunSucceeded) || len(rs) != 2 || !strings.Contains(rs[1].Output, "1") {
		t.Fatalf("finished %+v rows %+v", fin, rs)
	}
}

// TestShutdownCancelsRuns stops the agent during a run: the run ends canceled by the shutdown
// and its outcome is published before the agent returns.
func TestShutdownCancelsRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	j := newJob("long", jobs.SubsystemCmdExec, "sleep 30")
	h.insert(j)
	h.post(schemas.OpStart, j.JobID, j.Name, nil)
	h.waitRuns(j.JobID, schemas.PhaseStarted, 1, 10*time.Second)
	h.stopAgent()
	fin := h.waitRuns(j.JobID, schemas.PhaseFinished, 1, 10*time.Second)[0]
	if fin.RunStatus != int(jobs.RunCanceled) || !strings.Contains(fin.Message, "agent shutdown") {
		t.Errorf("finished %+v", fin)
	}
}

// TestResultsSpooledWhileBusDown lets scheduled runs happen while the bus is down; once it is
// back, every report is delivered, in order, each once.
func TestResultsSpooledWhileBusDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	j := newJob("offline", jobs.SubsystemCmdExec, "echo offline")
	j.Schedules = append(j.Schedules, every10s())
	h.insert(j)
	h.waitRuns(j.JobID, schemas.PhaseFinished, 1, 15*time.Second)

	h.srv.Shutdown()
	st, err := store.Open(t.Context(), filepath.Join(h.dataDir, "target.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitFor(t, 15*time.Second, "a run reported while the bus is down", func() bool {
		q, err := st.Outbox(t.Context(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range q {
			if strings.HasSuffix(m.MsgID, "-finished") && m.Subject == bus.ResultSubject(token, j.JobID) {
				return true
			}
		}
		return false
	})
	h.startServer()
	waitFor(t, 15*time.Second, "the spooled reports", func() bool {
		q, err := st.Outbox(t.Context(), 0, 1)
		return err == nil && len(q) == 0 && len(h.runs(j.JobID, schemas.PhaseFinished)) >= 2
	})
	h.stopAgent()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, bus.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the consumer to see every message of the results stream", func() bool {
		info, err := s.Info(ctx)
		return err == nil && int(info.State.Msgs) == len(h.results.all())
	})

	// Each report once, started before finished, runs in order.
	all := h.results.all()
	seen := map[string]bool{}
	var last time.Time
	for _, r := range all {
		k := r.RunID + "/" + r.Phase
		if seen[k] {
			t.Errorf("report %s delivered twice", k)
		}
		seen[k] = true
		switch r.Phase {
		case schemas.PhaseStarted:
			if r.Started.Before(last) {
				t.Errorf("run %s started %s, before the run before it (%s)", r.RunID, r.Started, last)
			}
			last = r.Started
		case schemas.PhaseFinished:
			if !seen[r.RunID+"/"+schemas.PhaseStarted] {
				t.Errorf("run %s finished before it started", r.RunID)
			}
		}
	}
}
