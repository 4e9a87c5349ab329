package target

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/runner"
	"github.com/msx-project/msx/target/scheduler"
	"github.com/msx-project/msx/target/store"
)

// runsShutdownTimeout bounds how long a stopping agent waits for canceled runs to report.
const runsShutdownTimeout = 30 * time.Second

// startJobs builds the runner, the run manager and the scheduler, and loads the jobs held.
// The scheduler starts firing when its loop runs.
func (a *Agent) startJobs(ctx context.Context, canon string) error {
	ex, err := executors(&a.cfg, a.localDB)
	if err != nil {
		return err
	}
	a.profiles = &profilePools{}
	withCredentials(&a.cfg, ex, a.profiles)
	base := a.cfg.Logger.With("server", canon)
	a.runner = runner.New(runner.Config{Server: canon, Logger: base, Executors: ex, Location: a.cfg.TimeZone})
	a.runs = &runManager{
		loc: a.cfg.TimeZone, log: base.With("component", "target.runs"), store: a.store, runner: a.runner, server: a.id.ServerName,
		token: a.id.Token, wake: a.wakeOutbox, write: a.write, active: map[string]*activeRun{},
		orphanPolicy: a.cfg.OrphanPolicy, orphanGrace: a.cfg.OrphanGrace,
		deleted: func() {
			ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
			defer cancel()
			a.reloadJobs(ctx)
		},
	}
	a.runs.recoverInterrupted(ctx)
	a.sched = scheduler.New(scheduler.Config{Starter: a.runs, Location: a.cfg.TimeZone, Logger: base})
	a.reloadJobs(ctx)
	if err := pingLocalDB(ctx, a.localDB); err != nil {
		a.log.Error("local database not reachable: T-SQL steps will fail until it answers", "database", a.cfg.Database, "err", err)
		a.agentEvent(ctx, "localdb-"+time.Now().UTC().Format("20060102T150405"), 0,
			fmt.Sprintf("SQLServerAgent Error: cannot connect to %s: %v. T-SQL job steps fail until it answers.", a.cfg.Database, err))
	}
	return nil
}

// stopRuns cancels running jobs (agent shutdown) and waits for their reports.
func (a *Agent) stopRuns() {
	if a.runs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), runsShutdownTimeout)
	defer cancel()
	if err := a.runs.Shutdown(ctx); err != nil {
		a.log.Error("running jobs did not stop in time; their reports may be lost", "err", err)
	}
	a.profiles.Close()
}

// reloadJobs gives the scheduler the jobs held in the local database.
func (a *Agent) reloadJobs(ctx context.Context) {
	defs, err := a.store.Jobs(ctx)
	if err != nil {
		a.log.Error("jobs not reloaded: schedules keep their previous state", "err", err)
		return
	}
	list := make([]jobs.Job, 0, len(defs))
	for _, d := range defs {
		var j jobs.Job
		if err := json.Unmarshal(d.Definition, &j); err != nil {
			a.log.Error("job definition unreadable: the job does not run", "job", d.Name, "job_id", d.JobID, "err", err)
			a.agentEvent(ctx, fmt.Sprintf("job-%s-v%d-unreadable", d.JobID, d.Version), 0,
				fmt.Sprintf("SQLServerAgent Error: job '%s' (version %d) cannot be read and does not run: %v", d.Name, d.Version, err))
			continue
		}
		j.JobID, j.VersionNumber = d.JobID, d.Version
		list = append(list, j)
	}
	a.sched.Reload(list)
}

// checkSubsystems reports, once per job version, the steps of a downloaded job whose subsystem
// this target cannot run: they would fail at run time.
func (a *Agent) checkSubsystems(ctx context.Context, j jobs.Job) {
	for _, s := range j.Steps {
		sub := s.Subsystem
		if sub == "" {
			sub = jobs.SubsystemTSQL
		}
		if a.runner.Available(sub) {
			continue
		}
		a.log.Warn("job step uses a subsystem this target cannot run", "job", j.Name, "step", s.StepID, "subsystem", sub)
		a.agentEvent(ctx, fmt.Sprintf("job-%s-v%d-step-%d-subsystem", j.JobID, j.VersionNumber, s.StepID), 0,
			fmt.Sprintf("SQLServerAgent Error: job '%s' step %d (%s) uses subsystem %s, which is not available on this target; the step will fail.",
				j.Name, s.StepID, s.StepName, sub))
	}
}

// agentEvent queues an error event (severity 16) from the agent itself.
func (a *Agent) agentEvent(ctx context.Context, id string, code int, msg string) {
	ev := schemas.Event{ID: id, Severity: schemas.SeverityError, Source: "agent", Message: msg, ErrorCode: code}
	a.write(ctx, store.Write{Msgs: []store.OutMsg{eventMsg(a.id.ServerName, a.id.Token, ev)}})
}
