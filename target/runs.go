package target

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/runner"
	"github.com/msx-project/msx/target/scheduler"
	"github.com/msx-project/msx/target/store"
)

// runManager starts, stops and reports the runs of the target's jobs, at most one run per job
// as SQL Server Agent. The scheduler and the START and STOP instructions go through it.
//
// Run states:
//
//	claim ──(already running: refused, 22022)
//	  │
//	  ▼ launch
//	started: RunResult "started" (run_status 4) queued ──► running: runner.Run
//	                                                          │  ▲
//	            STOP: cancel(StopError) / shutdown: cancel(ErrShutdown)
//	                                                          ▼
//	finished: RunResult "finished" with the history rows, and its events, queued in one
//	transaction ──► delete_level matched: the local job is deleted ──► slot free
//
// A claim that is released (its START instruction did not commit) never starts.
type runManager struct {
	loc    *time.Location // the target's time zone, for history dates
	log    *slog.Logger
	store  *store.Store
	runner *runner.Runner
	server string // canonical server name, for results and events
	token  string // subject token
	wake   func() // wakes the outbox sender
	// write makes a report's write in the local database, or holds it while the disk refuses.
	write   func(ctx context.Context, w store.Write)
	deleted func(jobs.Job) // the job was deleted after its run (delete_level)
	// publish sends a live output chunk on core NATS (liveout.go); nil: no live output.
	publish func(subj string, data []byte) error
	// lookup finds a job held by name, for job chains (chain.go); nil: no chains.
	lookup func(name string) (jobs.Job, bool)
	// orphanPolicy and orphanGrace: what starting does with steps a previous life left running.
	orphanPolicy string
	orphanGrace  time.Duration

	mu     sync.Mutex
	active map[string]*activeRun // by job id
	closed bool
	wg     sync.WaitGroup
}

var _ scheduler.Starter = (*runManager)(nil)

// activeRun is the slot of one job's run.
type activeRun struct {
	id        string
	invokedBy string
	ctx       context.Context // the run's context, ended by cancel
	cancel    context.CancelCauseFunc
	// firing is the schedule's firing that started the run (zero for a START); late says the
	// run started after its firing (queued or a catch-up), which its history then says.
	firing scheduler.Firing
	late   bool
	// waiting are the firings that start, in order, when this run ends (overlap.go).
	waiting []waitingRun
}

// reportTimeout bounds queueing a run's report in the local database.
const reportTimeout = 30 * time.Second

// maxStepEvents bounds the step-failure events of one run (a run may make 1,000 attempts).
const maxStepEvents = 10

// maxEventMessage bounds the message of an event built from a history row.
const maxEventMessage = 4 << 10

// runningError is SQL Server Agent's refusal to run a job that is running (22022). It crosses
// the bus as a *schemas.Error and matches scheduler.ErrRunning.
type runningError struct{ be *schemas.Error }

func (e *runningError) Error() string   { return e.be.Error() }
func (e *runningError) Unwrap() []error { return []error{e.be, scheduler.ErrRunning} }

// requester names who asks for a run or a stop in SQL Server Agent's words: "User alice", or
// "the master" when the instruction names no source.
func requester(source string) string {
	if source == "" {
		return "the master"
	}
	return "User " + source
}

// claim takes the job's run slot for a run that launch starts later.
func (m *runManager) claim(jobID, jobName, invokedBy string) (*activeRun, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrShuttingDown
	}
	if r, ok := m.active[jobID]; ok {
		return nil, &runningError{busErr(CodeJobRunning, fmt.Sprintf(
			"SQLServerAgent Error: Request to run job %s (from %s) refused because the job is already running from a request by %s.",
			jobName, invokedBy, r.invokedBy))}
	}
	return m.claimLocked(jobID, invokedBy), nil
}

// claimLocked takes the free slot of the job. Called with m.mu held.
func (m *runManager) claimLocked(jobID, invokedBy string) *activeRun {
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &activeRun{id: rand.Text(), invokedBy: invokedBy, ctx: ctx, cancel: cancel}
	m.active[jobID] = r
	return r
}

