package target

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/scheduler"
	"github.com/msx-project/msx/target/store"
)

// Overlap: what a firing does when the job is still running, by the job's overlap policy.
//
//	firing ──slot free──────────────────────────────────────────────► started
//	   │ job running
//	   ├─ catch-up firing ─────────────────────► waits (behind the others of its catch-up)
//	   ├─ skip (default) ──────────────────────► skipped: history row (status 3) + event
//	   ├─ queue, none waiting ─► waits + event ─► started when the run ends (history: late)
//	   ├─ queue, one waiting ──────────────────► skipped
//	   └─ replace ─► running run canceled (status 3, "replaced"), waits ─► started when it ends
//
// A START instruction never waits: SQL Server Agent refuses it (22022) while the job runs.
// Firings still waiting when the agent stops are reported as skipped.

// waitingRun is a firing that starts when the job's running run ends.
type waitingRun struct {
	job jobs.Job
	f   scheduler.Firing
}

// replacedError is the cause a run is canceled with when a firing replaces it (overlap
// replace).
type replacedError struct{ by string }

func (e *replacedError) Error() string {
	return "replaced by a new run invoked by " + e.by + ", overlap: replace"
}

// StartRun starts a run of job for the schedule's firing f and returns without waiting for
// it. While the job runs, the job's overlap policy decides (see above): the firing is skipped,
// waits, or replaces the running run; each is reported, none returns an error. It returns
// ErrShuttingDown once the agent stops.
func (m *runManager) StartRun(job jobs.Job, f scheduler.Firing) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrShuttingDown
	}
	r, running := m.active[job.JobID]
	if !running {
		r = m.claimLocked(job.JobID, f.InvokedBy)
		r.firing, r.late = f, f.CatchUp
		m.mu.Unlock()
		m.launch(job, r)
		return nil
	}
	w := waitingRun{job, f}
	var dropped []waitingRun
	verdict := "skip"
	switch policy := job.OverlapPolicy(); {
	case f.CatchUp:
		r.waiting = append(r.waiting, w)
		verdict = "catch-up"
	case policy == jobs.OverlapQueue && !hasScheduled(r.waiting):
		r.waiting = append(r.waiting, w)
		verdict = "queue"
	case policy == jobs.OverlapReplace:
		dropped, r.waiting = r.waiting, []waitingRun{w}
		r.cancel(&replacedError{by: f.InvokedBy})
		verdict = "replace"
	}
	runningBy := r.invokedBy
	m.mu.Unlock()

	for _, d := range dropped {
		m.skip(d.job, d.f, "a later firing replaced the running run (overlap: replace)")
	}
	log := m.log.With("job", job.Name, "job_id", job.JobID, "invoked_by", f.InvokedBy)
	switch verdict {
	case "skip":
		why := fmt.Sprintf("the job was still running from a request by %s (overlap: %s)", runningBy, job.OverlapPolicy())
		if job.OverlapPolicy() == jobs.OverlapQueue {
			why = fmt.Sprintf("the job was still running from a request by %s and a run already waits (overlap: queue)", runningBy)
		}
		m.skip(job, f, why)
	case "queue":
		log.Info("scheduled run queued: it starts when the running run ends")
		m.record(store.Write{Msgs: []store.OutMsg{eventMsg(m.server, m.token, schemas.Event{
			ID: "queued-" + rand.Text(), Severity: schemas.SeverityInfo, Source: "job", JobID: job.JobID, JobName: job.Name,
			Message: fmt.Sprintf("Job '%s': the run invoked by %s waits for the run from a request by %s to end (overlap: queue).",
				job.Name, f.InvokedBy, runningBy)})}})
	case "replace":
		log.Info("running run stopped: a new firing replaces it (overlap: replace)", "running", runningBy)
	}
	return nil
}

// hasScheduled reports whether a scheduled firing (not a catch-up) waits already.
func hasScheduled(ws []waitingRun) bool {
	for _, w := range ws {
		if !w.f.CatchUp {
			return true
		}
	}
	return false
}

// nextWaiting takes the job's slot, which run r just gave back, for the first firing waiting
// behind r; when the agent is stopping, it returns the waiting firings as dropped instead.
// Called with m.mu held.
func (m *runManager) nextWaiting(jobID string, r *activeRun) (next *activeRun, w waitingRun, dropped []waitingRun) {
	if len(r.waiting) == 0 {
		return nil, waitingRun{}, nil
	}
	if m.closed || m.active[jobID] != nil {
		return nil, waitingRun{}, r.waiting
	}
	w = r.waiting[0]
	next = m.claimLocked(jobID, w.f.InvokedBy)
	next.firing, next.late, next.waiting = w.f, true, r.waiting[1:]
	r.waiting = nil
	return next, w, nil
}

// lateness fills a late run's due time and delay into res and returns the note its job
// outcome message ends with ("" for a run on time).
func (m *runManager) lateness(res *schemas.RunResult, r *activeRun, start time.Time) string {
	if !r.late || r.firing.Due.IsZero() {
		return ""
	}
	res.Due = r.firing.Due.UTC()
	res.LateSeconds = max(0, int64(start.Sub(r.firing.Due)/time.Second))
	return r.firing.Note(start, m.loc)
}

// skip reports a firing that did not run: a "finished" history row with run_status 3 and
// skipped set (the master counts it as neither a run nor the job's last outcome), and an
// event naming the job.
func (m *runManager) skip(job jobs.Job, f scheduler.Firing, why string) {
	id := rand.Text()
	now := time.Now()
	msg := fmt.Sprintf("The job was skipped.  The Job was invoked by %s.  It did not run: %s.", f.InvokedBy, why)
	res := schemas.RunResult{RunID: id, Phase: schemas.PhaseFinished, JobID: job.JobID, JobName: job.Name,
		VersionNumber: job.VersionNumber, Server: m.server, InvokedBy: f.InvokedBy, Started: now.UTC(), Finished: now.UTC(),
		RunStatus: int(jobs.RunCanceled), Message: msg, Skipped: true}
	if !f.Due.IsZero() {
		res.Due = f.Due.UTC()
	}
	local := now.In(m.loc)
	row := jobs.HistoryRow{RunID: id, JobID: job.JobID, JobName: job.Name, StepName: jobs.JobOutcomeStepName,
		RunStatus: jobs.RunCanceled, Message: msg, RunDate: jobs.DateInt(local), RunTime: jobs.TimeInt(local),
		RunStarted: now.UTC(), Server: m.server}
	res.Rows = jobs.EncodeRows([]jobs.HistoryRow{row}, jobs.MaxRowsBytes)
	ev := eventMsg(m.server, m.token, schemas.Event{ID: "skipped-" + id, Severity: schemas.SeverityInfo, Source: "job",
		JobID: job.JobID, JobName: job.Name, RunID: id, Message: fmt.Sprintf("Job '%s': %s", job.Name, msg)})
	m.record(store.Write{Msgs: []store.OutMsg{m.resultMsg(&res), ev}})
	m.log.Info("scheduled run skipped", "job", job.Name, "job_id", job.JobID, "invoked_by", f.InvokedBy, "reason", why)
}
