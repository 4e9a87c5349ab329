package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// JobServer is one job on one target, as sp_help_jobserver shows it.
type JobServer struct {
	ServerName         string          `json:"server_name"`
	JobID              string          `json:"job_id"`
	JobName            string          `json:"job_name"`
	LastRunOutcome     jobs.RunOutcome `json:"last_run_outcome"` // 0 failed .. 4 in progress, 5 unknown
	LastOutcomeMessage string          `json:"last_outcome_message"`
	LastRunDate        int             `json:"last_run_date"` // yyyymmdd, target local time
	LastRunTime        int             `json:"last_run_time"` // hhmmss
	LastRunDuration    int             `json:"last_run_duration"`
	LastRunID          string          `json:"last_run_id,omitempty"`
	Started            time.Time       `json:"started,omitzero"`
	Finished           time.Time       `json:"finished,omitzero"`
	Runs               int             `json:"runs"`
	Failures           int             `json:"failures"`
	// Received is when the master received the last report (JetStream time, not the target's
	// clock).
	Received time.Time `json:"received,omitzero"`

	finished []string // ids of the latest finished runs, newest last: a resent result counts once
	// For the metrics (see observeRun): finished runs by run status, the last success's finish.
	byOutcome   [4]int
	lastSuccess time.Time
}

// seenRuns bounds how many finished run ids a JobServer remembers to drop resent results.
// Results are resent only by an outbox after a lost acknowledgement, so they arrive close to
// the original.
const seenRuns = 64

// firstFinish reports whether run id finished for the first time, and remembers it.
func (js *JobServer) firstFinish(id string) bool {
	if slices.Contains(js.finished, id) {
		return false
	}
	js.finished = append(js.finished, id)
	if len(js.finished) > seenRuns {
		js.finished = js.finished[1:]
	}
	return true
}

// checkResult decodes a result and refuses (counting and logging) one that is malformed, on
// the subject of another job, or, when its target is known, naming another server. known is
// false for a result of a target this master does not know (yet): its identity is checked
// once it is.
func (m *Master) checkResult(msg jetstream.Msg) (r schemas.RunResult, t registry.Target, tok string, known, refused bool) {
	tok, err := bus.TargetFromSubject(msg.Subject())
	if err == nil {
		err = schemas.Decode(msg.Data(), &r)
	}
	if err == nil {
		if parts := strings.Split(msg.Subject(), "."); len(parts) != 4 || parts[3] != r.JobID {
			err = fmt.Errorf("result for job %s on the subject of another job", r.JobID)
		}
	}
	if err != nil {
		m.reject(msg.Subject(), err)
		return r, t, tok, false, true
	}
	if t, known = m.Reg.TargetByToken(tok); !known {
		return r, t, tok, false, false
	}
	// Identity comes from the subject the bus let the target publish on, never from the body.
	if !strings.EqualFold(r.Server, t.ServerName) {
		m.Misattributed.Add(1)
		m.reject(msg.Subject(), fmt.Errorf("result of target %s names server %q: refused", t.ServerName, Truncate(r.Server, 130)))
		return r, t, tok, true, true
	}
	return r, t, tok, true, false
}

// resultRefused reports whether checkResult refuses a result about to wait for its target or
// job.
func (m *Master) resultRefused(msg jetstream.Msg) bool {
	_, _, _, _, refused := m.checkResult(msg)
	return refused
}