// release gives back a slot that claim took, after its run or when launch did not start it,
// and starts the first firing waiting for it (overlap.go).
func (m *runManager) release(jobID string, r *activeRun) {
	m.mu.Lock()
	if m.active[jobID] == r {
		delete(m.active, jobID)
	}
	next, w, dropped := m.nextWaiting(jobID, r)
	m.mu.Unlock()
	r.cancel(nil)
	if next != nil {
		m.launch(w.job, next)
	}
	for _, d := range dropped {
		m.skip(d.job, d.f, "the agent stopped before the run that waited started")
	}
}

// launch starts the run that r holds the slot for.
func (m *runManager) launch(job jobs.Job, r *activeRun) {
	m.wg.Go(func() { m.run(job, r) })
}

// running reports whether the job is running and what invoked it.
func (m *runManager) running(jobID string) (invokedBy string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.active[jobID]
	if !ok {
		return "", false
	}
	return r.invokedBy, true
}

// Stop cancels the job's run with a runner.StopError naming user (empty: the master). It
// returns a *schemas.Error with code 22022 when the job is not running.
func (m *runManager) Stop(jobID, jobName, user string) error {
	m.mu.Lock()
	r, ok := m.active[jobID]
	m.mu.Unlock()
	if !ok {
		return notRunning(jobName, requester(user))
	}
	r.cancel(&runner.StopError{User: user})
	return nil
}

func notRunning(jobName, from string) error {
	return busErr(CodeJobRunning, fmt.Sprintf(
		"SQLServerAgent Error: Request to stop job %s (from %s) refused because the job is not currently running.", jobName, from))
}

// Shutdown refuses new runs, cancels the running ones with runner.ErrShutdown and waits until
// each has queued its finished report, or ctx ends (its error is returned then). It may be
// called more than once.
func (m *runManager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	n := len(m.active)
	for _, r := range m.active {
		r.cancel(runner.ErrShutdown)
	}
	m.mu.Unlock()
	if n > 0 {
		m.log.Info("canceling running jobs: agent shutdown", "runs", n)
	}
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for %d running job(s) to stop: %w", n, ctx.Err())
	}
}

// run runs job in slot r and reports it.
func (m *runManager) run(job jobs.Job, r *activeRun) {
	defer m.release(job.JobID, r)
	log := m.log.With("job", job.Name, "job_id", job.JobID, "run_id", r.id)
	start := time.Now()
	res := schemas.RunResult{
		RunID: r.id, Phase: schemas.PhaseStarted, JobID: job.JobID, JobName: job.Name, VersionNumber: job.VersionNumber,
		Server: m.server, InvokedBy: r.invokedBy, Started: start.UTC(), RunStatus: int(jobs.RunInProgress),
		Message: "The job is running.",
	}
	note := m.lateness(&res, r, start)
	started := m.resultMsg(&res)
	m.record(store.Write{StartRun: r.id, StartDoc: started.Payload, Msgs: []store.OutMsg{started}})

	info := runner.RunInfo{RunID: r.id, InvokedBy: r.invokedBy, Start: start, Processes: runProcesses{m: m, runID: r.id, log: log}}
	live := newLiveRun(m.publish, log, m.token, job, r.id, defaultLiveLimits)
	if live != nil {
		info.Live = live
	}
	out := m.runner.Run(r.ctx, job, info)
	if note != "" {
		out.Job.Message += "  " + note
	}

	res.Phase, res.Finished = schemas.PhaseFinished, time.Now().UTC()
	res.RunStatus, res.Message = int(out.Status), out.Job.Message
	res.Rows = jobs.EncodeRows(out.Rows(), jobs.MaxRowsBytes)
	res.JobDeleted = deleteAfter(job, out)
	msgs := append([]store.OutMsg{m.resultMsg(&res)}, m.runEvents(job, r.id, out)...)
	m.record(store.Write{FinishRun: r.id, Msgs: msgs})
	if live != nil {
		live.End(out.Status)
	}
	if res.JobDeleted {
		m.deleteAfterRun(log, job, out)
	}
	m.chain(job, out.Status)
}

