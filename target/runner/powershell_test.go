package runner

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/msx-project/msx/schemas/jobs"
)

func TestPowerShellNotAvailable(t *testing.T) {
	e := &PowerShellExecutor{Path: "msx-no-such-pwsh"}
	if e.Available() {
		t.Fatal("Available() = true for a missing program")
	}
	res := e.Execute(t.Context(), Request{Command: "Write-Output hi", OutputLimit: 100})
	if !errors.Is(res.Err, ErrSubsystemUnavailable) || !res.NonRetryable {
		t.Errorf("result = %+v, want a non-retryable ErrSubsystemUnavailable", res)
	}
	want := "subsystem PowerShell is not available on this target (msx-no-such-pwsh not found on PATH)"
	if res.Err == nil || res.Err.Error() != want {
		t.Errorf("error = %v, want %q", res.Err, want)
	}

	// Through a Runner the step fails once, retries notwithstanding.
	s := steps(1)
	s[0].Subsystem, s[0].RetryAttempts = jobs.SubsystemPowerShell, 3
	r := New(Config{Executors: map[string]Executor{jobs.SubsystemPowerShell: e}})
	if r.Available(jobs.SubsystemPowerShell) {
		t.Error("Runner.Available(PowerShell) = true without pwsh")
	}
	out := r.Run(t.Context(), jobs.Job{Name: "j", Steps: s}, RunInfo{})
	if len(out.Steps) != 1 || out.Status != fail {
		t.Errorf("rows = %v, status %v; want one failed row", rowsOf(out.Steps), out.Status)
	}
}

func TestPowerShellExecutor(t *testing.T) {
	if _, err := exec.LookPath("pwsh"); err != nil {
		t.Skip("pwsh not on PATH")
	}
	e := &PowerShellExecutor{}
	tests := []struct {
		name, command string
		err           error
		output        string
	}{
		{name: "output", command: "Write-Output 'hi'", output: "hi\n"},
		{name: "exit code", command: "exit 2", err: ErrExitCode},
		{name: "throw", command: "throw 'boom'", err: ErrExitCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.Execute(t.Context(), Request{Command: tt.command, OutputLimit: 1 << 10})
			if !errors.Is(res.Err, tt.err) || (tt.err == nil) != (res.Err == nil) {
				t.Errorf("error = %v, want %v (output %q)", res.Err, tt.err, res.Output)
			}
			if tt.output != "" && res.Output != tt.output {
				t.Errorf("output = %q, want %q", res.Output, tt.output)
			}
		})
	}
}
