package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/msx-project/msx/schemas/jobs"
)

// runStep runs the attempts of one step, recording a row for each, and returns the step's final
// status (succeeded, failed or canceled) and, unless it succeeded, why.
func (r *Runner) runStep(ctx context.Context, st *run, step jobs.Step) (jobs.RunStatus, error) {
	log := r.log.With("job", st.job.Name, "run_id", st.info.RunID, "step_id", step.StepID, "step", step.StepName)
	for retry := 0; ; retry++ {
		st.attempts++
		start := r.now()
		res, status := r.attempt(ctx, st, step, retry, start)
		row := r.row(st, step, start, r.now())
		row.RetriesAttempted = retry
		row.SQLMessageID, row.SQLSeverity = res.SQLMessageID, res.SQLSeverity
		row.Output = res.Output

		willRetry := status == jobs.RunFailed && !res.NonRetryable &&
			retry < step.RetryAttempts && st.attempts < r.cfg.MaxStepRuns
		interval := time.Duration(max(step.RetryInterval, 0)) * time.Minute
		switch {
		case status == jobs.RunSucceeded:
			row.RunStatus = jobs.RunSucceeded
			row.Message = successMessage(step, res)
		case status == jobs.RunCanceled:
			row.RunStatus = jobs.RunCanceled
			row.Message = fmt.Sprintf("The step was canceled (%v).", res.Err)
		case willRetry:
			row.RunStatus = jobs.RunRetry
			row.Message = fmt.Sprintf("%s  The step failed; retry %d of %d in %s.",
				failureText(res.Err), retry+1, step.RetryAttempts, minutes(step.RetryInterval))
		default:
			row.RunStatus = jobs.RunFailed
			row.Message = failureText(res.Err) + "  The step failed."
		}
		st.rows = append(st.rows, row)
		log.Log(ctx, levelFor(row.RunStatus), "step attempt finished",
			"status", row.RunStatus, "retries_attempted", retry, "duration", time.Duration(row.DurationMS)*time.Millisecond, "err", res.Err)
		if !willRetry {
			return status, res.Err
		}

		if err := sleep(ctx, interval); err != nil {
			cause := context.Cause(ctx)
			wait := r.row(st, step, r.now(), r.now())
			wait.RetriesAttempted = retry + 1
			wait.RunStatus = jobs.RunCanceled
			wait.Message = fmt.Sprintf("The step was canceled while waiting to retry (%v).", cause)
			st.rows = append(st.rows, wait)
			return jobs.RunCanceled, cause
		}
	}
}

// attempt runs one attempt of step and returns its result and status: succeeded, failed or
// canceled (when ctx is done; Result.Err is then the cause).
func (r *Runner) attempt(ctx context.Context, st *run, step jobs.Step, retry int, start time.Time) (_ Result, status jobs.RunStatus) {
	if err := ctx.Err(); err != nil {
		return Result{Err: context.Cause(ctx), ExitCode: -1}, jobs.RunCanceled
	}
	vals := r.tokenValues(st.job, step, st.stepCount[step.StepID], st.info.Start, start)
	command, err := ExpandTokens(step.Command, vals)
	var outPath string
	if err == nil {
		outPath, err = ExpandTokens(step.OutputFileName, vals)
	}
	if err != nil {
		return Result{
			Err:          fmt.Errorf("unable to start execution of step %d (reason: %w)", step.StepID, err),
			NonRetryable: true, ExitCode: -1,
		}, jobs.RunFailed
	}
	exec := r.executor(step.Subsystem)
	if exec == nil {
		sub := step.Subsystem
		if sub == "" {
			sub = jobs.SubsystemTSQL
		}
		return Result{
			Err:          wrapf(ErrSubsystemUnavailable, "subsystem %s is not available on this target", sub),
			NonRetryable: true, ExitCode: -1,
		}, jobs.RunFailed
	}

	// SQL Server Agent opens the output file before it runs the step and does not run a step
	// whose output it cannot keep.
	var out *outputFile
	if outPath != "" {
		out, err = openOutputFile(outPath, step.Flags&flagAppendOutput != 0)
		if err != nil {
			return Result{Err: err, ExitCode: -1}, jobs.RunFailed
		}
	}

	db := step.DatabaseName
	if db == "" {
		db = "master"
	}
	stepCtx, cancel := ctx, context.CancelFunc(func() {})
	if step.Timeout > 0 {
		stepCtx, cancel = context.WithTimeoutCause(ctx, time.Duration(step.Timeout), ErrStepTimeout)
	}
	req := Request{Step: step, Command: command, Database: db, OutputLimit: r.cfg.OutputLimit, Processes: st.info.Processes}
	var live LiveStep
	var liveMask *LiveMask
	if st.info.Live != nil {
		live = st.info.Live.Step(step, retry)
		liveMask = NewLiveMask(live, st.job.SecretValues(), st.job.MaskSecrets) // as history is masked below
		req.Live = liveMask
	}
	res := exec.Execute(stepCtx, req)
	if liveMask != nil {
		liveMask.Flush()
		defer func() { live.End(status) }()
	}
	timedOut := errors.Is(context.Cause(stepCtx), ErrStepTimeout) && ctx.Err() == nil
	cancel()
	res.Output = bound(res.Output, r.cfg.OutputLimit)
	res = MaskResult(res, st.job.MaskSecrets) // secret variables (mask.go), before the output file, history and events see it

	if out != nil {
		if werr := out.finish(res.Output); werr != nil {
			if res.Err == nil {
				res.Err = werr
			} else {
				r.log.Warn("step output file not written", "step_id", step.StepID, "err", werr)
			}
		}
	}
	switch {
	case res.Err == nil:
		return res, jobs.RunSucceeded
	case ctx.Err() != nil:
		res.Err = context.Cause(ctx)
		return res, jobs.RunCanceled
	case timedOut:
		res.Err = wrapf(ErrStepTimeout, "the step ran longer than its timeout of %s and was canceled: %w",
			time.Duration(step.Timeout), res.Err)
		return res, jobs.RunFailed
	}
	return res, jobs.RunFailed
}

// sleep waits for d or until ctx is done, whichever comes first, and returns the context's
// error in the second case. It uses a timer, so that tests under testing/synctest pass minutes
// of retry interval at once.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func successMessage(step jobs.Step, res Result) string {
	if step.Subsystem == jobs.SubsystemCmdExec || step.Subsystem == jobs.SubsystemPowerShell {
		return fmt.Sprintf("Process Exit Code %d.  The step succeeded.", res.ExitCode)
	}
	return "The step succeeded."
}

// failureText returns err as the first sentence(s) of a failure message, ending with a period.
func failureText(err error) string {
	if err == nil {
		return "The step reported failure."
	}
	s := upperFirst(strings.TrimSpace(err.Error()))
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

func minutes(n int) string {
	if n == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", max(n, 0))
}

func levelFor(s jobs.RunStatus) slog.Level {
	switch s {
	case jobs.RunSucceeded:
		return slog.LevelInfo
	case jobs.RunRetry, jobs.RunCanceled:
		return slog.LevelWarn
	}
	return slog.LevelError
}
