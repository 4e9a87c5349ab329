package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// Defaults of Config.
const (
	DefaultOutputLimit = 64 << 10
	DefaultMaxStepRuns = 1000
)

// Config configures a Runner. The zero value runs nothing (no executors) but is otherwise
// usable.
type Config struct {
	// Server is the target's name, HOST or HOST\INSTANCE: the server of every history row and
	// the SRVR, MACH and INST tokens.
	Server string
	// Logger receives the runner's logs. Default: discard.
	Logger *slog.Logger
	// Executors run steps, by subsystem (jobs.SubsystemTSQL, ...). A step whose subsystem has
	// no executor fails with "subsystem X is not available on this target". Subsystem names
	// are matched exactly first, then ignoring case.
	Executors map[string]Executor
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
	// Location is the target's time zone, used for run_date, run_time and the date and time
	// tokens. Default: time.Local.
	Location *time.Location
	// OutputLimit is the most bytes of output kept per step attempt, in history and in the
	// output file. Default (0 or less): DefaultOutputLimit, 64 KiB.
	OutputLimit int
	// MaxStepRuns is the most step attempts (retries included) one run may make before the job
	// fails, the guard against loops of go-to-step actions. Default (0 or less):
	// DefaultMaxStepRuns, 1,000.
	MaxStepRuns int
	// SQLDir and SQLLogDir are the values of the SQLDIR and SQLLOGDIR tokens. Default: empty.
	SQLDir    string
	SQLLogDir string
}

// Runner runs jobs. It holds no state between runs; Run may be called concurrently.
type Runner struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	loc *time.Location
}

// New returns a Runner for cfg, with its defaults filled in.
func New(cfg Config) *Runner {
	r := &Runner{cfg: cfg, log: cfg.Logger, now: cfg.Now, loc: cfg.Location}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("component", "target.runner")
	if r.now == nil {
		r.now = time.Now
	}
	if r.loc == nil {
		r.loc = time.Local
	}
	if r.cfg.OutputLimit <= 0 {
		r.cfg.OutputLimit = DefaultOutputLimit
	}
	if r.cfg.MaxStepRuns <= 0 {
		r.cfg.MaxStepRuns = DefaultMaxStepRuns
	}
	return r
}

func (r *Runner) executor(subsystem string) Executor {
	if subsystem == "" {
		subsystem = jobs.SubsystemTSQL
	}
	if e, ok := r.cfg.Executors[subsystem]; ok {
		return e
	}
	for name, e := range r.cfg.Executors {
		if strings.EqualFold(name, subsystem) {
			return e
		}
	}
	return nil
}

// RunInfo describes one run of a job.
type RunInfo struct {
	// RunID identifies the run; it is copied into every history row.
	RunID string
	// InvokedBy completes SQL Server Agent's "The Job was invoked by ...": "Schedule 3
	// (nightly)", "User alice", "operator", "agent start". Default: "an unknown source".
	InvokedBy string
	// Start is when the run started: run_date and run_time of the job outcome and the STRTDT
	// and STRTTM tokens. Default: Config.Now() when Run is called.
	Start time.Time
	// Processes records the process groups of the run's steps while they run; default (nil):
	// not recorded.
	Processes ProcessRecorder
	// Live receives each step attempt's output while it runs, masked as history is; default
	// (nil): none.
	Live LiveOutput
}

// Outcome is the result of a run.
type Outcome struct {
	// Status is the job's run status: RunSucceeded, RunFailed or RunCanceled.
	Status jobs.RunStatus
	// Job is the job outcome row (step 0, "(Job outcome)").
	Job jobs.HistoryRow
	// Steps are the rows of the step attempts, in the order they ran.
	Steps []jobs.HistoryRow
	// Cause is why the run did not succeed: the last step's error, the reason the runner
	// stopped it, or context.Cause of a canceled run. Nil when it succeeded.
	Cause error
}

// Rows returns the job outcome row followed by the step rows, the order SQL Server Agent lists
// history in for one run.
func (o Outcome) Rows() []jobs.HistoryRow {
	return append([]jobs.HistoryRow{o.Job}, o.Steps...)
}

// run is the state of one Run.
type run struct {
	job       jobs.Job
	info      RunInfo
	steps     map[int]jobs.Step
	stepCount map[int]int // STEPCT: times each step ran, retries excluded
	attempts  int         // every attempt, for MaxStepRuns
	rows      []jobs.HistoryRow
	last      *jobs.Step // last step to run
}

// Run runs job to its end and returns its history. It starts at job.StartStepID (1 when 0),
// runs each step's attempts through the executor of its subsystem, and follows the steps'
// actions as described in the package documentation. Actions and start step left 0 take SQL
// Server Agent's defaults (on success quit with success, on failure quit with failure).
//
// When ctx is canceled, the running step's context is canceled with the same cause, its row
// and the job outcome are canceled (run_status 3) and Outcome.Cause is context.Cause(ctx).
// Run never fails: every problem is reported in the Outcome.
func (r *Runner) Run(ctx context.Context, job jobs.Job, info RunInfo) Outcome {
	if info.Start.IsZero() {
		info.Start = r.now()
	}
	if info.InvokedBy == "" {
		info.InvokedBy = "an unknown source"
	}
	st := &run{job: job, info: info, steps: make(map[int]jobs.Step, len(job.Steps)), stepCount: map[int]int{}}
	for _, s := range job.Steps {
		st.steps[s.StepID] = s
	}
	log := r.log.With("job", job.Name, "job_id", job.JobID, "run_id", info.RunID)
	log.Info("job started", "invoked_by", info.InvokedBy)

	status, cause := r.flow(ctx, st)

	end := r.now()
	row := r.row(st, jobs.Step{StepName: jobs.JobOutcomeStepName}, info.Start, end)
	row.RunStatus = status
	row.Message = jobMessage(st, status, cause)
	out := Outcome{Status: status, Job: row, Steps: st.rows}
	if status != jobs.RunSucceeded {
		out.Cause = cause
	}
	log.Info("job finished", "status", status, "duration", end.Sub(info.Start), "cause", cause)
	return out
}

