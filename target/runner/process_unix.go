//go:build unix

package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// killGroupOnCancel starts cmd in a process group of its own and, on cancel, kills the group,
// so that children of a shell (sleep in "sh -c 'sleep 30'") die with it.
func killGroupOnCancel(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// shellCommand returns the command that runs a CmdExec step's command line.
func shellCommand(line string) (string, []string) { return "/bin/sh", []string{"-c", line} }

// setCommandLine is a no-op on Unix: arguments are passed as they are.
func setCommandLine(*exec.Cmd, string) {}

// runProcess runs cmd in a process group of its own with stdout and stderr captured together
// (bounded by o.limit) and returns its exit code (-1 when it did not start or was killed), its
// output and the error of starting or waiting for it; a non-zero exit code alone is not an
// error. When ctx is done, the whole group is killed.
//
// The outcome is the main process's exit. Children it leaves behind (`sleep 60 &`) are ended
// then (SIGTERM, SIGKILL after childGrace) unless o.keep; the output is what was written until
// the main process exited and its group ended. The group is given to o.rec before the wait and
// taken back once it has ended.
func runProcess(ctx context.Context, cmd *exec.Cmd, o procOpts) (int, string, error) {
	out := NewCapture(o.limit)
	// An *os.File as stdout makes Wait return when the main process exits, instead of when
	// every holder of the pipe (a background child) has closed it.
	r, w, err := os.Pipe()
	if err != nil {
		return -1, "", fmt.Errorf("output pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	killGroupOnCancel(cmd)
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return -1, "", err
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(liveWriter(out, o.live), r)
	}()
	p := Process{PID: cmd.Process.Pid, PGID: cmd.Process.Pid, StartTime: startTime(cmd.Process.Pid)}
	if o.rec != nil {
		o.rec.ProcessStarted(o.step, p)
	}
	err = cmd.Wait()
	if !o.keep {
		_ = EndGroup(context.Background(), p, childGrace)
	}
	t := time.NewTimer(drainGrace)
	select {
	case <-copied:
	case <-t.C:
	}
	t.Stop()
	r.Close()
	<-copied
	if o.rec != nil {
		// Kept children are the step's choice, not something a restarted agent should end.
		o.rec.ProcessEnded(o.step, p)
	}
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

// GroupAlive reports whether a process of group p still runs, and is p's: a live group leader
// whose start time differs from p's is a later process that reuses the pid.
func GroupAlive(p Process) bool {
	if p.PGID <= 0 {
		return false
	}
	if !groupAlive(p.PGID) {
		return false
	}
	if p.StartTime != 0 {
		if st := startTime(p.PID); st != 0 && st != p.StartTime {
			return false
		}
	}
	return true
}

// EndGroup ends process group p: SIGTERM, then SIGKILL when it is still there after grace. It
// returns when the group is gone, or with ctx's cause.
func EndGroup(ctx context.Context, p Process, grace time.Duration) error {
	if !GroupAlive(p) {
		return nil
	}
	_ = syscall.Kill(-p.PGID, syscall.SIGTERM)
	gctx, cancel := context.WithTimeout(ctx, grace)
	err := WaitGroupEnd(gctx, p)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	_ = syscall.Kill(-p.PGID, syscall.SIGKILL)
	return WaitGroupEnd(ctx, p)
}
