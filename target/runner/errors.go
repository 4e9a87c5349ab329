package runner

import (
	"errors"
	"fmt"
)

// Errors found in step rows and results. Match them with errors.Is.
var (
	// ErrStepTimeout is the cancel cause of a step that ran longer than its timeout. The step
	// fails (run_status 0) and may be retried.
	ErrStepTimeout = errors.New("timeout")

	// ErrStopped is the cause to cancel a run with when an operator stops the job; StopError
	// wraps it and names the operator.
	ErrStopped = errors.New("stopped by operator")

	// ErrShutdown is the cause to cancel a run with when the agent shuts down.
	ErrShutdown = errors.New("agent shutdown")

	// ErrUnknownToken means a command or output file name holds a token ExpandTokens does not
	// know, such as $(A-DBN) outside an alert. The wrapping error names the tokens.
	ErrUnknownToken = errors.New("unknown token")

	// ErrSubsystemUnavailable means no executor runs the step's subsystem on this target, or
	// the program it needs (pwsh) is missing.
	ErrSubsystemUnavailable = errors.New("subsystem not available")

	// ErrExitCode means a process ended with an exit code other than the step's success code.
	ErrExitCode = errors.New("process exit code is not the success code")

	// ErrOutputFile means the step's output file could not be opened or written.
	ErrOutputFile = errors.New("step output file")

	// ErrStepLimit means a run made Config.MaxStepRuns step attempts without ending, most
	// likely in a loop of go-to-step actions; the job fails.
	ErrStepLimit = errors.New("too many step runs")

	// ErrNoStep means the flow reached a step the job does not have (a start step or go-to
	// step that does not exist, a job without steps) or an action that does not exist.
	ErrNoStep = errors.New("no such step")

	// ErrRunAs means a CmdExec or PowerShell step could not run as the OS account its proxy
	// names: the account does not exist, the agent is not root (Unix), or the platform cannot
	// switch accounts yet. Another attempt cannot fix it.
	ErrRunAs = errors.New("cannot run the step as its proxy's account")

	// ErrNoDatabase means a SQLExecutor has neither DB nor Open.
	ErrNoDatabase = errors.New("no database configured for T-SQL steps")
)

// StopError is the cancel cause for a run an operator stopped (sp_stop_job). It wraps ErrStopped.
type StopError struct {
	// User names who stopped the job, as SQL Server Agent shows it ("User sa").
	User string
}

func (e *StopError) Error() string {
	if e.User == "" {
		return ErrStopped.Error()
	}
	return "stopped by User " + e.User
}

// Unwrap returns ErrStopped.
func (e *StopError) Unwrap() error { return ErrStopped }

// sentinelError is an error whose text is a full sentence of its own and that matches a sentinel
// with errors.Is, without the sentinel's text in front.
type sentinelError struct {
	sentinel error
	err      error
}

// wrapf returns an error with the text of fmt.Errorf(format, args...) that matches sentinel, as
// well as any error args wraps with %w.
func wrapf(sentinel error, format string, args ...any) error {
	return &sentinelError{sentinel: sentinel, err: fmt.Errorf(format, args...)}
}

func (e *sentinelError) Error() string   { return e.err.Error() }
func (e *sentinelError) Unwrap() []error { return []error{e.sentinel, e.err} }
