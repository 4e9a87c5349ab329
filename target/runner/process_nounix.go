//go:build !unix

package runner

import (
	"context"
	"errors"
	"os/exec"
	"time"
)

// waitDelay is how long a process's output pipes may stay open after it exited or was killed
// (a child it left may hold them) before Wait gives up on them.
const waitDelay = 5 * time.Second

// runProcess runs cmd with stdout and stderr captured together (bounded by o.limit) and returns
// its exit code (-1 when it did not start or was killed), its output and the error of starting
// or waiting for it; a non-zero exit code alone is not an error. Without Unix process groups,
// children the process leaves are neither recorded nor ended.
func runProcess(ctx context.Context, cmd *exec.Cmd, o procOpts) (int, string, error) {
	out := NewCapture(o.limit)
	w := liveWriter(out, o.live)
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.WaitDelay = waitDelay
	killGroupOnCancel(cmd)
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // a child kept the output open: the main process's exit is the outcome
	}
	if err == nil {
		return cmd.ProcessState.ExitCode(), out.String(), nil
	}
	if ctx.Err() != nil {
		return -1, out.String(), context.Cause(ctx)
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok && ee.ExitCode() >= 0 {
		return ee.ExitCode(), out.String(), nil
	}
	return -1, out.String(), err
}

// GroupAlive reports whether a process of group p runs; without Unix process groups it
// cannot tell and reports false.
func GroupAlive(Process) bool { return false }

// EndGroup ends process group p; without Unix process groups it does nothing.
func EndGroup(context.Context, Process, time.Duration) error { return nil }
