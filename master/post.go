package master

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/internal/leader"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
)

// Post publishes an instruction to one target and records it in the download list. The
// instruction's id (generated when empty) is its Nats-Msg-Id, so a retried publish is stored once.
// It returns the row's instance_id.
func (m *Master) Post(ctx context.Context, t registry.Target, in schemas.Instruction) (uint64, error) {
	p, err := m.postAll(ctx, []outgoing{{t, in}})
	if err != nil {
		return 0, err
	}
	return p[0].InstanceID, nil
}

// outgoing is one instruction for one target.
type outgoing struct {
	t  registry.Target
	in schemas.Instruction
}

// postAll publishes instructions in fenced atomic batches of up to leader.MaxBatch (one round
// trip each, a batch stored whole or not at all) and records each in the download list, so a
// fan-out to a thousand targets costs one round trip, not a thousand. The batches go one after
// the other and each is stored in order, so each target gets its instructions in posting order.
// Every batch is fenced to the leader's term: a master that no longer leads has it refused
// (ErrNotLeader) and nothing of it is stored. A single instruction is one fenced publish. It
// returns the rows posted, in order, up to the first failure.
func (m *Master) postAll(ctx context.Context, out []outgoing) ([]Posted, error) {
	posted := make([]Posted, 0, len(out))
	for start := 0; start < len(out); start += leader.MaxBatch {
		chunk := out[start:min(start+leader.MaxBatch, len(out))]
		msgs := make([]*nats.Msg, len(chunk))
		for i := range chunk {
			in := &chunk[i].in
			if in.ID == "" {
				in.ID = nuid.Next()
			}
			in.Target, in.Source = chunk[i].t.ServerName, m.cfg.Name
			if in.Posted.IsZero() {
				in.Posted = time.Now().UTC()
			}
			b, err := schemas.Encode(in)
			if err != nil {
				return posted, err
			}
			msgs[i] = nats.NewMsg(bus.InstrSubject(chunk[i].t.Token))
			msgs[i].Data = b
			msgs[i].Header.Set(jetstream.MsgIDHeader, in.ID)
		}
		acks, err := m.publishChunk(ctx, chunk, msgs)
		for i, ack := range acks {
			o := &chunk[i]
			// A duplicate is recorded by the try that stored it (or the stream follower); one
			// deleted since (a resync) must not come back. A deleted target's rows are not
			// shown (its DEFECT goes out after it is gone), as the stream follower does.
			if _, ok := m.Reg.Target(o.t.ServerName); ok && !ack.Duplicate {
				m.Ledger.Posted(ack.Sequence, o.t.Token, o.t.ServerName, &o.in)
			}
			posted = append(posted, Posted{TargetServer: o.t.ServerName, InstanceID: ack.Sequence, Operation: o.in.Operation.String(), Duplicate: ack.Duplicate})
		}
		if err != nil {
			return posted, fmt.Errorf("post %s to %s and %d more: %w", chunk[len(acks)].in.Operation, chunk[len(acks)].t.ServerName, len(chunk)-len(acks)-1, err)
		}
	}
	return posted, nil
}

// publishChunk stores one chunk of instructions (msgs, chunk's encoded) and returns the
// acknowledgement of each, up to the first failure. It sends them as one fenced atomic batch;
// a batch that holds an instruction already stored (a retried request, see StartOptions) is
// refused whole by nats-server, so it then sends them one by one with the fenced single
// publish, which answers a stored one as a duplicate with its sequence and stores the others.
func (m *Master) publishChunk(ctx context.Context, chunk []outgoing, msgs []*nats.Msg) ([]jetstream.PubAck, error) {
	if len(msgs) > 1 {
		ack, err := m.fences.instr.PublishBatch(ctx, m.nc, msgs)
		if err == nil {
			acks := make([]jetstream.PubAck, len(msgs))
			first := ack.Sequence + 1 - uint64(len(msgs)) // a batch is stored with consecutive sequences
			for i := range acks {
				acks[i] = jetstream.PubAck{Stream: ack.Stream, Sequence: first + uint64(i)}
			}
			return acks, nil
		}
		if !batchHasDuplicate(err) {
			return nil, err
		}
	}
	acks := make([]jetstream.PubAck, 0, len(msgs))
	for i, msg := range msgs {
		ack, err := m.fences.instr.Publish(ctx, msg.Subject, msg.Data, jetstream.WithMsgID(chunk[i].in.ID))
		if err != nil {
			return acks, err
		}
		acks = append(acks, *ack)
	}
	return acks, nil
}

// batchDuplicate is nats-server's refusal of an atomic batch that holds a Nats-Msg-Id the
// stream already stored (JSAtomicPublishContainsDuplicateMessageErr): nothing of it is stored.
const batchDuplicate = 10201

func batchHasDuplicate(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == batchDuplicate
}

// maxIdempotencyKey is the longest idempotency key: room for a UUID or a ULID, with a prefix.
const maxIdempotencyKey = 64

