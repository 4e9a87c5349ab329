package runner

import (
	"context"
	"os/exec"
)

// CmdExecExecutor runs CmdExec steps: the command line through /bin/sh -c (cmd.exe /c on
// Windows). The step succeeds when the exit code is the step's cmdexec_success_code. Output is
// stdout and stderr together. When the step's context is done, the process group is killed.
type CmdExecExecutor struct {
	// Dir is the working directory of the processes. Default: the agent's.
	Dir string
	// Env is the environment of the processes. Default (nil): the agent's.
	Env []string
	// User is the OS account the processes run as; default (empty): the agent's. On Unix the
	// agent must run as root to use another account, and the process gets the account's
	// groups, HOME, USER and LOGNAME, and its home directory as working directory when Dir
	// is empty. Windows does not support it yet.
	User string
	// KeepChildren leaves running the processes a step's main process started and left
	// behind (`sleep 60 &`). Default false: they are ended (SIGTERM, then SIGKILL) once the
	// main process exits, whose exit code is the step's outcome either way. Unix only.
	KeepChildren bool
}

var _ Executor = (*CmdExecExecutor)(nil)

// Execute runs req.Command. Result.Err wraps ErrExitCode when the process exits with another
// code than the step's success code, ErrRunAs when it cannot run as User, and is the context's
// cause when it was killed.
func (e *CmdExecExecutor) Execute(ctx context.Context, req Request) Result {
	name, args := shellCommand(req.Command)
	cmd := exec.CommandContext(ctx, name, args...)
	setCommandLine(cmd, req.Command)
	cmd.Dir, cmd.Env = e.Dir, e.Env
	if err := runAs(cmd, e.User); err != nil {
		return Result{Err: err, NonRetryable: true, ExitCode: -1}
	}
	return processResult(ctx, cmd, req, e.KeepChildren)
}

// processResult runs cmd and compares its exit code with the step's success code.
func processResult(ctx context.Context, cmd *exec.Cmd, req Request, keep bool) Result {
	code, out, err := runProcess(ctx, cmd, procOpts{limit: req.OutputLimit, keep: keep, rec: req.Processes, step: req.Step, live: req.Live})
	res := Result{ExitCode: code, Output: out, Err: err}
	if err == nil && code != req.Step.CmdExecSuccessCode {
		res.Err = wrapf(ErrExitCode, "process exit code %d; the step's success code is %d", code, req.Step.CmdExecSuccessCode)
	}
	return res
}
