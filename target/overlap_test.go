package target_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// everySecond fires every second.
func everySecond() schedule.Schedule {
	return schedule.Schedule{Name: "every second", Cron: "* * * * * *"}
}

// blockingJob returns a job fired every second whose one CmdExec step runs until the file
// release exists.
func blockingJob(t *testing.T, name, overlap string) (*jobs.Job, string) {
	release := filepath.Join(t.TempDir(), "release")
	j := newJob(name, jobs.SubsystemCmdExec, "while [ ! -f '"+release+"' ]; do sleep 0.05; done")
	j.Schedules = []schedule.Schedule{everySecond()}
	j.Overlap = overlap
	return j, release
}

// startBlocking inserts a blockingJob with the overlap policy into a new harness and waits for
// its first run to start.
func startBlocking(t *testing.T, name, overlap string) (h *harness, j *jobs.Job, release string, first schemas.RunResult) {
	t.Helper()
	h = newHarness(t)
	j, release = blockingJob(t, name, overlap)
	h.insert(j)
	return h, j, release, h.waitRuns(j.JobID, schemas.PhaseStarted, 1, 20*time.Second)[0]
}

func releaseRun(t *testing.T, file string) {
	t.Helper()
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// skipped returns the job's results that report a skipped firing.
func (h *harness) skipped(jobID string) []schemas.RunResult {
	var out []schemas.RunResult
	for _, r := range h.runs(jobID, schemas.PhaseFinished) {
		if r.Skipped {
			out = append(out, r)
		}
	}
	return out
}

// event waits for an event of the job whose message contains text.
func (h *harness) event(jobID, text string) schemas.Event {
	h.t.Helper()
	var ev schemas.Event
	waitFor(h.t, 20*time.Second, "event "+text, func() bool {
		for _, e := range h.events.all() {
			if e.JobID == jobID && strings.Contains(e.Message, text) {
				ev = e
				return true
			}
		}
		return false
	})
	return ev
}

// checkOneAtATime fails when a run of the job started before the one before it finished.
func (h *harness) checkOneAtATime(jobID string) {
	h.t.Helper()
	open := ""
	for _, r := range h.results.all() {
		if r.JobID != jobID || r.Skipped {
			continue
		}
		switch r.Phase {
		case schemas.PhaseStarted:
			if open != "" {
				h.t.Errorf("run %s started while run %s was running", r.RunID, open)
			}
			open = r.RunID
		case schemas.PhaseFinished:
			open = ""
		}
	}
}

func TestOverlapSkip(t *testing.T) {
	t.Parallel()
	h, j, release, first := startBlocking(t, "skipper", "")
	waitFor(t, 20*time.Second, "two skipped firings", func() bool { return len(h.skipped(j.JobID)) >= 2 })
	for _, s := range h.skipped(j.JobID) {
		rs := rows(t, s)
		if s.RunStatus != int(jobs.RunCanceled) || s.InvokedBy != "Schedule 1 (every second)" || s.Due.IsZero() ||
			!strings.Contains(s.Message, "The job was skipped.") ||
			!strings.Contains(s.Message, "still running from a request by Schedule 1 (every second) (overlap: skip)") ||
			len(rs) != 1 || rs[0].StepID != 0 || rs[0].RunStatus != jobs.RunCanceled {
			t.Errorf("skipped result %+v rows %+v", s, rs)
		}
	}
	ev := h.event(j.JobID, "The job was skipped.")
	if ev.JobName != "skipper" || ev.Severity != schemas.SeverityInfo || !strings.HasPrefix(ev.Message, "Job 'skipper': ") {
		t.Errorf("skip event %+v, want it to name the job", ev)
	}
	if n := len(h.runs(j.JobID, schemas.PhaseStarted)); n != 1 {
		t.Errorf("%d runs started while the first ran, want 1", n)
	}
	releaseRun(t, release)
	waitFor(t, 20*time.Second, "the first run to finish", func() bool {
		for _, r := range h.runs(j.JobID, schemas.PhaseFinished) {
			if r.RunID == first.RunID {
				return r.RunStatus == int(jobs.RunSucceeded)
			}
		}
		return false
	})
	h.checkOneAtATime(j.JobID)
}

func TestOverlapQueue(t *testing.T) {
	t.Parallel()
	h, j, release, first := startBlocking(t, "queuer", jobs.OverlapQueue)
	ev := h.event(j.JobID, "(overlap: queue)")
	if ev.JobName != "queuer" || !strings.Contains(ev.Message, "waits for the run from a request by Schedule 1 (every second) to end") {
		t.Errorf("queued event %+v", ev)
	}
	// A second firing while one waits is skipped: at most one waits.
	waitFor(t, 20*time.Second, "a skipped firing", func() bool { return len(h.skipped(j.JobID)) >= 1 })
	if s := h.skipped(j.JobID)[0]; !strings.Contains(s.Message, "a run already waits (overlap: queue)") {
		t.Errorf("skipped %+v", s)
	}
	if n := len(h.runs(j.JobID, schemas.PhaseStarted)); n != 1 {
		t.Errorf("%d runs started while the first ran, want 1", n)
	}
	releaseRun(t, release)
	// The queued run starts when the first ends, and its history says it was late.
	var queued schemas.RunResult
	waitFor(t, 20*time.Second, "the queued run", func() bool {
		for _, r := range h.runs(j.JobID, schemas.PhaseFinished) {
			if r.RunID != first.RunID && !r.Skipped && !r.Due.IsZero() {
				queued = r
				return true
			}
		}
		return false
	})
	if queued.RunStatus != int(jobs.RunSucceeded) || queued.LateSeconds < 1 || !queued.Started.After(queued.Due) ||
		!strings.Contains(queued.Message, "Queued run due at ") || !strings.Contains(rows(t, queued)[0].Message, "late when the previous run ended") {
		t.Errorf("queued run %+v", queued)
	}
	h.checkOneAtATime(j.JobID)
}

func TestOverlapReplace(t *testing.T) {
	t.Parallel()
	h, j, release, first := startBlocking(t, "replacer", jobs.OverlapReplace)
	var replaced schemas.RunResult
	waitFor(t, 20*time.Second, "the first run replaced", func() bool {
		for _, r := range h.runs(j.JobID, schemas.PhaseFinished) {
			if r.RunID == first.RunID {
				replaced = r
				return true
			}
		}
		return false
	})
	if replaced.RunStatus != int(jobs.RunCanceled) || replaced.Skipped ||
		!strings.Contains(replaced.Message, "The job was stopped prior to completion (replaced by a new run invoked by Schedule 1 (every second), overlap: replace).") {
		t.Errorf("replaced run %+v", replaced)
	}
	h.event(j.JobID, "replaced by a new run")
	h.waitRuns(j.JobID, schemas.PhaseStarted, 2, 20*time.Second)
	releaseRun(t, release)
	waitFor(t, 20*time.Second, "a run that succeeds", func() bool {
		for _, r := range h.runs(j.JobID, schemas.PhaseFinished) {
			if r.RunStatus == int(jobs.RunSucceeded) {
				return true
			}
		}
		return false
	})
	h.checkOneAtATime(j.JobID)
}
