package runner

import (
	"context"
	"errors"
	"os/exec"
	"time"
)

// waitDelay is how long a process's output pipes may stay open after it was killed (a
// grandchild outside its process group may hold them) before Wait gives up on them.
const waitDelay = 5 * time.Second

// runProcess runs cmd with stdout and stderr captured together (bounded by limit) and returns
// its exit code (-1 when it did not start or was killed), its output and the error of starting
// or waiting for it; a non-zero exit code alone is not an error. When ctx is done, the whole
// process group is killed.
func runProcess(ctx context.Context, cmd *exec.Cmd, limit int) (int, string, error) {
	out := NewCapture(limit)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = waitDelay
	killGroupOnCancel(cmd)
	err := cmd.Run()
	if err == nil {
		return 0, out.String(), nil
	}
	if ctx.Err() != nil {
		return -1, out.String(), context.Cause(ctx)
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok && ee.ExitCode() >= 0 {
		return ee.ExitCode(), out.String(), nil
	}
	return -1, out.String(), err
}
