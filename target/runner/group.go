package runner

import (
	"context"
	"io"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// Process identifies the process group of a running step: its main process, the group it
// leads, and the main process's start time (clock ticks since boot on Linux, 0 where unknown),
// which tells it from a later process that reuses the pid.
type Process struct {
	PID       int    `json:"pid"`
	PGID      int    `json:"pgid"`
	StartTime uint64 `json:"start_time,omitempty"`
}

// ProcessRecorder records a step's process group after it starts and before the runner waits
// on it, and forgets it once the group has ended, so that an agent restarted after a crash
// finds what its previous life left running (see EndGroup). The target's run manager
// satisfies it; a nil ProcessRecorder records nothing.
type ProcessRecorder interface {
	ProcessStarted(step jobs.Step, p Process)
	ProcessEnded(step jobs.Step, p Process)
}

// Grace periods of a step's leftover processes.
const (
	// childGrace is how long the children a step's main process left behind get between
	// SIGTERM and SIGKILL.
	childGrace = 2 * time.Second
	// drainGrace bounds reading the output pipe after the main process exited and its group
	// was ended: a process that left the group (setsid) may still hold the pipe.
	drainGrace = 2 * time.Second
)

// procOpts are how runProcess runs one process.
type procOpts struct {
	limit int // bytes of output kept
	// keep leaves the children the main process left behind running, instead of ending them.
	keep bool
	rec  ProcessRecorder
	step jobs.Step
	live io.Writer // Request.Live
}

// WaitGroupEnd waits until the process group p is gone or ctx ends, polling.
func WaitGroupEnd(ctx context.Context, p Process) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for GroupAlive(p) {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
	return nil
}