// keyRule says what an idempotency key is, for the errors about one.
const keyRule = "give 1 to 64 letters, digits, '-' or '_' (one random key per request, sent again on its retries)"

// CheckIdempotencyKey returns an error wrapping ErrInvalid unless key is 1 to 64 characters of
// [A-Za-z0-9_-]: a key is generated once per request by its client, and is kept short and
// plain so that it can be logged and typed.
func CheckIdempotencyKey(key string) error {
	if key == "" || len(key) > maxIdempotencyKey {
		return fmt.Errorf("%w: idempotency key of %d characters: %s", ErrInvalid, len(key), keyRule)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: idempotency key %q has %q at byte %d: %s", ErrInvalid, key, key[i:i+1], i+1, keyRule)
		}
	}
	return nil
}

// idempotentID is the instruction id, and so the Nats-Msg-Id, of operation op on object id
// for the target with token tok in a request with idempotency key: the same on every try of the
// request, and different for another key, operation, object or target, so that a key reused
// for another request posts rather than being taken for a retry.
func idempotentID(key string, op schemas.Operation, id, tok string) string {
	h := sha256.Sum256([]byte(key + "\x00" + strconv.Itoa(int(op)) + "\x00" + id + "\x00" + tok))
	return "idem-" + hex.EncodeToString(h[:16])
}

// Target returns an enlisted target by name (case-insensitive), or an error wrapping
// registry.ErrUnknownTarget (14262) that names it.
func (m *Master) Target(name string) (registry.Target, error) {
	t, ok := m.Reg.Target(strings.TrimSpace(name))
	if !ok {
		return registry.Target{}, fmt.Errorf("%w ('%s')", registry.ErrUnknownTarget, name)
	}
	return t, nil
}

