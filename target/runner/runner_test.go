package runner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// row is the part of a history row the flow tests compare.
type row struct {
	step   int
	status jobs.RunStatus
}

func rowsOf(hs []jobs.HistoryRow) []row {
	out := make([]row, len(hs))
	for i, h := range hs {
		out[i] = row{h.StepID, h.RunStatus}
	}
	return out
}

var (
	ok    = jobs.RunSucceeded
	fail  = jobs.RunFailed
	retry = jobs.RunRetry
	stop  = jobs.RunCanceled
)

func TestRunFlow(t *testing.T) {
	failing := []fakeAttempt{{fail: true}}
	tests := []struct {
		name   string
		start  int
		steps  []jobs.Step
		edit   func(s []jobs.Step)
		script map[int][]fakeAttempt
		max    int
		want   []row
		status jobs.RunStatus
		cause  error
	}{
		{name: "success default quits with success", steps: steps(2),
			want: []row{{1, ok}}, status: ok},
		{name: "success action 1 quit with success",
			steps: steps(2), edit: func(s []jobs.Step) { s[0].OnSuccessAction = jobs.ActionQuitSuccess },
			want: []row{{1, ok}}, status: ok},
		{name: "success action 2 quit with failure",
			steps: steps(2), edit: func(s []jobs.Step) { s[0].OnSuccessAction = jobs.ActionQuitFailure },
			want: []row{{1, ok}}, status: fail},
		{name: "success action 3 next step",
			steps: steps(2), edit: func(s []jobs.Step) { s[0].OnSuccessAction = jobs.ActionNextStep },
			want: []row{{1, ok}, {2, ok}}, status: ok},
		{name: "success action 3 on the last step ends with success",
			steps: steps(2), edit: func(s []jobs.Step) {
				s[0].OnSuccessAction, s[1].OnSuccessAction = jobs.ActionNextStep, jobs.ActionNextStep
			},
			want: []row{{1, ok}, {2, ok}}, status: ok},
		{name: "success action 4 go to step",
			steps: steps(3), edit: func(s []jobs.Step) { s[0].OnSuccessAction, s[0].OnSuccessStepID = jobs.ActionGoToStep, 3 },
			want: []row{{1, ok}, {3, ok}}, status: ok},
		{name: "failure default quits with failure", steps: steps(2),
			script: map[int][]fakeAttempt{1: failing},
			want:   []row{{1, fail}}, status: fail, cause: errFake},
		{name: "failure action 1 quit with success",
			steps: steps(2), edit: func(s []jobs.Step) { s[0].OnFailAction = jobs.ActionQuitSuccess },
			script: map[int][]fakeAttempt{1: failing},
			want:   []row{{1, fail}}, status: ok},
		{name: "failure action 2 quit with failure",
			steps: steps(2), edit: func(s []jobs.Step) { s[0].OnFailAction = jobs.ActionQuitFailure },
			script: map[int][]fakeAttempt{1: failing},
			want:   []row{{1, fail}}, status: fail, cause: errFake},
		{name: "failure action 3 next step, which decides the outcome",
			steps: steps(2), edit: func(s []jobs.Step) { s[0].OnFailAction = jobs.ActionNextStep },
			script: map[int][]fakeAttempt{1: failing},
			want:   []row{{1, fail}, {2, ok}}, status: ok},
		{name: "failure action 3 on the last step ends with failure",
			steps: steps(2), edit: func(s []jobs.Step) {
				s[0].OnSuccessAction, s[1].OnFailAction = jobs.ActionNextStep, jobs.ActionNextStep
			},
			script: map[int][]fakeAttempt{2: failing},
			want:   []row{{1, ok}, {2, fail}}, status: fail, cause: errFake},
		{name: "failure action 4 go to step",
			steps: steps(3), edit: func(s []jobs.Step) { s[0].OnFailAction, s[0].OnFailStepID = jobs.ActionGoToStep, 3 },
			script: map[int][]fakeAttempt{1: failing},
			want:   []row{{1, fail}, {3, ok}}, status: ok},
		{name: "go to step backwards then on",
			steps: steps(3), edit: func(s []jobs.Step) {
				s[0].OnSuccessAction = jobs.ActionNextStep
				s[1].OnFailAction, s[1].OnFailStepID = jobs.ActionGoToStep, 1
				s[1].OnSuccessAction = jobs.ActionNextStep
			},
			script: map[int][]fakeAttempt{2: {{fail: true}, {}}},
			want:   []row{{1, ok}, {2, fail}, {1, ok}, {2, ok}, {3, ok}}, status: ok},
		{name: "start step",
			start: 2, steps: steps(3), edit: func(s []jobs.Step) { s[1].OnSuccessAction = jobs.ActionNextStep },
			want: []row{{2, ok}, {3, ok}}, status: ok},
		{name: "start step missing", start: 5, steps: steps(2), status: fail, cause: ErrNoStep},
		{name: "no steps", status: fail, cause: ErrNoStep},
		{name: "go to a missing step",
			steps: steps(2), edit: func(s []jobs.Step) { s[0].OnSuccessAction, s[0].OnSuccessStepID = jobs.ActionGoToStep, 9 },
			want: []row{{1, ok}}, status: fail, cause: ErrNoStep},
		{name: "unknown action", steps: steps(1), edit: func(s []jobs.Step) { s[0].OnSuccessAction = 7 },
			want: []row{{1, ok}}, status: fail, cause: ErrNoStep},
		{name: "loop guard",
			steps: steps(2), max: 5, edit: func(s []jobs.Step) {
				s[0].OnSuccessAction, s[0].OnSuccessStepID = jobs.ActionGoToStep, 2
				s[1].OnSuccessAction, s[1].OnSuccessStepID = jobs.ActionGoToStep, 1
			},
			want: []row{{1, ok}, {2, ok}, {1, ok}, {2, ok}, {1, ok}}, status: fail, cause: ErrStepLimit},
		{name: "loop guard stops retries",
			steps: steps(1), max: 3, edit: func(s []jobs.Step) { s[0].RetryAttempts = 10 },
			script: map[int][]fakeAttempt{1: failing},
			want:   []row{{1, retry}, {1, retry}, {1, fail}}, status: fail, cause: errFake},
		{name: "retries then success",
			steps: steps(1), edit: func(s []jobs.Step) { s[0].RetryAttempts, s[0].RetryInterval = 3, 5 },
			script: map[int][]fakeAttempt{1: {{fail: true}, {fail: true}, {}}},
			want:   []row{{1, retry}, {1, retry}, {1, ok}}, status: ok},
		{name: "retries exhausted then on-fail action",
			steps: steps(2), edit: func(s []jobs.Step) { s[0].RetryAttempts, s[0].OnFailAction = 2, jobs.ActionNextStep },
			script: map[int][]fakeAttempt{1: failing},
			want:   []row{{1, retry}, {1, retry}, {1, fail}, {2, ok}}, status: ok},
		{name: "non-retryable failure is not retried",
			steps: steps(1), edit: func(s []jobs.Step) { s[0].RetryAttempts = 3 },
			script: map[int][]fakeAttempt{1: {{fail: true, noRetry: true}}},
			want:   []row{{1, fail}}, status: fail, cause: errFake},
		{name: "unknown subsystem",
			steps: steps(1), edit: func(s []jobs.Step) { s[0].Subsystem, s[0].RetryAttempts = "SSIS", 2 },
			want: []row{{1, fail}}, status: fail, cause: ErrSubsystemUnavailable},
		{name: "unknown token",
			steps: steps(1), edit: func(s []jobs.Step) { s[0].Command, s[0].RetryAttempts = "PRINT '$(A-DBN)'", 2 },
			want: []row{{1, fail}}, status: fail, cause: ErrUnknownToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := tt.steps
				if tt.edit != nil {
					tt.edit(s)
				}
				f := &fakeExecutor{script: tt.script}
				r := newFakeRunner(f, Config{MaxStepRuns: tt.max})
				job := jobs.Job{JobID: "job-1", Name: "flow", StartStepID: tt.start, Steps: s}
				out := r.Run(t.Context(), job, RunInfo{RunID: "r1", InvokedBy: "operator"})

				if got := rowsOf(out.Steps); !equalRows(got, tt.want) {
					t.Errorf("rows = %v, want %v", got, tt.want)
				}
				if out.Status != tt.status || out.Job.RunStatus != tt.status {
					t.Errorf("status = %v (row %v), want %v", out.Status, out.Job.RunStatus, tt.status)
				}
				if tt.cause != nil && !errors.Is(out.Cause, tt.cause) {
					t.Errorf("cause = %v, want %v", out.Cause, tt.cause)
				}
				if tt.status == ok && out.Cause != nil {
					t.Errorf("cause = %v, want nil", out.Cause)
				}
				if out.Job.StepID != 0 || out.Job.StepName != "(Job outcome)" || out.Job.RunID != "r1" {
					t.Errorf("job row = %+v", out.Job)
				}
				for i, h := range out.Steps {
					if h.Message == "" || h.Server != `SQL01\SALES` || h.JobID != "job-1" || h.RunID != "r1" {
						t.Errorf("step row %d = %+v", i, h)
					}
				}
			})
		})
	}
}

