package target

import (
	"errors"
	"fmt"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/scheduler"
	"github.com/msx-project/msx/target/store"
)

// chain starts, on this target, the job that a finished run's outcome names: on_success_start
// after a success, on_failure_start after a failure (a canceled run starts nothing). The
// chained job's own overlap policy applies when it is running already. A chain to a job this
// target does not hold raises a warning event naming both jobs. The master refuses chains
// that form a cycle when they are applied.
func (m *runManager) chain(job jobs.Job, status jobs.RunStatus) {
	name := job.Chain(status)
	if name == "" || m.lookup == nil {
		return
	}
	field := "on_success_start"
	if status == jobs.RunFailed {
		field = "on_failure_start"
	}
	next, ok := m.lookup(name)
	if !ok {
		msg := fmt.Sprintf("Job '%s' should start job '%s' (%s), but this target does not hold that job: apply it to this target (msx job target).",
			job.Name, name, field)
		m.log.Warn("chained job not started: not held on this target", "job", job.Name, "chained", name)
		m.record(store.Write{Msgs: []store.OutMsg{eventMsg(m.server, m.token, schemas.Event{
			ID: fmt.Sprintf("chain-%s-%d", job.JobID, time.Now().UnixNano()), Severity: schemas.SeverityWarning, Source: "job",
			JobID: job.JobID, JobName: job.Name, Message: msg})}})
		return
	}
	by := fmt.Sprintf("Job %s (%s)", job.Name, field)
	if err := m.StartRun(next, scheduler.Firing{InvokedBy: by}); err != nil && !errors.Is(err, ErrShuttingDown) {
		m.log.Error("chained job not started", "job", job.Name, "chained", next.Name, "err", err)
	}
}
