package runner

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// fakeExecutor plays scripted attempts: each call for a step takes the next entry of the step's
// script, and the last entry repeats. A step without a script succeeds.
type fakeExecutor struct {
	mu     sync.Mutex
	script map[int][]fakeAttempt
	calls  []fakeCall
	forget bool // record no calls, so benchmarks do not grow (every call plays the first entry)
}

// fakeAttempt is one scripted attempt.
type fakeAttempt struct {
	fail     bool          // fail with errFake
	noRetry  bool          // Result.NonRetryable
	wait     time.Duration // run this long, or until the context is done
	output   string
	exitCode int
	sqlErr   int // Result.SQLMessageID; severity 16
}

// fakeCall records one Execute call.
type fakeCall struct {
	req   Request
	start time.Time
}

var _ Executor = (*fakeExecutor)(nil)

type fakeError struct{}

func (fakeError) Error() string { return "scripted failure" }

var errFake error = fakeError{}

func (f *fakeExecutor) Execute(ctx context.Context, req Request) Result {
	f.mu.Lock()
	n := 0
	for _, c := range f.calls {
		if c.req.Step.StepID == req.Step.StepID {
			n++
		}
	}
	if !f.forget {
		f.calls = append(f.calls, fakeCall{req: req, start: time.Now()})
	}
	script := f.script[req.Step.StepID]
	f.mu.Unlock()

	var a fakeAttempt
	if len(script) > 0 {
		a = script[min(n, len(script)-1)]
	}
	if a.wait > 0 {
		t := time.NewTimer(a.wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return Result{Err: context.Cause(ctx), Output: a.output, ExitCode: -1}
		case <-t.C:
		}
	}
	res := Result{Output: a.output, ExitCode: a.exitCode, NonRetryable: a.noRetry}
	if a.fail {
		res.Err = errFake
		if a.sqlErr != 0 {
			res.SQLMessageID, res.SQLSeverity = a.sqlErr, 16
		}
	}
	return res
}

func (f *fakeExecutor) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	cmds := make([]string, len(f.calls))
	for i, c := range f.calls {
		cmds[i] = c.req.Command
	}
	return cmds
}

// newFakeRunner returns a Runner whose TSQL and CmdExec steps run on f.
func newFakeRunner(f *fakeExecutor, cfg Config) *Runner {
	cfg.Executors = map[string]Executor{jobs.SubsystemTSQL: f, jobs.SubsystemCmdExec: f}
	if cfg.Server == "" {
		cfg.Server = `SQL01\SALES`
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	return New(cfg)
}

// steps returns n steps named S1..Sn with the default actions.
func steps(n int) []jobs.Step {
	s := make([]jobs.Step, n)
	for i := range s {
		s[i] = jobs.Step{StepID: i + 1, StepName: "S" + strconv.Itoa(i+1), Command: "SELECT 1"}
	}
	return s
}