func (m *Master) onResult(_ context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) {
	r, t, tok, known, refused := m.checkResult(msg)
	if !known || refused {
		return
	}
	if _, ok := m.Catalog.ByName(r.JobID); !ok {
		return // a run of a deleted job: its outcomes went with it
	}
	m.out.mu.Lock()
	defer m.out.mu.Unlock()
	js := m.out.outcome(tok, r.JobID, func() *JobServer {
		return &JobServer{ServerName: t.ServerName, JobID: r.JobID, LastRunOutcome: jobs.OutcomeUnknown}
	})
	before := js.LastRunOutcome
	defer func() { m.out.moved(tok, r.JobID, before, js.LastRunOutcome) }() // before the unlock
	js.JobName = r.JobName
	js.Received = meta.Timestamp.UTC()
	switch r.Phase {
	case schemas.PhaseStarted:
		if slices.Contains(js.finished, r.RunID) {
			return // a late or resent "started" of a run that already finished
		}
		js.LastRunID, js.Started, js.Finished = r.RunID, r.Started, time.Time{}
		js.LastRunOutcome, js.LastOutcomeMessage = jobs.OutcomeInProgress, "The job is running."
	case schemas.PhaseFinished:
		if !js.firstFinish(r.RunID) {
			return // the same run reported again (a resend past JetStream's duplicate window)
		}
		m.out.addRun(tok, r.JobID, meta.Sequence.Stream)
		if r.Skipped {
			return // a firing the job's overlap policy skipped: in the history, not a run
		}
		m.out.observeRun(js, &r, meta.Timestamp)
		js.LastRunID, js.Started, js.Finished = r.RunID, r.Started, r.Finished
		if r.JobDeleted {
			// delete_level: the target deleted this version of the job after the run; it is
			// no longer expected there (a new version is delivered again).
			m.out.setConsumed(tok, r.JobID, r.VersionNumber)
		}
		js.LastRunOutcome = jobs.RunStatus(r.RunStatus).Outcome()
		js.LastOutcomeMessage = r.Message
		js.Runs++
		if r.RunStatus == int(jobs.RunFailed) {
			js.Failures++
		}
		if len(r.Rows) > 0 {
			var row jobs.HistoryRow
			if json.Unmarshal(r.Rows[0], &row) == nil {
				js.LastRunDate, js.LastRunTime, js.LastRunDuration = row.RunDate, row.RunTime, row.RunDuration
			}
		}
	}
}

// JobServers returns the per-target state of a job: every target it is applied to (outcome 5
// until the first run), including those that deleted this version after a run (delete_level),
// ordered by server name. It costs what the job's targets cost, not what the fleet costs.
func (m *Master) JobServers(j jobs.Job) []JobServer {
	ts := m.namedBy(j)
	out := make([]JobServer, 0, len(ts))
	m.out.mu.RLock()
	last := m.out.last[j.JobID]
	for _, t := range ts {
		if js := last[t.Token]; js != nil {
			c := *js
			c.finished = nil // ingestion's own
			out = append(out, c)
			continue
		}
		out = append(out, JobServer{ServerName: t.ServerName, JobID: j.JobID, JobName: j.Name, LastRunOutcome: jobs.OutcomeUnknown,
			LastOutcomeMessage: "The job has not run on this target yet."})
	}
	m.out.mu.RUnlock()
	m.maskOutcomes(j, out)
	return out
}

// keepRuns is how many finished results per job and target the master indexes: as many as
// MSX_RESULTS keeps messages per subject (started and finished), so none is missed.
func keepRuns(l bus.Layout) int {
	if l.HistoryPerJob > 0 {
		return int(l.HistoryPerJob)
	}
	return 200 // bus.Layout's default
}

