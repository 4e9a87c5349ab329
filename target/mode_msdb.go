package target

import (
	"context"
	"fmt"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/msdb"
	"github.com/msx-project/msx/target/store"
)

// sqlAgent holds and runs the downloaded jobs in msdb mode, instead of the agent's scheduler
// and runner. *msdb.Client satisfies it.
type sqlAgent interface {
	// Apply writes a job snapshot, replacing the job with the same id.
	Apply(ctx context.Context, job jobs.Job) error
	// Delete deletes a job; one that is not there is not an error.
	Delete(ctx context.Context, jobID string) error
	// Start and Stop ask SQL Server Agent to start or stop a job.
	Start(ctx context.Context, jobID string) error
	Stop(ctx context.Context, jobID string) error
}

var _ sqlAgent = (*msdb.Client)(nil)

// msdbHost is agent mode "msdb": SQL Server Agent holds and runs the jobs, and a harvester
// reports their history through the outbox as runner mode reports runs.
//
// Each instruction's SQL Server call is made in prepare, before the instruction is recorded
// in the local database, and never inside that database's write transaction: the call may
// take seconds, and the agent's one writer would wait on it. Before rather than after the
// commit, because SQL Server's answer decides the instruction's outcome (a job msdb refuses
// fails its INSERT, as in MSX), and the outcome is recorded in the same transaction as the
// instruction. If that commit then fails (a full disk), the instruction is delivered again:
// writing and deleting a job are idempotent (replace by id; deleting a missing job is no
// error), and the outcome of the last call is kept by instruction id, so a redelivered START
// or STOP is answered without asking SQL Server Agent a second time. Only a crash between the
// call and the commit can make the call twice; a START then meets the running job (22022).
type msdbHost struct {
	a         *Agent
	agent     sqlAgent
	harvester *msdb.Harvester
	// lastID and lastErr are the last instruction whose SQL Server call was made and its
	// outcome. Only the instruction consumer uses them.
	lastID  string
	lastErr error
}

var _ jobHost = (*msdbHost)(nil)

// newMSDBHost sets up msdb mode. No scheduler or runner is built.
func newMSDBHost(ctx context.Context, a *Agent, canon string) (*msdbHost, error) {
	c, err := msdb.New(msdb.Config{DB: a.localDB, Server: a.id.ServerName, Location: a.cfg.TimeZone,
		PollInterval: a.cfg.HarvestInterval, Logger: a.cfg.Logger.With("server", canon)})
	if err != nil {
		return nil, err
	}
	h := &msdbHost{a: a, agent: c, harvester: c.Harvester(msdbSink{a})}
	if err := pingLocalDB(ctx, a.localDB); err != nil {
		a.log.Error("SQL Server not reachable: jobs are not written into msdb until it answers", "database", a.cfg.Database, "err", err)
		a.agentEvent(ctx, "localdb-"+time.Now().UTC().Format("20060102T150405"), 0,
			fmt.Sprintf("SQLServerAgent Error: cannot connect to %s: %v. Downloaded jobs fail to apply until it answers.", a.cfg.Database, err))
	}
	a.log.Info("agent mode msdb: SQL Server Agent runs the jobs", "database", a.cfg.Database)
	return h, nil
}

func (h *msdbHost) prepare(ctx context.Context, in *schemas.Instruction, p *pending) error {
	if (in.Operation == schemas.OpInsert || in.Operation == schemas.OpUpdate) && p.changed {
		if err := checkJobCredentials(&h.a.cfg, p.job, true); err != nil {
			return err
		}
	}
	if in.ID != "" && in.ID == h.lastID {
		return h.lastErr // a redelivery of an instruction whose commit failed
	}
	err := h.call(ctx, in, p)
	h.lastID, h.lastErr = in.ID, err
	return err
}

// call makes the instruction's SQL Server call.
func (h *msdbHost) call(ctx context.Context, in *schemas.Instruction, p *pending) error {
	switch in.Operation {
	case schemas.OpInsert, schemas.OpUpdate:
		if p.changed {
			return h.agent.Apply(ctx, p.job)
		}
	case schemas.OpDelete:
		ids := []string{in.ObjectID}
		if in.ObjectID == "" {
			ids = h.a.held.ids()
		}
		for _, id := range ids {
			if err := h.agent.Delete(ctx, id); err != nil {
				return err
			}
		}
	case schemas.OpStart:
		return h.agent.Start(ctx, p.job.JobID)
	case schemas.OpStop:
		return h.agent.Stop(ctx, p.job.JobID)
	}
	return nil
}

// committed has nothing to do: SQL Server Agent took the change in prepare.
func (h *msdbHost) committed(context.Context, *schemas.Instruction, *pending) {}

// aborted has nothing to undo: see msdbHost.
func (h *msdbHost) aborted(*pending) {}

// defected deletes SQL Server Agent's copies, as a TSX deletes its master's jobs.
func (h *msdbHost) defected(ctx context.Context, ids []string) {
	for _, id := range ids {
		if err := h.agent.Delete(ctx, id); err != nil {
			h.a.log.Error("job not deleted from msdb at defection", "job_id", id, "err", err)
		}
	}
}

func (h *msdbHost) loops() []func(context.Context) error {
	return []func(context.Context) error{h.harvester.Run}
}

// shutdown has nothing to stop: SQL Server Agent's runs go on without this agent.
func (h *msdbHost) shutdown(context.Context) error { return nil }

// msdbCursorKey is the meta key of the last sysjobhistory instance_id reported.
const msdbCursorKey = "msdb_history_instance_id"

// msdbSink gives the harvester the jobs held and queues its runs in the outbox.
type msdbSink struct{ a *Agent }

var _ msdb.Sink = msdbSink{}

// Held returns the jobs held, from memory.
func (s msdbSink) Held(context.Context) ([]msdb.Held, error) {
	all := s.a.held.all()
	out := make([]msdb.Held, len(all))
	for i, j := range all {
		out[i] = msdb.Held{JobID: j.JobID, Name: j.Name, Version: j.VersionNumber}
	}
	return out, nil
}

func (s msdbSink) Cursor(ctx context.Context) (int64, error) {
	var c int64
	_, err := s.a.store.Get(ctx, msdbCursorKey, &c)
	return c, err
}

// Report queues the runs, then moves the cursor: a crash in between sends the runs again, with
// the same Nats-Msg-Id, and the master keeps one.
func (s msdbSink) Report(ctx context.Context, runs []schemas.RunResult, cursor int64) error {
	var msgs []store.OutMsg
	for i := range runs {
		r := &runs[i]
		msgs = append(msgs, resultMsg(s.a.log, s.a.id.Token, r))
		if r.RunStatus == int(jobs.RunFailed) {
			msgs = append(msgs, eventMsg(s.a.id.ServerName, s.a.id.Token, schemas.Event{ID: "run-" + r.RunID + "-job",
				Severity: schemas.SeverityError, Source: "job", Message: r.Message, JobID: r.JobID, JobName: r.JobName, RunID: r.RunID}))
		}
	}
	// The reports and the cursor past them are one transaction: a crash cannot send a run twice.
	if err := s.a.store.EnqueueAndSet(ctx, msdbCursorKey, cursor, msgs...); err != nil {
		return err
	}
	if len(msgs) > 0 {
		s.a.wakeOutbox()
	}
	return nil
}
