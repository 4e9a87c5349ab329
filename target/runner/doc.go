// Package runner runs one job on a target the way SQL Server Agent does: it starts at the job's
// start step, runs each step through the Executor for its subsystem, retries failed steps
// (retry_attempts, retry_interval minutes apart), follows the on-success and on-fail actions,
// and returns the history rows of the run: one per step attempt and the job outcome (step 0).
//
// Step attempt states (one history row per attempt that reaches a final state):
//
//	         expand tokens, open output file
//	start ──────────────┬────────────────────────────► failed (not retried: unknown token)
//	                    │ ok
//	                    ▼
//	                executing ──ctx canceled──────────► canceled (run_status 3) ──► job canceled
//	                    │  └────step timeout──────┐
//	         ┌──────────┴──────────┐              │
//	         ▼ success             ▼ failure ◄────┘
//	     succeeded            retries left and retryable?
//	    (status 1)             │ yes               │ no
//	         │                 ▼                   ▼
//	         │            retry (status 2)     failed (status 0)
//	         │            wait retry_interval      │
//	         │            (ctx canceled: canceled) │
//	         │                 └──► executing      │
//	         ▼                                     ▼
//	 on_success_action                       on_fail_action
//	 1 quit, job succeeded                   1 quit, job succeeded
//	 2 quit, job failed                      2 quit, job failed
//	 3 next step (last step: job succeeded)  3 next step (last step: job failed)
//	 4 go to on_success_step_id              4 go to on_fail_step_id
//
// Every step attempt counts toward Config.MaxStepRuns, which ends a run caught in a loop of
// go-to-step actions with a failed job.
//
// Commands and output file names may hold SQL Server Agent tokens such as
// $(ESCAPE_SQUOTE(JOBNAME)); see ExpandTokens.
//
// Runs are canceled through their context: cancel it with context.WithCancelCause and a cause
// such as StopError (sp_stop_job), ErrShutdown or your own error; the step's row and the job
// outcome are then canceled (run_status 3) and their messages carry the cause.
package runner
