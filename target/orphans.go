package target

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/runner"
	"github.com/msx-project/msx/target/store"
)

// Orphan policies (Config.OrphanPolicy): what an agent does, when it starts, with the step
// processes a previous life of it left running (it was killed with kill -9, or crashed).
const (
	// OrphanEnd ends them: SIGTERM to the step's process group, SIGKILL after
	// Config.OrphanGrace. The default: a job never runs twice at once.
	OrphanEnd = "end"
	// OrphanWait waits for them to finish before the agent schedules anything.
	OrphanWait = "wait"
)

// defaultOrphanGrace is how long an orphaned step gets between SIGTERM and SIGKILL.
const defaultOrphanGrace = 10 * time.Second

// processTimeout bounds recording or forgetting a step's process group.
const processTimeout = 5 * time.Second

// runProcesses records the process groups of one run's steps in the local database: the
// runner.ProcessRecorder of the run.
type runProcesses struct {
	m     *runManager
	runID string
	log   *slog.Logger
}

var _ runner.ProcessRecorder = runProcesses{}

func (r runProcesses) ProcessStarted(step jobs.Step, p runner.Process) {
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	defer cancel()
	err := r.m.store.ProcessStarted(ctx, store.StepProcess{RunID: r.runID, StepID: step.StepID, StepName: step.StepName,
		PID: p.PID, PGID: p.PGID, StartTime: p.StartTime})
	if err != nil {
		r.log.Warn("step process not recorded: if the agent dies now, its next start will not find it", "step", step.StepID, "pid", p.PID, "err", err)
	}
}

func (r runProcesses) ProcessEnded(step jobs.Step, p runner.Process) {
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	defer cancel()
	if err := r.m.store.ProcessEnded(ctx, r.runID, p.PID); err != nil {
		// Harmless: a restarted agent finds the group gone.
		r.log.Debug("ended step process not forgotten", "step", step.StepID, "pid", p.PID, "err", err)
	}
}

// settleOrphans ends, or waits for (OrphanWait), the step process groups that a previous life
// of the agent recorded and that still run, and returns for each run what happened, as a
// sentence for its report.
func (m *runManager) settleOrphans(ctx context.Context, procs map[string][]store.StepProcess) map[string]string {
	notes := map[string]string{}
	for runID, ps := range procs {
		var said []string
		for _, sp := range ps {
			p := runner.Process{PID: sp.PID, PGID: sp.PGID, StartTime: sp.StartTime}
			step := fmt.Sprintf("step %d (%s)", sp.StepID, sp.StepName)
			log := m.log.With("run_id", runID, "step", sp.StepID, "pgid", sp.PGID)
			if !runner.GroupAlive(p) {
				said = append(said, step+" was running; it had ended when the agent restarted")
				continue
			}
			if m.orphanPolicy == OrphanWait {
				log.Warn("a step left running by the previous agent still runs: waiting for it before scheduling anything (orphan policy wait)")
				if err := runner.WaitGroupEnd(ctx, p); err != nil {
					log.Error("stopped waiting for a step left running", "err", err)
				}
				said = append(said, fmt.Sprintf("%s was still running (process group %d); the restarted agent waited for it to finish", step, sp.PGID))
				continue
			}
			log.Warn("a step left running by the previous agent still runs: ending it (SIGTERM, then SIGKILL)", "grace", m.orphanGrace)
			if err := runner.EndGroup(ctx, p, m.orphanGrace); err != nil {
				log.Error("step left running not ended", "err", err)
				said = append(said, fmt.Sprintf("%s was still running (process group %d); the restarted agent could not end it: %v", step, sp.PGID, err))
				continue
			}
			said = append(said, fmt.Sprintf("%s was still running (process group %d) and was ended by the restarted agent", step, sp.PGID))
		}
		notes[runID] = strings.Join(said, "; ")
	}
	return notes
}
