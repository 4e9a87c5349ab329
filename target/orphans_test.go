//go:build unix

package target_test

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target"
	"github.com/msx-project/msx/target/runner"
	"github.com/msx-project/msx/target/store"
)

// A step that a killed agent left running is ended by the next agent before it schedules
// anything (or waited for, by policy), and the interrupted run is reported once, naming the
// step and what became of it.
func TestOrphanedStepOnRestart(t *testing.T) {
	tests := []struct {
		policy  string
		command string
		say     string
		killed  bool
	}{
		{policy: target.OrphanEnd, command: "sleep 60", say: "ended by the restarted agent", killed: true},
		{policy: target.OrphanWait, command: "sleep 2", say: "the restarted agent waited for it to finish", killed: false},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			orphanedStep(t, tt.policy, tt.command, tt.say, tt.killed)
		})
	}
}

func orphanedStep(t *testing.T, policy, command, say string, killed bool) {
	h := newHarness(t)
	h.stopAgent()

	// What a killed agent leaves behind: a run recorded as started, and its step's process
	// group, still running.
	orphan := exec.Command("sh", "-c", command)
	orphan.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = orphan.Wait(); close(exited) }() // reap it, as init would
	t.Cleanup(func() { _ = orphan.Process.Kill() })
	started, st := h.leaveStartedRun(t, "run-orphan", "8a0e7a40-0000-4000-8000-000000000002", "Orphaned")
	pid := orphan.Process.Pid
	if err := st.ProcessStarted(t.Context(), store.StepProcess{RunID: started.RunID, StepID: 2, StepName: "load", PID: pid, PGID: pid}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	h.startAgentWith(func(c *target.Config) { c.OrphanPolicy = policy })
	got := h.waitRuns(started.JobID, schemas.PhaseFinished, 1, 30*time.Second)
	if r := got[0]; r.RunStatus != int(jobs.RunFailed) || !strings.Contains(r.Message, "step 2 (load) was still running") ||
		!strings.Contains(r.Message, say) {
		t.Fatalf("interrupted run reported as %q", r.Message)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the orphaned step is still running")
	}
	if ws := orphan.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() != killed {
		t.Errorf("orphaned step ended by a signal: %v, want %v (%v)", ws.Signaled(), killed, orphan.ProcessState)
	}
	if runner.GroupAlive(runner.Process{PID: pid, PGID: pid}) {
		t.Error("the orphaned step's group is still alive")
	}
	h.stopAgent()
	h.startAgent()
	h.status(h.post(schemas.OpSyncTime, "", "", nil))
	if n := len(h.runs(started.JobID, schemas.PhaseFinished)); n != 1 {
		t.Fatalf("interrupted run reported %d times, want once", n)
	}
}
