// Package ledger is the master's download list: one row per instruction per target, as
// msdb.dbo.sysdownloadlist keeps it. Rows are built from three streams, so a master that
// restarts rebuilds exactly the same list: MSX_INSTR (what was posted; the stream sequence is
// the row's instance_id), MSX_APPLIED (what each target did) and MSX_LEDGER (errors cleared).
//
// Row states:
//
//	posted (status 0) ──applied──> downloaded (status 1)
//	       │
//	       └──failed──> downloaded with error (status 1, error_message; target blocked, flag 4)
//	                         ├──clear──> downloaded, error cleared (flag 4 gone)
//	                         └──a later instruction for the same job succeeds──> error cleared
//
// Unlike MSX, a failed row does not hold back later rows for the same target. A row with an
// error nobody cleared is never trimmed: it is what keeps drift repair from posting the same
// failing instruction again.
package ledger

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/msx-project/msx/schemas"
)

// Row is one download-list row.
type Row struct {
	InstanceID    uint64            `json:"instance_id"`
	InstructionID string            `json:"instruction_id"`
	Operation     schemas.Operation `json:"operation"`
	OperationName string            `json:"operation_name"`
	ObjectType    string            `json:"object_type"`
	ObjectID      string            `json:"object_id,omitempty"`
	ObjectName    string            `json:"object_name,omitempty"`
	// Version is the job version an INSERT or UPDATE carried.
	Version        int        `json:"version,omitempty"`
	TargetServer   string     `json:"target_server"`
	SourceServer   string     `json:"source_server"`
	DatePosted     time.Time  `json:"date_posted"`
	DateDownloaded *time.Time `json:"date_downloaded"`
	Status         int        `json:"status"` // 0 not downloaded, 1 downloaded
	ErrorCode      int        `json:"error_code,omitempty"`
	ErrorMessage   string     `json:"error_message,omitempty"`
	ErrorCleared   bool       `json:"error_cleared,omitempty"`
	// ClearedBy is the instance_id of the later instruction for the same job whose success
	// cleared this row's error (0: cleared by an operator, or not cleared).
	ClearedBy uint64 `json:"cleared_by,omitempty"`

	token string
}

// Ledger is the in-memory download list. Its methods are safe for concurrent use.
type Ledger struct {
	mu       sync.RWMutex
	rows     map[uint64]*Row
	byTarget map[string][]uint64 // token -> sequences, ascending
	applied  map[uint64]applied  // may arrive before the row while streams are replayed
	cleared  map[uint64]bool
	// superseded maps a failed row to the later row of the same job that succeeded.
	superseded map[uint64]uint64
	// maxApplied is, per target token, the highest sequence the target reported on; trimming
	// rows does not lower it.
	maxApplied map[string]uint64

	// Indexes (index.go): every row's sequence, the pending and the failed ones, ascending,
	// and the counts per target and per job. order may also hold sequences of rows forgotten
	// since it was last compacted (dead of them): they are skipped, and order is compacted
	// once they are half of it, so forgetting a row costs O(log n) amortised, not O(n).
	order          []uint64
	dead           int
	pending, errs  []uint64
	byTargetCounts map[string]*Counts
	byJobCounts    map[string]*Counts
}

type applied struct {
	token string
	st    schemas.InstructionStatus
}

// New returns an empty ledger.
func New() *Ledger {
	return &Ledger{rows: map[uint64]*Row{}, byTarget: map[string][]uint64{}, applied: map[uint64]applied{}, cleared: map[uint64]bool{},
		superseded: map[uint64]uint64{}, maxApplied: map[string]uint64{}, byTargetCounts: map[string]*Counts{}, byJobCounts: map[string]*Counts{}}
}

// Posted records an instruction read from (or just published to) MSX_INSTR at seq, for the
// target with subject token tok and canonical name server. Repeats are ignored.
func (l *Ledger) Posted(seq uint64, tok, server string, in *schemas.Instruction) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.rows[seq]; ok {
		return
	}
	l.rows[seq] = &Row{
		InstanceID: seq, InstructionID: in.ID, Operation: in.Operation, OperationName: in.Operation.String(),
		ObjectType: in.Operation.ObjectType(), ObjectID: in.ObjectID, ObjectName: in.ObjectName,
		Version: jobVersion(in), TargetServer: server, SourceServer: in.Source, DatePosted: in.Posted, token: tok,
	}
	s := l.byTarget[tok]
	i, _ := slices.BinarySearch(s, seq)
	l.byTarget[tok] = slices.Insert(s, i, seq)
	if i, found := slices.BinarySearch(l.order, seq); found {
		l.dead-- // a forgotten row posted again (a stream replayed): its entry lives again
	} else {
		l.order = slices.Insert(l.order, i, seq) // an append, but for rows replayed out of order
	}
	l.settle(seq)
	l.account(seq, 1)
}

// jobVersion returns the version number of the job snapshot an INSERT or UPDATE carries.
func jobVersion(in *schemas.Instruction) int {
	if len(in.Job) == 0 {
		return 0
	}
	var v struct {
		VersionNumber int `json:"version_number"`
	}
	_ = json.Unmarshal(in.Job, &v) // a snapshot without a version is version 0
	return v.VersionNumber
}

