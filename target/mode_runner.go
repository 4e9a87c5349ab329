package target

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/runner"
	"github.com/msx-project/msx/target/scheduler"
	"github.com/msx-project/msx/target/store"
)

// runsShutdownTimeout bounds how long a stopping agent waits for canceled runs to report.
const runsShutdownTimeout = 30 * time.Second

// runnerHost is agent mode "runner": this agent fires the jobs on their schedules and runs
// their steps itself.
type runnerHost struct {
	a        *Agent
	runner   *runner.Runner
	runs     *runManager
	sched    *scheduler.Scheduler
	profiles *profilePools // pools of the connection profiles T-SQL steps name; closed at shutdown
}

var _ jobHost = (*runnerHost)(nil)

// newRunnerHost builds the runner, the run manager and the scheduler with the jobs held, after
// reporting the runs a previous life of the agent left unfinished. The scheduler starts firing
// when its loop runs.
func newRunnerHost(ctx context.Context, a *Agent, canon string) (*runnerHost, error) {
	ex, err := executors(&a.cfg, a.localDB)
	if err != nil {
		return nil, err
	}
	h := &runnerHost{a: a, profiles: &profilePools{}}
	withCredentials(&a.cfg, ex, h.profiles)
	base := a.cfg.Logger.With("server", canon)
	h.runner = runner.New(runner.Config{Server: canon, Logger: base, Executors: ex, Location: a.cfg.TimeZone})
	h.runs = &runManager{
		loc: a.cfg.TimeZone, log: base.With("component", "target.runs"), store: a.store, runner: h.runner, server: a.id.ServerName,
		token: a.id.Token, wake: a.wakeOutbox, write: a.write, active: map[string]*activeRun{},
		orphanPolicy: a.cfg.OrphanPolicy, orphanGrace: a.cfg.OrphanGrace, deleted: h.deletedAfterRun, lookup: a.held.byName,
		publish: livePublisher(a.nc), // live output (liveout.go): core NATS, best effort
	}
	h.runs.recoverInterrupted(ctx)
	marks := firedMarks{store: a.store, log: base.With("component", "target.scheduler")}
	h.sched = scheduler.New(scheduler.Config{Starter: h.runs, Location: a.cfg.TimeZone, Logger: base, Marker: marks})
	held := a.held.all()
	h.sched.Reload(held)
	h.sched.CatchUp(marks.load(ctx, held))
	if err := pingLocalDB(ctx, a.localDB); err != nil {
		a.log.Error("local database not reachable: T-SQL steps will fail until it answers", "database", a.cfg.Database, "err", err)
		a.agentEvent(ctx, "localdb-"+time.Now().UTC().Format("20060102T150405"), 0,
			fmt.Sprintf("SQLServerAgent Error: cannot connect to %s: %v. T-SQL job steps fail until it answers.", a.cfg.Database, err))
	}
	return h, nil
}

func (h *runnerHost) prepare(_ context.Context, in *schemas.Instruction, p *pending) error {
	switch in.Operation {
	case schemas.OpInsert, schemas.OpUpdate:
		// A job this target cannot run as it says fails here, as in MSX; later ones still apply.
		return checkJobCredentials(&h.a.cfg, p.job, false)
	case schemas.OpStart:
		// The slot is claimed now, so that nothing starts the job between the commit and the
		// run; aborted gives it back if the instruction is not applied.
		r, err := h.runs.claim(p.job.JobID, p.job.Name, requester(in.Source))
		if err != nil {
			return err
		}
		p.run = r
	case schemas.OpStop:
		if _, ok := h.runs.running(p.job.JobID); !ok {
			return notRunning(p.job.Name, requester(in.Source))
		}
	}
	return nil
}

func (h *runnerHost) committed(ctx context.Context, in *schemas.Instruction, p *pending) {
	switch in.Operation {
	case schemas.OpInsert, schemas.OpUpdate:
		if p.changed {
			h.sched.Put(p.job)
			h.checkSubsystems(ctx, p.job)
		}
	case schemas.OpDelete:
		if in.ObjectID == "" {
			h.sched.Reload(nil)
		} else {
			h.sched.Remove(in.ObjectID, 0)
		}
	case schemas.OpStart:
		if p.run != nil {
			h.runs.launch(p.job, p.run)
		}
	case schemas.OpStop:
		name := in.ObjectName
		if name == "" {
			name = in.ObjectID
		}
		if err := h.runs.Stop(in.ObjectID, name, in.Source); err != nil {
			h.a.log.Info("job ended before its STOP took effect", "job", name, "err", err)
		}
	}
}

func (h *runnerHost) aborted(p *pending) {
	if p.run != nil {
		h.runs.release(p.job.JobID, p.run) // the START did not commit: it never runs
	}
}

// defected has nothing to do: the jobs held were this agent's own, deleted with its database.
func (h *runnerHost) defected(context.Context, []string) {}

func (h *runnerHost) loops() []func(context.Context) error {
	return []func(context.Context) error{h.sched.Run}
}

func (h *runnerHost) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, runsShutdownTimeout)
	defer cancel()
	err := h.runs.Shutdown(ctx)
	h.profiles.Close()
	return err
}

// deletedAfterRun forgets a job its run deleted (delete_level), unless a newer version of it
// arrived in the meantime.
func (h *runnerHost) deletedAfterRun(j jobs.Job) {
	if h.a.held.remove(j.JobID, j.VersionNumber) {
		h.sched.Remove(j.JobID, j.VersionNumber)
	}
}

// checkSubsystems reports, once per job version, the steps of a downloaded job whose subsystem
// this target cannot run: they would fail at run time.
func (h *runnerHost) checkSubsystems(ctx context.Context, j jobs.Job) {
	for _, s := range j.Steps {
		sub := s.Subsystem
		if sub == "" {
			sub = jobs.SubsystemTSQL
		}
		if h.runner.Available(sub) {
			continue
		}
		h.a.log.Warn("job step uses a subsystem this target cannot run", "job", j.Name, "step", s.StepID, "subsystem", sub)
		h.a.jobEvent(ctx, fmt.Sprintf("job-%s-v%d-step-%d-subsystem", j.JobID, j.VersionNumber, s.StepID), j.JobID, j.Name,
			fmt.Sprintf("SQLServerAgent Error: job '%s' step %d (%s) uses subsystem %s, which is not available on this target; the step will fail.",
				j.Name, s.StepID, s.StepName, sub))
	}
}

// firedMarks keeps the scheduler's catch-up marks in the local database.
type firedMarks struct {
	store *store.Store
	log   *slog.Logger
}

var _ scheduler.Marker = firedMarks{}

// Mark records that the job's firings up to handled were handled.
func (f firedMarks) Mark(jobID string, handled time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	if err := f.store.SetFired(ctx, jobID, handled); err != nil {
		f.log.Warn("catch-up mark not recorded: a later catch-up looks back to the mark before", "job_id", jobID, "err", err)
	}
}

// load returns the catch-up marks of the jobs held.
func (f firedMarks) load(ctx context.Context, held []jobs.Job) map[string]time.Time {
	keep := make(map[string]bool, len(held))
	for _, j := range held {
		keep[j.JobID] = true
	}
	marks, err := f.store.Fired(ctx, keep)
	if err != nil {
		f.log.Error("catch-up marks not read: runs missed while the agent was stopped are not made up", "err", err)
	}
	return marks
}