func equalRows(a, b []row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRunMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		zone := time.FixedZone("CEST", 2*3600)
		s := steps(2)
		s[0].OnSuccessAction = jobs.ActionNextStep
		s[1].StepName = "Rebuild"
		f := &fakeExecutor{script: map[int][]fakeAttempt{2: {{wait: time.Hour + time.Minute + time.Second}}}}
		r := newFakeRunner(f, Config{Location: zone})
		start := time.Now()
		out := r.Run(t.Context(), jobs.Job{JobID: "j", Name: "nightly", Steps: s},
			RunInfo{InvokedBy: "Schedule 3 (nightly)", Start: start})

		want := "The job succeeded.  The Job was invoked by Schedule 3 (nightly).  The last step to run was step 2 (Rebuild)."
		if out.Job.Message != want {
			t.Errorf("job message = %q, want %q", out.Job.Message, want)
		}
		local := start.In(zone)
		if out.Job.RunDate != jobs.DateInt(local) || out.Job.RunTime != jobs.TimeInt(local) {
			t.Errorf("run date/time = %d %d, want %d %d", out.Job.RunDate, out.Job.RunTime, jobs.DateInt(local), jobs.TimeInt(local))
		}
		if !out.Job.RunStarted.Equal(start) || out.Job.RunStarted.Location() != time.UTC {
			t.Errorf("run_started = %v, want %v in UTC", out.Job.RunStarted, start)
		}
		if out.Job.RunDuration != 10101 || out.Job.DurationMS != 3661000 {
			t.Errorf("job duration = %d (%d ms), want 10101 (3661000 ms)", out.Job.RunDuration, out.Job.DurationMS)
		}
		if got := out.Steps[1]; got.RunDuration != 10101 || got.Message != "The step succeeded." {
			t.Errorf("step 2 row = %+v", got)
		}
		if rows := out.Rows(); len(rows) != 3 || rows[0].StepID != 0 {
			t.Errorf("Rows() = %+v", rows)
		}
	})
}

