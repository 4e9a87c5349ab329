package mssqltest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// RunStatus is sysjobhistory.run_status.
type RunStatus int

// Run statuses msdb records.
const (
	RunFailed    RunStatus = 0
	RunSucceeded RunStatus = 1
	RunRetry     RunStatus = 2
	RunCanceled  RunStatus = 3
)

// StartRequest is one accepted sp_start_job call.
type StartRequest struct {
	JobID     string
	JobName   string
	StepID    int // first step to run: @step_name's step or the job's start step
	User      string
	Requested time.Time
}

type stepKey struct {
	job  string
	step int
}

type stepOutcome struct {
	status  RunStatus
	message string
}

// Agent is the fake SQL Server Agent. It runs nothing: sp_start_job queues
// a request, and completing a run writes the sysjobhistory rows Agent would
// write (one row per step that ran, following on_success_action and
// on_fail_action, then the step 0 job outcome row) and updates
// sysjobservers and sysjobsteps. By default queued runs complete at once,
// every step succeeding unless SetStepOutcome says otherwise; after Hold
// they wait for CompleteRuns or Release.
//
//	sp_start_job ──► queued ──(auto, or CompleteRuns)──► history written
//	                   │
//	                   └──(sp_stop_job)──► step 0 row, run_status 3
type Agent struct {
	srv  *Server
	wake chan struct{}

	mu       sync.Mutex
	hold     bool
	queue    []StartRequest
	stops    []StartRequest // runs sp_stop_job cancelled, history not yet written
	requests []StartRequest
	outcomes map[stepKey]stepOutcome
}

func newAgent(s *Server) *Agent {
	return &Agent{srv: s, wake: make(chan struct{}, 1), outcomes: map[stepKey]stepOutcome{}}
}

// run completes queued runs while the Agent is not held; it ends with ctx.
func (a *Agent) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		}
		a.mu.Lock()
		var todo []StartRequest
		if !a.hold {
			todo, a.queue = a.queue, nil
		}
		stops := a.stops
		a.stops = nil
		a.mu.Unlock()
		canceled := RunCanceled
		for i, r := range append(stops, todo...) {
			var forced *RunStatus
			if i < len(stops) {
				forced = &canceled
			}
			if err := a.complete(ctx, r, forced); err != nil && ctx.Err() == nil {
				a.srv.log.Error("fake agent: write history", "job", r.JobName, "err", err)
			}
		}
	}
}

func (a *Agent) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Hold keeps later and queued start requests waiting for CompleteRuns.
func (a *Agent) Hold() {
	a.mu.Lock()
	a.hold = true
	a.mu.Unlock()
}

// Release ends Hold: queued runs complete with their scripted outcomes.
func (a *Agent) Release() {
	a.mu.Lock()
	a.hold = false
	a.mu.Unlock()
	a.signal()
}

// SetStepOutcome scripts the outcome of a step (step IDs from 1) for later
// runs of the job; message replaces the default history message if set.
func (a *Agent) SetStepOutcome(jobName string, stepID int, status RunStatus, message string) {
	a.mu.Lock()
	a.outcomes[stepKey{strings.ToLower(jobName), stepID}] = stepOutcome{status, message}
	a.mu.Unlock()
}

// CompleteRuns completes every queued run, each step that runs ending with
// status, and returns how many runs it completed. It returns the first
// error writing history.
func (a *Agent) CompleteRuns(status RunStatus) (int, error) {
	a.mu.Lock()
	todo := a.queue
	a.queue = nil
	a.mu.Unlock()
	for i, r := range todo {
		if err := a.complete(context.Background(), r, &status); err != nil {
			return i, err
		}
	}
	return len(todo), nil
}

// Requests returns every start request accepted so far, oldest first.
func (a *Agent) Requests() []StartRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]StartRequest(nil), a.requests...)
}

// Pending returns the queued runs not yet completed.
func (a *Agent) Pending() []StartRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]StartRequest(nil), a.queue...)
}

func (a *Agent) running(jobID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.queue {
		if r.JobID == jobID {
			return true
		}
	}
	return false
}

// cancel removes a queued run and reports whether there was one.
func (a *Agent) cancel(jobID string) (StartRequest, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, r := range a.queue {
		if r.JobID == jobID {
			a.queue = append(a.queue[:i], a.queue[i+1:]...)
			return r, true
		}
	}
	return StartRequest{}, false
}

type agentStep struct {
	id                       int
	name                     string
	onSuccess, onSuccessStep int
	onFail, onFailStep       int
}