// readStream reads every message of a stream matching filter from seq start, up to the end.
func (m *Master) readStream(ctx context.Context, stream, filter string, start uint64, each func(jetstream.Msg, *jetstream.MsgMetadata)) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if start > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	cons, err := m.streams[stream].OrderedConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	if cons.CachedInfo().NumPending == 0 {
		return nil // nothing (more) matches
	}
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				return err
			}
			each(msg, meta)
			if meta.NumPending == 0 {
				return nil // the end: do not wait for the rest of the batch
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// historyByIndex is the largest limit History answers from the index of result sequences; a
// larger one (or none) reads the job's results from the stream in one pass.
const historyByIndex = 1000

// History returns a job's history rows, newest run first, optionally for one server, at most
// limit runs (0 = all kept). With a limit it reads about limit messages, newest first, by
// stream sequence.
func (m *Master) History(ctx context.Context, name, server string, limit int) (rows []jobs.HistoryRow, err error) {
	defer func() { m.maskHistory(rows) }() // secret variables' values (vars.go)
	j, err := m.Catalog.Get(name)
	if err != nil {
		return nil, err
	}
	tok := ""
	if server != "" {
		t, err := m.Target(server)
		if err != nil {
			return nil, err
		}
		tok = t.Token
	}
	if limit > 0 && limit <= historyByIndex {
		return m.newestHistory(ctx, j, tok, limit)
	}
	if tok == "" {
		tok = "*"
	}
	var runs [][]jobs.HistoryRow
	err = m.readStream(ctx, bus.StreamResults, "msx.result."+tok+"."+j.JobID, 0, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) {
		if rows, ok := m.runRows(msg.Subject(), msg.Data(), meta.Sequence.Stream); ok {
			runs = append(runs, rows)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", j.Name, err)
	}
	slices.Reverse(runs)
	if limit > 0 && len(runs) > limit {
		runs = runs[:limit]
	}
	var out []jobs.HistoryRow
	for _, r := range runs {
		out = append(out, r...)
	}
	return out, nil
}

// newestHistory reads the newest limit runs of job j (on target tok, or on all with ""), one
// direct read by stream sequence per run. A result the stream no longer holds (aged out) is
// skipped and the next older one read instead.
func (m *Master) newestHistory(ctx context.Context, j jobs.Job, tok string, limit int) ([]jobs.HistoryRow, error) {
	stream := m.streams[bus.StreamResults]
	var out []jobs.HistoryRow
	var before uint64
	for runs := 0; runs < limit; {
		seqs := m.out.newestRuns(j.JobID, tok, before, limit-runs)
		if len(seqs) == 0 {
			break
		}
		for _, seq := range seqs {
			before = seq
			msg, err := stream.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("read history of %s: %w", j.Name, err)
			}
			if rows, ok := m.runRows(msg.Subject, msg.Data, seq); ok {
				out = append(out, rows...)
				runs++
			}
		}
	}
	return out, nil
}

// runRows decodes the history rows of a finished result stored at seq on subject. A result
// naming another server than its subject's is never shown.
func (m *Master) runRows(subject string, data []byte, seq uint64) ([]jobs.HistoryRow, bool) {
	var r schemas.RunResult
	if schemas.Decode(data, &r) != nil || r.Phase != schemas.PhaseFinished {
		return nil, false
	}
	server, ok := m.serverOfSubject(subject)
	if !ok || !strings.EqualFold(r.Server, server) {
		return nil, false
	}
	rows := make([]jobs.HistoryRow, 0, len(r.Rows))
	for i, raw := range r.Rows {
		var row jobs.HistoryRow
		if json.Unmarshal(raw, &row) == nil {
			row.Server = server
			row.InstanceID = int64(seq)*10000 + int64(i)
			rows = append(rows, row)
		}
	}
	return rows, true
}

// EventFilter selects forwarded events.
type EventFilter struct {
	Since       uint64 // stream sequence to start after (0: the newest Limit)
	MinSeverity int
	Server      string
	Limit       int
}

// EventRecord is a forwarded event with its stream sequence (for --follow). Server is the
// server registered for the subject the event came on and Time the master's receive time;
// what the sender claimed is kept beside them.
type EventRecord struct {
	Seq uint64 `json:"seq"`
	schemas.Event
	// ReportedTime is the time the sender put in the event (its clock).
	ReportedTime time.Time `json:"reported_time"`
	// ClaimedServer is the server the body named when it differs from the sender's: the
	// event is shown as the sender's, never as the named server's.
	ClaimedServer string `json:"claimed_server,omitempty"`
}

// serverOfSubject returns the server name a per-target subject stands for: the registered
// target's, or the name its token encodes (a deleted target, the master's own events).
func (m *Master) serverOfSubject(subj string) (string, bool) {
	tok, err := bus.TargetFromSubject(subj)
	if err != nil {
		return "", false
	}
	if t, ok := m.Reg.TargetByToken(tok); ok {
		return t.ServerName, true
	}
	name, err := jobs.ServerFromToken(tok)
	return name, err == nil
}

// Events returns forwarded events matching f, oldest first.
func (m *Master) Events(ctx context.Context, f EventFilter) (evs []EventRecord, err error) {
	defer func() { m.maskEvents(evs) }() // secret variables' values (vars.go)
	filter := "msx.event.>"
	if f.Server != "" {
		t, err := m.Target(f.Server)
		if err != nil {
			return nil, err
		}
		filter = "msx.event." + t.Token + ".*"
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	start := f.Since + 1
	if f.Since == 0 {
		info, err := m.streams[bus.StreamEvents].Info(ctx)
		if err != nil {
			return nil, err
		}
		last := info.State.LastSeq
		start = 1
		if last > uint64(f.Limit)*20 {
			start = last - uint64(f.Limit)*20
		}
	}
	var out []EventRecord
	err = m.readStream(ctx, bus.StreamEvents, filter, start, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) {
		var e schemas.Event
		if schemas.Decode(msg.Data(), &e) != nil || e.Severity < f.MinSeverity {
			return
		}
		server, ok := m.serverOfSubject(msg.Subject())
		if !ok {
			return
		}
		rec := EventRecord{Seq: meta.Sequence.Stream, Event: e, ReportedTime: e.Time}
		if !strings.EqualFold(e.Server, server) {
			rec.ClaimedServer = e.Server
		}
		rec.Server, rec.Time = server, meta.Timestamp.UTC()
		out = append(out, rec)
	})
	if len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, err
}