// flow runs steps until an action ends the job and returns the job's status and, when it did
// not succeed, why.
func (r *Runner) flow(ctx context.Context, st *run) (jobs.RunStatus, error) {
	if len(st.job.Steps) == 0 {
		return jobs.RunFailed, fmt.Errorf("%w: the job has no steps", ErrNoStep)
	}
	id := st.job.StartStepID
	if id == 0 {
		id = 1
	}
	from := "the start step"
	for {
		if err := ctx.Err(); err != nil {
			return jobs.RunCanceled, context.Cause(ctx)
		}
		step, ok := st.steps[id]
		if !ok {
			return jobs.RunFailed, fmt.Errorf("%w: %s is step %d, which does not exist", ErrNoStep, from, id)
		}
		if st.attempts >= r.cfg.MaxStepRuns {
			return jobs.RunFailed, fmt.Errorf("%w: %d step runs without the job ending; "+
				"check the go-to-step actions for a loop", ErrStepLimit, st.attempts)
		}
		st.last = &step
		st.stepCount[id]++
		status, err := r.runStep(ctx, st, step)
		var action, target int
		switch status {
		case jobs.RunCanceled:
			return jobs.RunCanceled, err
		case jobs.RunSucceeded:
			action, target = step.OnSuccessAction, step.OnSuccessStepID
			if action == 0 {
				action = jobs.ActionQuitSuccess
			}
		default:
			action, target = step.OnFailAction, step.OnFailStepID
			if action == 0 {
				action = jobs.ActionQuitFailure
			}
		}
		switch action {
		case jobs.ActionQuitSuccess:
			return jobs.RunSucceeded, nil
		case jobs.ActionQuitFailure:
			if err == nil {
				err = fmt.Errorf("step %d (%s) quits with failure on success", step.StepID, step.StepName)
			}
			return jobs.RunFailed, err
		case jobs.ActionNextStep:
			if _, ok := st.steps[id+1]; !ok {
				// "Go to the next step" on the last step ends the job with the step's status.
				if status == jobs.RunSucceeded {
					return jobs.RunSucceeded, nil
				}
				return jobs.RunFailed, err
			}
			id = id + 1
			from = fmt.Sprintf("the step after step %d", step.StepID)
		case jobs.ActionGoToStep:
			id = target
			from = fmt.Sprintf("the go-to step of step %d (%s)", step.StepID, step.StepName)
		default:
			return jobs.RunFailed, fmt.Errorf("%w: step %d (%s) has action %d; actions are 1 to 4",
				ErrNoStep, step.StepID, step.StepName, action)
		}
	}
}

// row returns a history row of run st for step, started at start and ended at end.
func (r *Runner) row(st *run, step jobs.Step, start, end time.Time) jobs.HistoryRow {
	local := start.In(r.loc)
	d := max(end.Sub(start), 0)
	return jobs.HistoryRow{
		RunID:       st.info.RunID,
		JobID:       st.job.JobID,
		JobName:     st.job.Name,
		StepID:      step.StepID,
		StepName:    step.StepName,
		RunDate:     jobs.DateInt(local),
		RunTime:     jobs.TimeInt(local),
		RunStarted:  start.UTC(),
		RunDuration: jobs.DurationInt(d),
		DurationMS:  d.Milliseconds(),
		Server:      r.cfg.Server,
	}
}

// jobMessage returns SQL Server Agent's message for the job outcome row.
func jobMessage(st *run, status jobs.RunStatus, cause error) string {
	var b strings.Builder
	switch status {
	case jobs.RunSucceeded:
		b.WriteString("The job succeeded.")
	case jobs.RunCanceled:
		b.WriteString("The job was stopped prior to completion ")
		if se, ok := errors.AsType[*StopError](cause); ok && se.User != "" {
			b.WriteString("by User " + se.User + ".")
		} else {
			fmt.Fprintf(&b, "(%v).", cause)
		}
	default:
		b.WriteString("The job failed.")
	}
	fmt.Fprintf(&b, "  The Job was invoked by %s.", st.info.InvokedBy)
	if st.last != nil {
		fmt.Fprintf(&b, "  The last step to run was step %d (%s).", st.last.StepID, st.last.StepName)
	}
	// Reasons that no step row carries: the run itself went wrong.
	if status == jobs.RunFailed && (errors.Is(cause, ErrStepLimit) || errors.Is(cause, ErrNoStep)) {
		fmt.Fprintf(&b, "  %s.", upperFirst(cause.Error()))
	}
	return b.String()
}