// complete writes the history of one run. forced, when set, is the status
// of every step.
func (a *Agent) complete(ctx context.Context, r StartRequest, forced *RunStatus) error {
	tx, err := a.srv.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT step_id, step_name, on_success_action, on_success_step_id,
		on_fail_action, on_fail_step_id FROM sysjobsteps WHERE job_id = ? ORDER BY step_id`, r.JobID)
	if err != nil {
		return err
	}
	steps := map[int]agentStep{}
	for rows.Next() {
		var s agentStep
		if err := rows.Scan(&s.id, &s.name, &s.onSuccess, &s.onSuccessStep, &s.onFail, &s.onFailStep); err != nil {
			rows.Close()
			return err
		}
		steps[s.id] = s
	}
	if err := rows.Close(); err != nil {
		return err
	}
	now := time.Now()
	date, clock := now.Year()*10000+int(now.Month())*100+now.Day(), now.Hour()*10000+now.Minute()*100+now.Second()
	insert := func(step int, name string, status RunStatus, msg string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sysjobhistory (job_id, step_id, step_name, sql_message_id,
			sql_severity, message, run_status, run_date, run_time, run_duration, retries_attempted, server)
			VALUES (?, ?, ?, 0, 0, ?, ?, ?, ?, 0, 0, ?)`, r.JobID, step, name, msg, int(status), date, clock, a.srv.cfg.ServerName)
		return err
	}
	outcome, last := RunFailed, agentStep{}
	cur, ran := r.StepID, 0
	for s, ok := steps[cur]; ok && ran < 10*len(steps); s, ok = steps[cur] {
		ran++
		last = s
		status, msg := RunSucceeded, ""
		a.mu.Lock()
		if o, ok := a.outcomes[stepKey{strings.ToLower(r.JobName), s.id}]; ok {
			status, msg = o.status, o.message
		}
		a.mu.Unlock()
		if forced != nil {
			status = *forced
		}
		if msg == "" {
			msg = fmt.Sprintf("Executed as user: %s. The step %s.", r.User, map[bool]string{true: "succeeded", false: "failed"}[status == RunSucceeded])
		}
		if err := insert(s.id, s.name, status, msg); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sysjobsteps SET last_run_outcome = ?, last_run_date = ?,
			last_run_time = ? WHERE job_id = ? AND step_id = ?`, int(status), date, clock, r.JobID, s.id); err != nil {
			return err
		}
		action, target := s.onSuccess, s.onSuccessStep
		if status != RunSucceeded {
			action, target = s.onFail, s.onFailStep
		}
		outcome = status
		if status == RunCanceled {
			break
		}
		switch action {
		case 1:
			outcome = RunSucceeded
			cur = 0
		case 2:
			outcome = RunFailed
			cur = 0
		case 3:
			cur = s.id + 1
		case 4:
			cur = target
		}
	}
	var msg string
	if ran == 0 {
		outcome, msg = RunFailed, fmt.Sprintf("The job failed.  The Job was invoked by User %s.  Step %d does not exist.", r.User, r.StepID)
	} else {
		word := map[RunStatus]string{RunSucceeded: "succeeded", RunFailed: "failed", RunCanceled: "was cancelled", RunRetry: "failed"}[outcome]
		msg = fmt.Sprintf("The job %s.  The Job was invoked by User %s.  The last step to run was step %d (%s).", word, r.User, last.id, last.name)
	}
	if err := insert(0, "(Job outcome)", outcome, msg); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sysjobservers SET last_run_outcome = ?, last_outcome_message = ?,
		last_run_date = ?, last_run_time = ? WHERE job_id = ?`, int(outcome), msg, date, clock, r.JobID); err != nil {
		return err
	}
	return tx.Commit()
}

func spStartJob(c *procCall) (int32, error) {
	id, name, err := c.job()
	if err != nil {
		return 1, err
	}
	if !c.localServer(c.str("server_name", "")) {
		return 1, notExist("server_name", c.str("server_name", ""))
	}
	var targets int64
	if _, err := c.scalar(&targets, "SELECT count(*) FROM sysjobservers WHERE job_id = ?", id); err != nil {
		return 1, err
	}
	if targets == 0 {
		return 1, sqlErrorf(ErrNumNoJobServer, "Cannot start job '%s' (ID %s) because it does not have any job server or servers defined. Associate the job with a job server by calling sp_add_jobserver.", name, id)
	}
	a := c.s.srv.agent
	if a.running(id) {
		return 1, sqlErrorf(ErrNumAgentRefused, "SQLServerAgent Error: Request to run job %s (from User %s) refused because the job is already running from a request by User %s.", name, c.s.user, c.s.user)
	}
	var step int
	if c.has("step_name") {
		found, err := c.scalar(&step, "SELECT step_id FROM sysjobsteps WHERE job_id = ? AND step_name = ?", id, c.str("step_name", ""))
		if err != nil {
			return 1, err
		}
		if !found {
			return 1, notExist("step_name", c.str("step_name", ""))
		}
	} else if _, err := c.scalar(&step, "SELECT start_step_id FROM sysjobs WHERE job_id = ?", id); err != nil {
		return 1, err
	}
	r := StartRequest{JobID: id, JobName: name, StepID: step, User: c.s.user, Requested: time.Now()}
	a.mu.Lock()
	a.queue = append(a.queue, r)
	a.requests = append(a.requests, r)
	a.mu.Unlock()
	a.signal()
	c.info(fmt.Sprintf("Job '%s' started successfully.", name))
	return 0, nil
}

func spStopJob(c *procCall) (int32, error) {
	id, name, err := c.job()
	if err != nil {
		return 1, err
	}
	r, ok := c.s.srv.agent.cancel(id)
	if !ok {
		return 1, sqlErrorf(ErrNumAgentRefused, "SQLServerAgent Error: Request to stop job %s (from User %s) refused because the job is not currently running.", name, c.s.user)
	}
	// The session holds the store's write lock until the procedure ends, so
	// the Agent goroutine writes the cancelled run's history afterwards.
	a := c.s.srv.agent
	a.mu.Lock()
	a.stops = append(a.stops, r)
	a.mu.Unlock()
	a.signal()
	c.info(fmt.Sprintf("Job '%s' stopped successfully.", name))
	return 0, nil
}