func TestRunFailureMessages(t *testing.T) {
	tests := []struct {
		name     string
		step     func(s *jobs.Step)
		script   []fakeAttempt
		job      string
		stepMsgs []string
		sqlMsgID int
	}{
		{
			name:     "failed",
			script:   []fakeAttempt{{fail: true, sqlErr: 50000}},
			job:      "The job failed.  The Job was invoked by operator.  The last step to run was step 1 (S1).",
			stepMsgs: []string{"Scripted failure.  The step failed."},
			sqlMsgID: 50000,
		},
		{
			name:   "retry",
			step:   func(s *jobs.Step) { s.RetryAttempts, s.RetryInterval = 1, 1 },
			script: []fakeAttempt{{fail: true}},
			job:    "The job failed.  The Job was invoked by operator.  The last step to run was step 1 (S1).",
			stepMsgs: []string{
				"Scripted failure.  The step failed; retry 1 of 1 in 1 minute.",
				"Scripted failure.  The step failed.",
			},
		},
		{
			name:     "unknown subsystem",
			step:     func(s *jobs.Step) { s.Subsystem = "SSIS" },
			job:      "The job failed.  The Job was invoked by operator.  The last step to run was step 1 (S1).",
			stepMsgs: []string{"Subsystem SSIS is not available on this target.  The step failed."},
		},
		{
			name:     "unknown token",
			step:     func(s *jobs.Step) { s.Command = "$(A-DBN) $(ESCAPE_XML(JOBNAME))" },
			job:      "The job failed.  The Job was invoked by operator.  The last step to run was step 1 (S1).",
			stepMsgs: []string{"Unable to start execution of step 1 (reason: unknown token: $(A-DBN), $(ESCAPE_XML(JOBNAME))).  The step failed."},
		},
		{
			name: "loop",
			step: func(s *jobs.Step) { s.OnSuccessAction, s.OnSuccessStepID = jobs.ActionGoToStep, 1 },
			job: "The job failed.  The Job was invoked by operator.  The last step to run was step 1 (S1).  " +
				"Too many step runs: 1000 step runs without the job ending; check the go-to-step actions for a loop.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := steps(1)
				if tt.step != nil {
					tt.step(&s[0])
				}
				f := &fakeExecutor{script: map[int][]fakeAttempt{1: tt.script}}
				out := newFakeRunner(f, Config{}).Run(t.Context(), jobs.Job{Name: "j", Steps: s}, RunInfo{InvokedBy: "operator"})
				if out.Job.Message != tt.job {
					t.Errorf("job message = %q, want %q", out.Job.Message, tt.job)
				}
				if tt.stepMsgs != nil {
					var got []string
					for _, h := range out.Steps {
						got = append(got, h.Message)
					}
					if strings.Join(got, "\n") != strings.Join(tt.stepMsgs, "\n") {
						t.Errorf("step messages = %q, want %q", got, tt.stepMsgs)
					}
				}
				if out.Steps[0].SQLMessageID != tt.sqlMsgID {
					t.Errorf("sql_message_id = %d, want %d", out.Steps[0].SQLMessageID, tt.sqlMsgID)
				}
			})
		})
	}
}

func TestRunRetryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := steps(1)
		s[0].RetryAttempts, s[0].RetryInterval = 3, 7
		f := &fakeExecutor{script: map[int][]fakeAttempt{1: {{fail: true, wait: time.Minute}}}}
		start := time.Now()
		out := newFakeRunner(f, Config{}).Run(t.Context(), jobs.Job{Name: "j", Steps: s}, RunInfo{})
		if want := []row{{1, retry}, {1, retry}, {1, retry}, {1, fail}}; !equalRows(rowsOf(out.Steps), want) {
			t.Fatalf("rows = %v, want %v", rowsOf(out.Steps), want)
		}
		for i, c := range f.calls {
			// Each attempt runs one minute, then the runner waits seven.
			if want := start.Add(time.Duration(i) * 8 * time.Minute); !c.start.Equal(want) {
				t.Errorf("attempt %d started at %v, want %v", i, c.start.Sub(start), want.Sub(start))
			}
			if out.Steps[i].RetriesAttempted != i {
				t.Errorf("attempt %d: retries_attempted = %d", i, out.Steps[i].RetriesAttempted)
			}
		}
		if got, want := time.Since(start), 4*time.Minute+3*7*time.Minute; got != want {
			t.Errorf("run took %v, want %v", got, want)
		}
	})
}

func TestRunTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := steps(2)
		s[0].Timeout = jobs.Duration(30 * time.Second)
		s[0].RetryAttempts = 1
		s[0].OnFailAction = jobs.ActionNextStep
		f := &fakeExecutor{script: map[int][]fakeAttempt{1: {{wait: time.Hour}}}}
		start := time.Now()
		out := newFakeRunner(f, Config{}).Run(t.Context(), jobs.Job{Name: "j", Steps: s}, RunInfo{})
		if want := []row{{1, retry}, {1, fail}, {2, ok}}; !equalRows(rowsOf(out.Steps), want) {
			t.Fatalf("rows = %v, want %v", rowsOf(out.Steps), want)
		}
		if got := time.Since(start); got != time.Minute {
			t.Errorf("run took %v, want 1m (two attempts of 30s)", got)
		}
		msg := out.Steps[1].Message
		if want := "The step ran longer than its timeout of 30s and was canceled: timeout.  The step failed."; msg != want {
			t.Errorf("message = %q, want %q", msg, want)
		}
		if out.Status != ok {
			t.Errorf("status = %v, want succeeded", out.Status)
		}
	})
}

