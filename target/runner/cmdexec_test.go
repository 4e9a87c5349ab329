//go:build unix

package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

func cmdRequest(command string, successCode int) Request {
	return Request{
		Step:        jobs.Step{StepID: 1, Subsystem: jobs.SubsystemCmdExec, Command: command, CmdExecSuccessCode: successCode},
		Command:     command,
		OutputLimit: DefaultOutputLimit,
	}
}

func TestCmdExecExecutor(t *testing.T) {
	tests := []struct {
		name        string
		command     string
		successCode int
		limit       int
		exitCode    int
		err         error
		output      string
	}{
		{name: "exit 0", command: "true", exitCode: 0},
		{name: "exit 3", command: "exit 3", exitCode: 3, err: ErrExitCode},
		{name: "success code 3", command: "exit 3", successCode: 3, exitCode: 3},
		{name: "exit 0 with success code 1", command: "exit 0", successCode: 1, exitCode: 0, err: ErrExitCode},
		{name: "stdout and stderr", command: "echo out; echo err >&2", output: "out\nerr\n"},
		{name: "bounded output", command: "printf 'abcdefghij'", limit: 6, output: "abc\n[output truncated: 4 bytes omitted]\nhij"},
		{name: "command not found", command: "no-such-command-msx", exitCode: 127, err: ErrExitCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := cmdRequest(tt.command, tt.successCode)
			if tt.limit > 0 {
				req.OutputLimit = tt.limit
			}
			res := (&CmdExecExecutor{}).Execute(t.Context(), req)
			if res.ExitCode != tt.exitCode {
				t.Errorf("exit code = %d, want %d (output %q)", res.ExitCode, tt.exitCode, res.Output)
			}
			if !errors.Is(res.Err, tt.err) || (tt.err == nil) != (res.Err == nil) {
				t.Errorf("error = %v, want %v", res.Err, tt.err)
			}
			if tt.output != "" && res.Output != tt.output {
				t.Errorf("output = %q, want %q", res.Output, tt.output)
			}
		})
	}
}

func TestCmdExecCancelKillsProcessGroup(t *testing.T) {
	tests := []struct{ name, command string }{
		{name: "sleep", command: "sleep 30"},
		// A background child holds the output pipe open: only killing the group ends it soon.
		{name: "background child", command: "sleep 30 & sleep 30; wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(t.Context())
			stop := &StopError{User: "alice"}
			timer := time.AfterFunc(200*time.Millisecond, func() { cancel(stop) })
			t.Cleanup(func() { timer.Stop() })
			start := time.Now()
			res := (&CmdExecExecutor{}).Execute(ctx, cmdRequest(tt.command, 0))
			if d := time.Since(start); d > tooLong {
				t.Errorf("Execute returned after %v; the process group was not killed", d)
			}
			if !errors.Is(res.Err, ErrStopped) || res.ExitCode != -1 {
				t.Errorf("result = %+v, want the cancel cause and exit code -1", res)
			}
		})
	}
}

func TestRunCmdExecTimeout(t *testing.T) {
	s := steps(1)
	s[0].Subsystem, s[0].Command, s[0].Timeout = jobs.SubsystemCmdExec, "echo started; sleep 30", jobs.Duration(300*time.Millisecond)
	r := New(Config{Server: "SQL01", Executors: map[string]Executor{jobs.SubsystemCmdExec: &CmdExecExecutor{}}})
	start := time.Now()
	out := r.Run(t.Context(), jobs.Job{Name: "j", Steps: s}, RunInfo{})
	if d := time.Since(start); d > tooLong {
		t.Errorf("run took %v", d)
	}
	if out.Status != fail || !errors.Is(out.Cause, ErrStepTimeout) {
		t.Fatalf("status = %v, cause = %v; want failed with ErrStepTimeout", out.Status, out.Cause)
	}
	if got := out.Steps[0]; got.RunStatus != fail || got.Output != "started\n" || !strings.Contains(got.Message, "timeout of 300ms") {
		t.Errorf("step row = %+v", got)
	}
}

func TestRunCmdExecMessages(t *testing.T) {
	s := steps(2)
	s[0].Subsystem, s[0].Command, s[0].OnSuccessAction = jobs.SubsystemCmdExec, "echo hi", jobs.ActionNextStep
	s[1].Subsystem, s[1].Command = jobs.SubsystemCmdExec, "exit 4"
	r := New(Config{Server: "SQL01", Executors: map[string]Executor{jobs.SubsystemCmdExec: &CmdExecExecutor{}}})
	out := r.Run(t.Context(), jobs.Job{Name: "j", Steps: s}, RunInfo{})
	want := []string{
		"Process Exit Code 0.  The step succeeded.",
		"Process exit code 4; the step's success code is 0.  The step failed.",
	}
	for i, w := range want {
		if got := out.Steps[i].Message; got != w {
			t.Errorf("step %d message = %q, want %q", i+1, got, w)
		}
	}
	if !r.Available(jobs.SubsystemCmdExec) || r.Available(jobs.SubsystemTSQL) {
		t.Errorf("Available: CmdExec %v, TSQL %v; want true, false", r.Available(jobs.SubsystemCmdExec), r.Available(jobs.SubsystemTSQL))
	}
}

// tooLong is far longer than ending a process group takes.
const tooLong = 5 * time.Second

// recorder is a ProcessRecorder that remembers what it was told.
type recorder struct {
	mu             sync.Mutex
	started, ended []Process
}

func (r *recorder) ProcessStarted(_ jobs.Step, p Process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, p)
}

func (r *recorder) ProcessEnded(_ jobs.Step, p Process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = append(r.ended, p)
}

// TestCmdExecBackgroundChild: a step that leaves a background child succeeds with its main
// process's exit and output, and the child is ended (or kept, with KeepChildren).
func TestCmdExecBackgroundChild(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "child.pid")
			rec := &recorder{}
			req := cmdRequest("sleep 60 & echo $! > "+pidFile+"; echo done", 0)
			req.Processes = rec
			res := (&CmdExecExecutor{KeepChildren: keep}).Execute(t.Context(), req)
			if res.Err != nil || res.ExitCode != 0 || res.Output != "done\n" {
				t.Fatalf("result = %+v, want success with output \"done\\n\"", res)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			child := Process{PID: pid, PGID: rec.started[0].PGID}
			if alive := GroupAlive(child); alive != keep {
				t.Errorf("child's group alive = %v after the step, want %v", alive, keep)
			}
			if keep {
				if err := EndGroup(t.Context(), child, time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if len(rec.started) != 1 || len(rec.ended) != 1 || rec.started[0] != rec.ended[0] || rec.started[0].PGID != rec.started[0].PID {
				t.Errorf("recorded started %v, ended %v; want one group, led by the main process", rec.started, rec.ended)
			}
		})
	}
}

// TestGroupAlivePIDReuse: a recorded group whose leader's start time differs is not ours.
func TestGroupAlivePIDReuse(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), "sleep", "30")
	killGroupOnCancel(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := Process{PID: cmd.Process.Pid, PGID: cmd.Process.Pid, StartTime: startTime(cmd.Process.Pid)}
	if !GroupAlive(p) {
		t.Fatal("a running group reported gone")
	}
	if p.StartTime == 0 {
		t.Skip("process start times are unknown on this system")
	}
	reused := p
	reused.StartTime++
	if GroupAlive(reused) {
		t.Error("a group whose leader started at another time reported as the recorded one")
	}
	if err := EndGroup(t.Context(), p, time.Second); err != nil || GroupAlive(p) {
		t.Errorf("EndGroup: %v, alive after: %v", err, GroupAlive(p))
	}
}