// targets resolves names (case-insensitive), or every target when all is set.
func (m *Master) targets(names []string, all bool) ([]registry.Target, error) {
	if all {
		return m.Reg.Targets(), nil
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: name a target server, or use --all", ErrInvalid)
	}
	out := make([]registry.Target, 0, len(names))
	for _, n := range names {
		t, err := m.Target(n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Posted is what a server instruction posted: one row per target.
type Posted struct {
	TargetServer string `json:"target_server"`
	InstanceID   uint64 `json:"instance_id"`
	Operation    string `json:"operation"`
	// Duplicate says that an earlier try of the same request (same idempotency key, see
	// StartOptions) already stored this instruction: nothing new was posted, and InstanceID is
	// the earlier row's.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Action posts a server instruction (resync, setpoll, synctime, reenlist) to targets.
func (m *Master) Action(ctx context.Context, action string, names []string, all bool, seconds int) ([]Posted, error) {
	var op schemas.Operation
	switch action {
	case "resync":
	case "setpoll":
		op = schemas.OpSetPoll
		if seconds < 10 || seconds > 28800 {
			return nil, coded(CodeInvalidValue, "The specified '@poll_interval' is invalid (valid values are: 10 to 28800 seconds); got %d", seconds)
		}
	case "synctime":
		op = schemas.OpSyncTime
	case "reenlist":
		op = schemas.OpReEnlist
	default:
		return nil, fmt.Errorf("%w: unknown action %q: use resync, setpoll, synctime or reenlist", ErrInvalid, action)
	}
	ts, err := m.targets(names, all)
	if err != nil {
		return nil, err
	}
	var out []outgoing
	for _, t := range ts {
		if action == "resync" {
			more, err := m.resyncPosts(ctx, t)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		if op == schemas.OpSetPoll {
			t.PollInterval = seconds
			if err := m.Reg.PutTarget(ctx, t); err != nil {
				return nil, err
			}
		}
		out = append(out, outgoing{t, schemas.Instruction{Operation: op, PollInterval: seconds, ObjectName: t.ServerName}})
	}
	return m.postAll(ctx, out)
}

// resyncPosts deletes a target's pending instructions and returns what a resync posts, as MSX
// does: "delete all jobs", then an INSERT for every job targeted at it.
func (m *Master) resyncPosts(ctx context.Context, t registry.Target) ([]outgoing, error) {
	m.ledgerCaughtUp(ctx, t)
	var pending []uint64
	for _, r := range m.Ledger.List(ledger.Filter{Token: t.Token, Pending: true}) {
		pending = append(pending, r.InstanceID)
	}
	if err := m.deleteRows(ctx, pending); err != nil {
		return nil, err
	}
	out := []outgoing{{t, schemas.Instruction{Operation: schemas.OpDelete, ObjectName: "(all jobs)"}}}
	for _, j := range m.JobsFor(t.ServerName) {
		out = m.appendInsert(out, t, j)
	}
	return out, nil
}

func (m *Master) deleteRows(ctx context.Context, seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	s := m.streams[bus.StreamInstr]
	for _, seq := range seqs {
		if err := s.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("delete instruction %d: %w", seq, err)
		}
		m.Ledger.Forget(seq)
	}
	return nil
}

// purgeTarget drops every instruction of a target from the stream and the download list.
func (m *Master) purgeTarget(ctx context.Context, tok string) {
	for stream, subj := range map[string]string{bus.StreamInstr: bus.InstrSubject(tok), bus.StreamStatus: bus.StatusSubject(tok)} {
		if err := m.streams[stream].Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			m.log.Warn("purge", "stream", stream, "target", tok, "err", err)
		}
	}
	m.forgetTarget(tok)
}

// forgetTarget drops what this master keeps in memory about a deleted target.
func (m *Master) forgetTarget(tok string) {
	m.Ledger.ForgetTarget(tok)
	m.out.forgetTarget(tok)
	m.live.Delete(tok)
	m.drift.forget(tok)
}

// endDefect revokes the key of a deleted target once its DEFECT grace is over.
func (m *Master) endDefect(pub string) {
	if _, ok := m.defecting.LoadAndDelete(pub); ok {
		m.revoke(pub)
	}
}

// revoke disconnects every connection that uses a target's key, at once.
func (m *Master) revoke(pub string) {
	if m.cfg.Auth != nil && pub != "" {
		m.cfg.Auth.Revoke(pub)
	}
}

// defectGrace is how long a deleted target's key stays valid so that it can download the
// DEFECT posted to it; the key is revoked when the target reports it, or after this long.
const defectGrace = 30 * time.Second

// removeTarget deletes a target from the registry, its groups and the download list, and
// revokes its key: at once, or with deferRevoke only after endDefect or defectGrace (a DEFECT
// or a defection reply must still reach it).
func (m *Master) removeTarget(ctx context.Context, t registry.Target, deferRevoke bool) error {
	m.removingHere(t.PublicKey)
	if deferRevoke && t.PublicKey != "" {
		m.defecting.Store(t.PublicKey, t.Token)
		time.AfterFunc(m.cfg.DefectGrace, func() { m.endDefect(t.PublicKey) })
	}
	if err := m.Reg.DeleteTarget(ctx, t.ServerName); err != nil {
		return err
	}
	if !deferRevoke {
		m.revoke(t.PublicKey)
	}
	if err := m.dropServerFromJobs(ctx, t.ServerName); err != nil {
		return err
	}
	m.purgeTarget(ctx, t.Token)
	return nil
}

// DeleteTarget deletes a target server on the master. Unless noPostDefection, it first clears
// the target's pending instructions and posts a DEFECT so the target deletes its jobs too; with
// it (after a forced defection, or a target that is gone), only the master's records go.
func (m *Master) DeleteTarget(ctx context.Context, name string, noPostDefection bool) error {
	t, err := m.Target(name)
	if err != nil {
		return err
	}
	if err := m.removeTarget(ctx, t, !noPostDefection); err != nil {
		return err
	}
	if !noPostDefection {
		if _, err := m.Post(ctx, t, schemas.Instruction{Operation: schemas.OpDefect, ObjectName: t.ServerName}); err != nil {
			return err
		}
	}
	return nil
}

// ClearError clears the error of a download-list row (flag 4 goes when none is left).
func (m *Master) ClearError(ctx context.Context, seq uint64, by string) error {
	r, ok := m.Ledger.Row(seq)
	if !ok {
		return coded(CodeUnknown, "The specified instance_id ('%d') does not exist.", seq)
	}
	if r.ErrorMessage == "" {
		return fmt.Errorf("%w: instruction %d has no error to clear", ErrInvalid, seq)
	}
	b, err := schemas.Encode(&schemas.LedgerClear{Seq: seq, Cleared: time.Now().UTC(), By: by})
	if err != nil {
		return err
	}
	// Fenced: a master that no longer leads (or never did) cannot edit the download list.
	if _, err := m.fences.ledger.Publish(ctx, bus.SubjectLedgerClear, b); err != nil {
		return fmt.Errorf("clear instruction %d: %w", seq, err)
	}
	m.Ledger.Clear(seq)
	return nil
}

// ledgerCaughtUp waits, for a few seconds at most, until the download list holds the newest
// instruction posted to t: the stream follower may be a moment behind what this master just
// posted, and a resync must count that instruction as pending and delete it.
func (m *Master) ledgerCaughtUp(ctx context.Context, t registry.Target) {
	last, err := m.streams[bus.StreamInstr].GetLastMsgForSubject(ctx, bus.InstrSubject(t.Token))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return
	}
	if err != nil {
		m.log.Warn("newest instruction not read: pending rows are those the download list holds", "target", t.ServerName, "err", err)
		return
	}
	if last.Sequence < t.StartSeq {
		return // of an earlier enlistment: never in the download list
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		if _, ok := m.Ledger.Row(last.Sequence); ok {
			return
		}
		select {
		case <-wait.Done():
			m.log.Warn("download list behind the stream: pending rows are those it holds", "target", t.ServerName, "instance_id", last.Sequence)
			return
		case <-time.After(5 * time.Millisecond): // the follower's pace, not synchronisation
		}
	}
}