// recoverInterrupted reports, as failed, every run a previous life of the agent started and
// never finished (it was killed, or its machine lost power): without this the master would
// show them in progress until the job ran again. First it ends, or waits for, the steps that
// life left running (Config.OrphanPolicy), so that no job runs twice at once; each report says
// which step was running and what became of it. It runs before the scheduler starts.
func (m *runManager) recoverInterrupted(ctx context.Context) {
	runs, err := m.store.Interrupted(ctx)
	if err != nil {
		m.log.Error("interrupted runs not recovered", "err", err)
		return
	}
	procs, err := m.store.Processes(ctx)
	if err != nil {
		m.log.Error("steps left running by the previous agent not looked for", "err", err)
	}
	notes := m.settleOrphans(ctx, procs)
	for id := range procs {
		if _, ok := runs[id]; !ok {
			_ = m.store.RunFinished(ctx, id) // a run whose report was already queued: forget its processes
		}
	}
	for id, doc := range runs {
		var res schemas.RunResult
		if err := schemas.Decode(doc, &res); err != nil {
			m.log.Error("interrupted run not reported: its record is unreadable", "run_id", id, "err", err)
			_ = m.store.RunFinished(ctx, id)
			continue
		}
		now := time.Now()
		res.Phase, res.Finished, res.RunStatus = schemas.PhaseFinished, now.UTC(), int(jobs.RunFailed)
		known := "the outcome of its steps is unknown"
		if n := notes[id]; n != "" {
			known = n + "; its outcome is unknown"
		}
		res.Message = fmt.Sprintf("The job failed.  The Job was invoked by %s.  The agent stopped while the job was running "+
			"(started %s); %s.", res.InvokedBy, res.Started.Format(time.RFC3339), known)
		local := res.Started.In(m.loc)
		row := jobs.HistoryRow{RunID: id, JobID: res.JobID, JobName: res.JobName, StepID: 0, StepName: jobs.JobOutcomeStepName,
			RunStatus: jobs.RunFailed, Message: res.Message, RunDate: jobs.DateInt(local), RunTime: jobs.TimeInt(local),
			RunStarted: res.Started, RunDuration: jobs.DurationInt(now.Sub(res.Started)), DurationMS: now.Sub(res.Started).Milliseconds(),
			Server: res.Server}
		res.Rows = jobs.EncodeRows([]jobs.HistoryRow{row}, jobs.MaxRowsBytes)
		msgs := []store.OutMsg{m.resultMsg(&res), eventMsg(m.server, m.token, schemas.Event{ID: "interrupted-" + id,
			Time: now.UTC(), Severity: schemas.SeverityError, Source: "job", Message: res.Message,
			JobID: res.JobID, JobName: res.JobName, RunID: id})}
		m.write(ctx, store.Write{FinishRun: id, Msgs: msgs})
		m.log.Warn("run interrupted by an agent stop reported as failed", "job", res.JobName, "run_id", id)
	}
	if len(runs) > 0 {
		m.wake()
	}
}

// record makes one write of a run's report, with a deadline: into the outbox, or held in
// memory while the disk refuses it. It is never dropped.
func (m *runManager) record(w store.Write) {
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	m.write(ctx, w)
}

func (m *runManager) resultMsg(res *schemas.RunResult) store.OutMsg {
	return resultMsg(m.log, m.token, res)
}

// resultMsg is the outbox message of a run report. The runner's messages are free text: a
// result the schema refuses is reported without its rows rather than lost.
func resultMsg(log *slog.Logger, token string, res *schemas.RunResult) store.OutMsg {
	b, err := schemas.Encode(res)
	if err != nil {
		log.Error("run result does not encode: sent without its rows", "run_id", res.RunID, "err", err)
		res.Rows = nil
		b, _ = schemas.Encode(res)
	}
	return store.OutMsg{Subject: bus.ResultSubject(token, res.JobID), MsgID: "run-" + res.RunID + "-" + res.Phase, Payload: b}
}

