package runner

import (
	"context"
	"os/exec"
)

// PowerShellExecutor runs PowerShell steps with PowerShell 7:
// pwsh -NoProfile -NonInteractive -Command <command>. The step succeeds when pwsh exits with
// code 0 (a script that throws or calls exit 1 fails). Without pwsh the step fails, not to be
// retried, with "subsystem PowerShell is not available on this target (pwsh not found on
// PATH)".
type PowerShellExecutor struct {
	// Path is the pwsh program. Default: "pwsh", looked up on PATH.
	Path string
	// Env is the environment of pwsh. Default (nil): the agent's.
	Env []string
	// User is the OS account pwsh runs as, as CmdExecExecutor.User; default: the agent's.
	User string
	// KeepChildren leaves running the processes pwsh left behind, as
	// CmdExecExecutor.KeepChildren; default false: they are ended.
	KeepChildren bool
}

var (
	_ Executor   = (*PowerShellExecutor)(nil)
	_ availabler = (*PowerShellExecutor)(nil)
)

func (e *PowerShellExecutor) program() string {
	if e.Path != "" {
		return e.Path
	}
	return "pwsh"
}

// Available reports whether pwsh can be found.
func (e *PowerShellExecutor) Available() bool {
	_, err := exec.LookPath(e.program())
	return err == nil
}

// Execute runs req.Command with pwsh. Result.Err wraps ErrSubsystemUnavailable when pwsh is
// missing, ErrRunAs when it cannot run as User, and ErrExitCode when it exits with a code
// other than 0.
func (e *PowerShellExecutor) Execute(ctx context.Context, req Request) Result {
	path, err := exec.LookPath(e.program())
	if err != nil {
		return Result{
			Err: wrapf(ErrSubsystemUnavailable,
				"subsystem PowerShell is not available on this target (%s not found on PATH)", e.program()),
			NonRetryable: true, ExitCode: -1,
		}
	}
	cmd := exec.CommandContext(ctx, path, "-NoProfile", "-NonInteractive", "-Command", req.Command)
	cmd.Env = e.Env
	if err := runAs(cmd, e.User); err != nil {
		return Result{Err: err, NonRetryable: true, ExitCode: -1}
	}
	req.Step.CmdExecSuccessCode = 0
	return processResult(ctx, cmd, req, e.KeepChildren)
}
