package bench

import (
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
)

// recorder notes when the observer saw each target's reports: applied instructions on
// msx.applied.<t> and run results on msx.result.<t>.<job>. It reads the same subjects the
// streams store, as core subscriptions, so it adds no consumer to the server.
type recorder struct {
	mu      sync.Mutex
	applied map[seqKey]time.Time
	results map[resKey][]resultSeen
	bad     int
	changed chan struct{}
}

type seqKey struct {
	tok string
	seq uint64
}

type resKey struct {
	tok, job, phase string
}

type resultSeen struct {
	at      time.Time // when the observer received it
	started time.Time // the run's start, as the target reports it
	runID   string
	due     time.Time // set on late and skipped firings
	status  int       // run_status
	skipped bool      // a firing that did not run (overlap)
}

func newRecorder() *recorder {
	return &recorder{applied: map[seqKey]time.Time{}, results: map[resKey][]resultSeen{}, changed: make(chan struct{}, 1)}
}

func (r *recorder) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) onApplied(msg *nats.Msg) {
	now := time.Now()
	tok, err := bus.TargetFromSubject(msg.Subject)
	var st schemas.InstructionStatus
	if err == nil {
		err = schemas.Decode(msg.Data, &st)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad++
		return
	}
	k := seqKey{tok, st.Seq}
	if _, ok := r.applied[k]; !ok {
		r.applied[k] = now
	}
	r.signal()
}

func (r *recorder) onResult(msg *nats.Msg) {
	now := time.Now()
	parts := strings.Split(msg.Subject, ".")
	var res schemas.RunResult
	err := schemas.Decode(msg.Data, &res)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || len(parts) != 4 {
		r.bad++
		return
	}
	k := resKey{parts[2], res.JobID, res.Phase}
	for _, s := range r.results[k] {
		if s.runID == res.RunID {
			return // a resend the stream deduplicates
		}
	}
	r.results[k] = append(r.results[k], resultSeen{at: now, started: res.Started, runID: res.RunID,
		due: res.Due, status: res.RunStatus, skipped: res.Skipped})
	r.signal()
}

// appliedAt returns when the observer saw target tok report instruction seq.
func (r *recorder) appliedAt(tok string, seq uint64) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.applied[seqKey{tok, seq}]
	return t, ok
}

// firstResult returns the first report of a phase of job on tok received after since.
func (r *recorder) firstResult(tok, job, phase string, since time.Time) (resultSeen, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.results[resKey{tok, job, phase}] {
		if !s.at.Before(since) {
			return s, true
		}
	}
	return resultSeen{}, false
}

// results returns every report of a phase of job on tok.
func (r *recorder) resultsOf(tok, job, phase string) []resultSeen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]resultSeen(nil), r.results[resKey{tok, job, phase}]...)
}