func TestRunCancel(t *testing.T) {
	tests := []struct {
		name    string
		cause   error
		at      time.Duration
		retry   bool
		want    []row
		jobMsg  string
		stepMsg string
	}{
		{
			name: "operator stops a running step", cause: &StopError{User: "alice"}, at: 10 * time.Second,
			want:    []row{{1, ok}, {2, stop}},
			jobMsg:  "The job was stopped prior to completion by User alice.  The Job was invoked by operator.  The last step to run was step 2 (S2).",
			stepMsg: "The step was canceled (stopped by User alice).",
		},
		{
			name: "shutdown while waiting to retry", cause: ErrShutdown, at: 5 * time.Minute, retry: true,
			want:    []row{{1, ok}, {2, retry}, {2, stop}},
			jobMsg:  "The job was stopped prior to completion (agent shutdown).  The Job was invoked by operator.  The last step to run was step 2 (S2).",
			stepMsg: "The step was canceled while waiting to retry (agent shutdown).",
		},
		{
			name: "canceled before the run", cause: ErrShutdown, at: 0,
			jobMsg: "The job was stopped prior to completion (agent shutdown).  The Job was invoked by operator.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := steps(3)
				s[0].OnSuccessAction, s[1].OnSuccessAction = jobs.ActionNextStep, jobs.ActionNextStep
				script := map[int][]fakeAttempt{2: {{wait: time.Hour}}}
				if tt.retry {
					s[1].RetryAttempts, s[1].RetryInterval = 1, 60
					script[2] = []fakeAttempt{{fail: true}}
				}
				f := &fakeExecutor{script: script}
				ctx, cancel := context.WithCancelCause(t.Context())
				if tt.at == 0 {
					cancel(tt.cause)
				} else {
					time.AfterFunc(tt.at, func() { cancel(tt.cause) })
				}
				start := time.Now()
				out := newFakeRunner(f, Config{}).Run(ctx, jobs.Job{Name: "j", Steps: s}, RunInfo{InvokedBy: "operator"})
				if got := time.Since(start); got != tt.at {
					t.Errorf("run took %v, want %v", got, tt.at)
				}
				if !equalRows(rowsOf(out.Steps), tt.want) {
					t.Errorf("rows = %v, want %v", rowsOf(out.Steps), tt.want)
				}
				if out.Status != stop || out.Job.RunStatus != stop || !errors.Is(out.Cause, tt.cause) {
					t.Errorf("status = %v, cause = %v; want canceled, %v", out.Status, out.Cause, tt.cause)
				}
				if out.Job.Message != tt.jobMsg {
					t.Errorf("job message = %q, want %q", out.Job.Message, tt.jobMsg)
				}
				if tt.stepMsg != "" && out.Steps[len(out.Steps)-1].Message != tt.stepMsg {
					t.Errorf("step message = %q, want %q", out.Steps[len(out.Steps)-1].Message, tt.stepMsg)
				}
			})
		})
	}
}

func TestRunOutputTruncation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := steps(1)
		f := &fakeExecutor{script: map[int][]fakeAttempt{1: {{output: strings.Repeat("a", 500) + strings.Repeat("z", 500)}}}}
		out := newFakeRunner(f, Config{OutputLimit: 100}).Run(t.Context(), jobs.Job{Name: "j", Steps: s}, RunInfo{})
		got := out.Steps[0].Output
		want := strings.Repeat("a", 50) + "\n[output truncated: 900 bytes omitted]\n" + strings.Repeat("z", 50)
		if got != want {
			t.Errorf("output = %q, want %q", got, want)
		}
		if f.calls[0].req.OutputLimit != 100 {
			t.Errorf("request output limit = %d, want 100", f.calls[0].req.OutputLimit)
		}
	})
}
