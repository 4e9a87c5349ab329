package runner

import (
	"context"
	"io"

	"github.com/msx-project/msx/schemas/jobs"
)

// Executor runs one attempt of a job step of one subsystem. SQLExecutor (TSQL), CmdExecExecutor
// (CmdExec) and PowerShellExecutor (PowerShell) satisfy it; tests use their own.
//
// Execute must return when ctx is done, ending whatever it started; the Runner tells a
// cancellation (run_status 3) from a timeout (failed) by the context's cause.
type Executor interface {
	Execute(ctx context.Context, req Request) Result
}

// availabler is the optional capability of an Executor that can tell whether it works on this
// target (PowerShellExecutor needs pwsh on PATH). Executors without it are available.
type availabler interface {
	Available() bool
}

// Request is one attempt of a step.
type Request struct {
	// Step is the step as the job defines it, tokens not expanded.
	Step jobs.Step
	// Command is Step.Command with its tokens expanded.
	Command string
	// Database is the T-SQL database to run in: Step.DatabaseName, or "master" when empty.
	Database string
	// OutputLimit is the most bytes of output to keep; an executor keeps the start and the end
	// of longer output (see NewCapture). Always > 0.
	OutputLimit int
	// Processes records the process group of a CmdExec or PowerShell step while it runs; nil
	// records nothing.
	Processes ProcessRecorder
	// Live, when not nil, receives the output as the step prints it (CmdExec and PowerShell:
	// stdout and stderr; T-SQL: result sets, and PRINT and RAISERROR messages as SQL Server
	// sends them), already masked; an executor writes it besides what it keeps. It never fails
	// and never blocks.
	Live io.Writer
}

// Result is the end of one attempt.
type Result struct {
	// Err is nil when the step succeeded; otherwise it says why it failed.
	Err error
	// NonRetryable stops the Runner from retrying a failure that another attempt cannot fix,
	// such as a missing subsystem. The zero value lets the step retry, as SQL Server Agent does
	// for every failure.
	NonRetryable bool
	// ExitCode is the process exit code of a CmdExec or PowerShell step (-1 when the process
	// did not start or was killed).
	ExitCode int
	// SQLMessageID and SQLSeverity are the SQL Server error number and severity (class) of a
	// failed T-SQL step.
	SQLMessageID int
	SQLSeverity  int
	// Output is the text the step printed, at most about Request.OutputLimit bytes; the Runner
	// bounds it again.
	Output string
}

// Available reports whether this Runner can run steps of subsystem: it has an executor for it,
// and that executor, if it can tell, works on this target.
func (r *Runner) Available(subsystem string) bool {
	e := r.executor(subsystem)
	if e == nil {
		return false
	}
	if a, ok := e.(availabler); ok {
		return a.Available()
	}
	return true
}
