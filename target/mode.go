package target

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/store"
)

// jobHost holds and runs the jobs this target downloads: one per agent mode. runnerHost
// ("runner", the default: this agent's scheduler and run manager) and msdbHost ("msdb": SQL
// Server Agent, through msdb) satisfy it.
//
// For each instruction not applied before, the agent calls prepare, then records the
// instruction in its local database in one transaction, then calls committed (it committed
// and applied) or aborted (it did not commit, or it failed). No method is called inside that
// transaction, so the database's single writer never waits on SQL Server or on a run.
type jobHost interface {
	// prepare does what the instruction needs of the host before it is recorded: check that
	// the job can run here, write it into SQL Server Agent, claim a START's run slot. p.job is
	// the new snapshot of an INSERT or UPDATE (when p.changed) or the held job of a START or
	// STOP. Its error fails the instruction.
	prepare(ctx context.Context, in *schemas.Instruction, p *pending) error
	// committed makes a committed instruction take effect: schedules, runs, stops.
	committed(ctx context.Context, in *schemas.Instruction, p *pending)
	// aborted gives back what prepare took for an instruction that was not applied.
	aborted(p *pending)
	// defected: the target left its master (DEFECT) while holding the jobs ids.
	defected(ctx context.Context, ids []string)
	// loops are the host's goroutines; each runs until its context ends.
	loops() []func(context.Context) error
	// shutdown ends the runs in progress and waits for their reports, or until ctx ends (its
	// error is returned then). It may be called more than once.
	shutdown(ctx context.Context) error
}

// loadHeld reads the jobs held from the local database into memory, once at start. A job
// whose definition cannot be read is left out (it does not run) and reported when report.
func (a *Agent) loadHeld(ctx context.Context, report bool) error {
	defs, err := a.store.Jobs(ctx)
	if err != nil {
		return fmt.Errorf("load the jobs held: %w", err)
	}
	list := make([]jobs.Job, 0, len(defs))
	for _, d := range defs {
		var j jobs.Job
		if err := json.Unmarshal(d.Definition, &j); err != nil {
			a.log.Error("job definition unreadable: the job does not run", "job", d.Name, "job_id", d.JobID, "err", err)
			if report {
				a.jobEvent(ctx, fmt.Sprintf("job-%s-v%d-unreadable", d.JobID, d.Version), d.JobID, d.Name,
					fmt.Sprintf("SQLServerAgent Error: job '%s' (version %d) cannot be read and does not run: %v", d.Name, d.Version, err))
			}
			continue
		}
		j.JobID, j.VersionNumber = d.JobID, d.Version
		list = append(list, j)
	}
	a.held.load(list)
	return nil
}

// agentEvent queues an error event (severity 16) from the agent itself.
func (a *Agent) agentEvent(ctx context.Context, id string, code int, msg string) {
	ev := schemas.Event{ID: id, Severity: schemas.SeverityError, Source: "agent", Message: msg, ErrorCode: code}
	a.write(ctx, store.Write{Msgs: []store.OutMsg{eventMsg(a.id.ServerName, a.id.Token, ev)}})
}

// jobEvent queues an error event (severity 16) from the agent about a job, naming it.
func (a *Agent) jobEvent(ctx context.Context, id, jobID, jobName, msg string) {
	ev := schemas.Event{ID: id, Severity: schemas.SeverityError, Source: "agent", Message: msg, JobID: jobID, JobName: jobName}
	a.write(ctx, store.Write{Msgs: []store.OutMsg{eventMsg(a.id.ServerName, a.id.Token, ev)}})
}