// runEvents returns the events a finished run raises: the job failed (16) or was canceled
// (10), each failed step (16), and a missing subsystem (16, from the agent).
func (m *runManager) runEvents(job jobs.Job, runID string, out runner.Outcome) []store.OutMsg {
	var evs []schemas.Event
	base := schemas.Event{JobID: job.JobID, JobName: job.Name, RunID: runID}
	for i, row := range out.Steps {
		if row.RunStatus != jobs.RunFailed || len(evs) == maxStepEvents {
			continue
		}
		ev := base
		ev.ID = fmt.Sprintf("run-%s-row-%d", runID, i+1)
		ev.Severity, ev.Source, ev.StepID, ev.ErrorCode = schemas.SeverityError, "step", row.StepID, row.SQLMessageID
		ev.Message = fmt.Sprintf("Job '%s' step %d (%s) failed: %s", job.Name, row.StepID, row.StepName, row.Message)
		evs = append(evs, ev)
	}
	switch out.Status {
	case jobs.RunFailed:
		ev := base
		ev.ID, ev.Severity, ev.Source, ev.Message = "run-"+runID+"-job", schemas.SeverityError, "job", out.Job.Message
		evs = append(evs, ev)
	case jobs.RunCanceled:
		ev := base
		ev.ID, ev.Severity, ev.Source, ev.Message = "run-"+runID+"-job", schemas.SeverityInfo, "job", out.Job.Message
		evs = append(evs, ev)
	}
	if errors.Is(out.Cause, runner.ErrSubsystemUnavailable) {
		ev := base
		ev.ID, ev.Severity, ev.Source = "run-"+runID+"-subsystem", schemas.SeverityError, "agent"
		ev.Message = fmt.Sprintf("SQLServerAgent Error: job '%s': %v", job.Name, out.Cause)
		evs = append(evs, ev)
	}
	msgs := make([]store.OutMsg, 0, len(evs))
	for _, ev := range evs {
		msgs = append(msgs, eventMsg(m.server, m.token, ev))
	}
	return msgs
}

// eventMsg completes ev (server, time) and makes it an outbox message on the event subject of
// its severity, with its id as Nats-Msg-Id.
func eventMsg(server, token string, ev schemas.Event) store.OutMsg {
	ev.Server = server
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if len(ev.Message) > maxEventMessage {
		ev.Message = ev.Message[:maxEventMessage] + " [truncated]"
	}
	b, _ := schemas.Encode(&ev)
	return store.OutMsg{Subject: bus.EventSubject(token, strconv.Itoa(ev.Severity)), MsgID: "event-" + ev.ID, Payload: b}
}

// deleteAfterRun deletes the job from the target when its delete_level matches the outcome (1
// on success, 2 on failure, 3 always), as SQL Server Agent does. A run canceled by the agent's
// shutdown did not complete and deletes nothing. The master sees the job set change in the next
// heartbeat's digest; its drift repair may send the job again.
func (m *runManager) deleteAfterRun(log *slog.Logger, job jobs.Job, out runner.Outcome) {
	lvl := job.DeleteLevel
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	ok, err := m.store.DeleteJob(ctx, job.JobID, job.VersionNumber)
	switch {
	case err != nil:
		log.Error("job not deleted after its run (delete_level)", "delete_level", lvl, "err", err)
	case ok:
		log.Info("job deleted from this target after its run (delete_level); the master sees it in the next heartbeat",
			"delete_level", lvl, "run_status", out.Status)
		m.deleted(job)
	}
}

// deleteAfter reports whether a run's outcome matches the job's delete_level.
func deleteAfter(job jobs.Job, out runner.Outcome) bool {
	lvl := job.DeleteLevel
	return lvl == jobs.LevelAlways && !errors.Is(out.Cause, runner.ErrShutdown) ||
		lvl == jobs.LevelOnSuccess && out.Status == jobs.RunSucceeded ||
		lvl == jobs.LevelOnFailure && out.Status == jobs.RunFailed
}
