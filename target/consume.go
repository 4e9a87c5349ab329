package target

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/store"
)

// consume reads this target's instructions in stream order, starting after the last sequence
// applied (kept in the local database). The master makes the consumer on request (askConsumer; its
// shape is bus.InstrConsumerConfig): a memory-only pull consumer with no acks, so the server keeps nothing durable
// for the target, and the target can neither create consumers nor pull from another's. What
// nats.go's ordered consumer did is done here: a gap in the consumer's sequence (a delivery lost
// on a reconnect), missing idle heartbeats, or a deleted consumer end the read, and the consumer
// is made again from the last applied sequence (see bus/CONSUMERS.md). If applying fails locally
// (disk full, database error), the same happens after a backoff, so nothing is skipped.
func (a *Agent) consume(ctx context.Context) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 10 * time.Second
	b.MaxElapsedTime = 0
	for ctx.Err() == nil {
		read, err := a.consumeOnce(ctx)
		if ctx.Err() != nil || errors.Is(err, ErrDefected) {
			return nil
		}
		if read {
			b.Reset()
		}
		wait := b.NextBackOff()
		a.log.Warn("instruction consumer stopped, restarting", "err", err, "wait", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	return nil
}

// pullHeartbeat is the idle heartbeat asked of each pull: two missed ones end the read.
const pullHeartbeat = 5 * time.Second

// consumeOnce asks the master for a consumer and reads from it until something goes wrong. read
// reports whether it got as far as reading.
func (a *Agent) consumeOnce(ctx context.Context) (read bool, err error) {
	seq, err := a.store.AppliedSeq(ctx)
	if err != nil {
		return false, err
	}
	start := max(seq+1, a.id.StartSeq, 1)
	name, err := a.askConsumer(ctx, start)
	if err != nil {
		return false, err
	}
	cons, err := a.js.Consumer(ctx, bus.StreamInstr, name)
	if err != nil {
		return false, fmt.Errorf("instruction consumer %s: %w", name, err)
	}
	it, err := cons.Messages(jetstream.PullHeartbeat(pullHeartbeat), jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return false, fmt.Errorf("read instructions: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	// Deliveries sent while the connection was down are lost (no acks): after a reconnect the
	// consumer is made again, as nats.go's ordered consumer does.
	reconnected := a.nc.StatusChanged(nats.CONNECTED)
	defer a.nc.RemoveStatusListener(reconnected)
	var lost atomic.Bool
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-reconnected:
			lost.Store(true)
			it.Stop()
		case <-done:
		}
	}()
	var delivered uint64 // the consumer's own sequence: it counts every delivery, so a skip is a loss
	for {
		msg, err := it.Next()
		if err != nil {
			if lost.Load() {
				return true, fmt.Errorf("%w: reconnected to the bus", errGap)
			}
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return true, ctx.Err()
			}
			return true, fmt.Errorf("read instructions: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return true, fmt.Errorf("instruction metadata: %w", err)
		}
		if meta.Sequence.Consumer != delivered+1 {
			return true, fmt.Errorf("%w: delivery %d of consumer %s after %d", errGap, meta.Sequence.Consumer, name, delivered)
		}
		delivered = meta.Sequence.Consumer
		if err := a.handle(ctx, meta.Sequence.Stream, msg.Data()); err != nil {
			return true, err
		}
	}
}

// errGap: a delivery of the instruction consumer was lost; it is made again from the last
// applied sequence.
var errGap = errors.New("instruction deliveries skipped")

// askConsumer asks the master to (re)create this target's instruction consumer from sequence
// start, and returns its name.
func (a *Agent) askConsumer(ctx context.Context, start uint64) (string, error) {
	kp, err := nkeys.FromSeed([]byte(a.id.Seed))
	if err != nil {
		return "", fmt.Errorf("load target identity: %w", err)
	}
	req := schemas.ConsumerRequest{StartSeq: start, Time: time.Now().UTC()}
	sig, err := kp.Sign(schemas.SignedBytes("consumer", a.id.Token, req.Signed()))
	if err != nil {
		return "", err
	}
	req.Signature = base64.StdEncoding.EncodeToString(sig)
	data, err := schemas.Encode(&req)
	if err != nil {
		return "", err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := a.nc.RequestWithContext(rctx, bus.ConsumerSubject(a.id.Token), data)
	if err != nil {
		return "", fmt.Errorf("ask the master for the instruction consumer at sequence %d: %w", start, err)
	}
	var rep schemas.ConsumerReply
	if err := schemas.Decode(msg.Data, &rep); err != nil {
		return "", fmt.Errorf("instruction consumer reply: %w", err)
	}
	if rep.Error != nil {
		return "", fmt.Errorf("the master refused the instruction consumer at sequence %d: %w", start, rep.Error)
	}
	return rep.Consumer, nil
}

// handle applies one delivered instruction. It returns an error only when the local database
// could not record it; a bad or failing instruction is recorded as failed and reported, with an
// error event. Only the job the instruction names is read or changed, in memory and on disk.
func (a *Agent) handle(ctx context.Context, seq uint64, data []byte) error {
	var in schemas.Instruction
	id := "seq-" + strconv.FormatUint(seq, 10)
	var p pending
	var apply func(tx *sql.Tx) error
	if err := schemas.Decode(data, &in); err != nil {
		apply = func(*sql.Tx) error {
			return busErr(CodeBadInstruction, fmt.Sprintf("malformed instruction at sequence %d rejected: %v", seq, err))
		}
	} else {
		id = in.ID
		_, done, err := a.store.Applied(ctx, id)
		if err != nil {
			return err
		}
		var prepErr error
		if !done { // a duplicate has no effect: store.Apply recognises it
			prepErr = a.prepare(ctx, &in, &p)
		}
		apply = func(tx *sql.Tx) error {
			if prepErr != nil {
				return prepErr
			}
			return a.apply(ctx, tx, &in, &p)
		}
	}
	report := func(applyErr error) []store.OutMsg {
		st := &schemas.InstructionStatus{InstructionID: id, Seq: seq, Status: schemas.StatusApplied, Downloaded: time.Now().UTC()}
		if applyErr != nil {
			st.Status = schemas.StatusFailed
			st.Error = codeOf(applyErr)
		}
		b, _ := schemas.Encode(st)
		msgs := []store.OutMsg{{Subject: bus.AppliedSubject(a.id.Token), MsgID: "applied-" + strconv.FormatUint(seq, 10), Payload: b}}
		if applyErr != nil {
			msgs = append(msgs, eventMsg(a.id.ServerName, a.id.Token, schemas.Event{
				ID: "instr-" + strconv.FormatUint(seq, 10) + "-failed", Severity: schemas.SeverityError, Source: "instruction",
				Message:   fmt.Sprintf("Instruction %d (%s %s) failed: %s", seq, in.Operation, objectName(&in), st.Error.Message),
				ErrorCode: st.Error.Code, JobID: jobIDOf(&in), JobName: in.ObjectName,
			}))
		}
		return msgs
	}
	applyErr, err := a.store.Apply(ctx, seq, id, int(in.Operation), apply, report)
	if err != nil || applyErr != nil {
		a.host.aborted(&p)
	}
	if errors.Is(err, store.ErrAlreadyApplied) {
		a.log.Info("duplicate instruction: no second effect", "seq", seq, "id", id)
		a.wakeOutbox()
		return nil
	}
	if err != nil {
		return err
	}
	a.wakeOutbox()
	if applyErr != nil {
		a.log.Warn("instruction failed", "seq", seq, "operation", in.Operation.String(), "err", applyErr)
		return nil
	}
	a.log.Info("instruction applied", "seq", seq, "operation", in.Operation.String(), "object", in.ObjectName)
	return a.afterCommit(ctx, &in, &p)
}

// pending is what applying an instruction carries from before its transaction to after its
// commit: the job it names, the run slot a START claimed, the clock offset of SYNC-TIME.
// In-memory state changes only after the commit, so a failed commit leaves the agent as it was.
type pending struct {
	run      *activeRun
	job      jobs.Job
	changed  bool // INSERT/UPDATE: the snapshot is newer than the job held
	offsetMS int64
	alerts   perfAlertSet // SET-ALERTS: the set checked
}

// prepare reads what the instruction names from the jobs held in memory, then lets the host
// do its part before the instruction is recorded (jobHost.prepare). Its error fails the
// instruction.
func (a *Agent) prepare(ctx context.Context, in *schemas.Instruction, p *pending) error {
	switch in.Operation {
	case schemas.OpInsert, schemas.OpUpdate:
		var j jobs.Job
		if err := json.Unmarshal(in.Job, &j); err != nil || j.JobID == "" {
			return busErr(CodeBadInstruction, fmt.Sprintf("%s instruction carries no valid job snapshot", in.Operation))
		}
		p.job = j
		if old, ok := a.held.get(j.JobID); ok && (old.VersionNumber > j.VersionNumber ||
			old.VersionNumber == j.VersionNumber && old.Digest() == j.Digest()) {
			// An old or repeated snapshot: the newer one stays. A snapshot of the same version
			// whose content differs is the master's re-post after a variable's value changed
			// for this target (master/vars.go): it replaces the held one.
			return nil
		}
		p.changed = true
	case schemas.OpStart, schemas.OpStop:
		j, ok := a.held.get(in.ObjectID)
		if !ok {
			return busErr(CodeUnknownObject, fmt.Sprintf("The specified job_id ('%s') does not exist.", in.ObjectID))
		}
		p.job = j
	case schemas.OpSetAlerts:
		return a.preparePerfAlerts(in, p)
	}
	return a.host.prepare(ctx, in, p)
}

func objectName(in *schemas.Instruction) string {
	if in.ObjectName != "" {
		return in.ObjectName
	}
	if in.ObjectID != "" {
		return in.ObjectID
	}
	if in.Operation == schemas.OpDelete {
		return "(all jobs)"
	}
	return in.Operation.ObjectType()
}

func jobIDOf(in *schemas.Instruction) string {
	if in.Operation.ObjectType() == "job" {
		return in.ObjectID
	}
	return ""
}

// apply performs an instruction's effect on the local database inside tx. It makes no call
// outside the database: prepare did those.
func (a *Agent) apply(ctx context.Context, tx *sql.Tx, in *schemas.Instruction, p *pending) error {
	switch in.Operation {
	case schemas.OpInsert, schemas.OpUpdate:
		if !p.changed {
			return nil
		}
		return storeJob(ctx, tx, p.job, in.Job)
	case schemas.OpDelete:
		return deleteJobs(ctx, tx, in.ObjectID)
	case schemas.OpStart, schemas.OpStop:
		return nil // prepare found the job and the host did its part
	case schemas.OpReEnlist, schemas.OpDefect:
		return nil // done after commit: both talk to the master
	case schemas.OpSyncTime:
		p.offsetMS = time.Since(in.Posted).Milliseconds()
		return store.SetTx(ctx, tx, store.KeyClockOffset, p.offsetMS)
	case schemas.OpSetPoll:
		if in.PollInterval < 10 || in.PollInterval > 28800 {
			return busErr(14266, fmt.Sprintf("The specified '@poll_interval' is invalid (valid values are: 10 to 28800); got %d.", in.PollInterval))
		}
		id := a.id
		id.PollInterval = in.PollInterval
		return store.SetTx(ctx, tx, store.KeyIdentity, id)
	case schemas.OpSetAlerts:
		return applyPerfAlerts(ctx, tx, p)
	default:
		return busErr(CodeUnknownOp, fmt.Sprintf("operation %d is unknown to this agent (version %s): upgrade the target", in.Operation, Version))
	}
}

// afterCommit runs the parts of an instruction that must follow its commit.
func (a *Agent) afterCommit(ctx context.Context, in *schemas.Instruction, p *pending) error {
	switch in.Operation {
	case schemas.OpInsert, schemas.OpUpdate:
		if p.changed {
			a.held.put(p.job)
		}
		a.host.committed(ctx, in, p)
	case schemas.OpDelete:
		if in.ObjectID == "" {
			a.held.clear()
		} else {
			a.held.remove(in.ObjectID, 0)
		}
		a.host.committed(ctx, in, p)
	case schemas.OpStart, schemas.OpStop:
		a.host.committed(ctx, in, p)
	case schemas.OpSyncTime:
		a.mu.Lock()
		a.offsetMS = p.offsetMS
		a.mu.Unlock()
	case schemas.OpSetPoll:
		a.mu.Lock()
		a.id.PollInterval = in.PollInterval
		a.pollSecs = in.PollInterval
		a.interval = a.heartbeatInterval()
		a.mu.Unlock()
		select {
		case a.kick <- struct{}{}:
		default:
		}
	case schemas.OpSetAlerts:
		a.committedPerfAlerts(p)
	case schemas.OpReEnlist:
		if err := a.reenlist(ctx); err != nil {
			a.log.Error("re-enlist failed", "err", err)
		}
	case schemas.OpDefect:
		// Running jobs end first, so that their outcomes reach the master before it forgets
		// this target; then report: the DEFECT row must show as downloaded on the master.
		a.stopRuns()
		a.host.defected(ctx, a.held.clear())
		flush, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = a.sendOutbox(flush)
		cancel()
		n, err := a.store.Forget(ctx)
		if err != nil {
			return err
		}
		a.log.Warn(fmt.Sprintf("Server defected from MSX '%s'. %d job(s) deleted.", a.id.MasterName, n))
		a.markDefected()
		return ErrDefected
	}
	return nil
}

// storeJob stores job's snapshot def, replacing the version held.
func storeJob(ctx context.Context, tx *sql.Tx, j jobs.Job, def []byte) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs(job_id, name, version, definition) VALUES (?,?,?,?)
		ON CONFLICT(job_id) DO UPDATE SET name = excluded.name, version = excluded.version, definition = excluded.definition`,
		j.JobID, j.Name, j.VersionNumber, string(def))
	return err
}

func deleteJobs(ctx context.Context, tx *sql.Tx, jobID string) error {
	if jobID == "" {
		_, err := tx.ExecContext(ctx, `DELETE FROM jobs`)
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE job_id = ?`, jobID)
	return err
}