// Applied records a target's report for the instruction at st.Seq. tok is the target the report
// came from (taken from the subject); a report about another target's row is ignored and false
// comes back.
func (l *Ledger) Applied(tok string, st schemas.InstructionStatus) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.rows[st.Seq]; ok && r.token != tok {
		return false
	}
	l.change(st.Seq, func() {
		l.applied[st.Seq] = applied{token: tok, st: st}
		l.settle(st.Seq)
	})
	l.maxApplied[tok] = max(l.maxApplied[tok], st.Seq)
	return true
}

// Clear marks the error of row seq as cleared.
func (l *Ledger) Clear(seq uint64) {
	l.mu.Lock()
	l.change(seq, func() { l.cleared[seq] = true })
	l.mu.Unlock()
}

// Forget removes rows (deleted from the stream: trimmed, purged or cleared on resync).
func (l *Ledger) Forget(seqs ...uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, seq := range seqs {
		r, ok := l.rows[seq]
		if !ok {
			continue
		}
		l.account(seq, -1)
		l.dead++ // its entry in order is skipped until compactOrder drops it
		delete(l.rows, seq)
		delete(l.applied, seq)
		delete(l.cleared, seq)
		delete(l.superseded, seq)
		s := l.byTarget[r.token]
		if i, found := slices.BinarySearch(s, seq); found {
			l.byTarget[r.token] = slices.Delete(s, i, i+1)
		}
	}
	l.compactOrder()
}

// compactOrder drops the entries of forgotten rows from order once they are half of it: each
// compaction costs O(n) after at least n/2 forgets; the caller holds mu for writing.
func (l *Ledger) compactOrder() {
	if l.dead < 64 || 2*l.dead < len(l.order) {
		return
	}
	l.order = slices.DeleteFunc(l.order, func(seq uint64) bool { _, ok := l.rows[seq]; return !ok })
	l.dead = 0
}

// ForgetTarget removes every row of a target, and its reports on rows the ledger never held,
// and returns the sequences of the rows.
func (l *Ledger) ForgetTarget(tok string) []uint64 {
	l.mu.RLock()
	seqs := slices.Clone(l.byTarget[tok])
	l.mu.RUnlock()
	l.Forget(seqs...)
	l.mu.Lock()
	delete(l.byTarget, tok)
	delete(l.maxApplied, tok)
	// Reports of the target whose rows never arrived (trimmed before a replay read them).
	for seq, a := range l.applied {
		if a.token == tok {
			if _, ok := l.rows[seq]; !ok {
				delete(l.applied, seq)
			}
		}
	}
	l.mu.Unlock()
	return seqs
}

// view returns a copy of row r with its applied and cleared state merged in.
func (l *Ledger) view(r *Row) Row {
	out := *r
	if a, ok := l.applied[r.InstanceID]; ok && a.token == r.token {
		d := a.st.Downloaded
		out.DateDownloaded = &d
		out.Status = 1
		if a.st.Error != nil {
			out.ErrorCode, out.ErrorMessage = a.st.Error.Code, a.st.Error.Message
			out.ClearedBy = l.superseded[r.InstanceID]
			out.ErrorCleared = l.cleared[r.InstanceID] || out.ClearedBy != 0
		}
	}
	return out
}

// Filter selects rows. Zero values select everything.
type Filter struct {
	Token   string // one target
	Pending bool   // only rows not downloaded
	Errors  bool   // only rows with an uncleared error
	Limit   int    // newest N rows after filtering
}

// List returns the rows selected by f in posting order. It walks an index from the newest row
// back, so a limit bounds its cost: the pending and error filters read only those rows, the
// target filter only the target's.
func (l *Ledger) List(f Filter) []Row {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var seqs []uint64
	switch {
	case f.Token != "":
		seqs = l.byTarget[f.Token]
	case f.Errors:
		seqs = l.errs
	case f.Pending:
		seqs = l.pending
	default:
		seqs = l.order
	}
	n := len(seqs)
	if f.Limit > 0 {
		n = min(n, f.Limit)
	}
	out := make([]Row, 0, n)
	for i := len(seqs) - 1; i >= 0 && (f.Limit <= 0 || len(out) < f.Limit); i-- {
		r := l.rows[seqs[i]]
		if r == nil {
			continue // forgotten, not yet compacted out of order
		}
		v := l.view(r)
		if f.Pending && v.Status != 0 {
			continue
		}
		if f.Errors && (v.ErrorMessage == "" || v.ErrorCleared) {
			continue
		}
		out = append(out, v)
	}
	slices.Reverse(out)
	return out
}

// Row returns one row by instance id.
func (l *Ledger) Row(seq uint64) (Row, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	r, ok := l.rows[seq]
	if !ok {
		return Row{}, false
	}
	return l.view(r), true
}

// Counts returns, for a target, the instructions not yet downloaded and those that failed with
// an error nobody cleared.
func (l *Ledger) Counts(tok string) (unread, errs int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if c := l.byTargetCounts[tok]; c != nil {
		return c.Pending, c.Errors
	}
	return 0, 0
}

// Downloaded returns the sequences of a target's downloaded rows beyond the newest keep, the
// ones retention trims. Pending rows are never trimmed.
func (l *Ledger) Downloaded(tok string, keep int) []uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var done []uint64
	for _, s := range l.byTarget[tok] {
		if v := l.view(l.rows[s]); v.Status == 1 && (v.ErrorMessage == "" || v.ErrorCleared) {
			done = append(done, s)
		}
	}
	if len(done) <= keep {
		return nil
	}
	return done[:len(done)-keep]
}

// MaxApplied returns the highest sequence a target reported on (applied or failed).
func (l *Ledger) MaxApplied(tok string) uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.maxApplied[tok]
}
