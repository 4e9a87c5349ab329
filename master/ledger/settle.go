package ledger

import (
	"slices"

	"github.com/msx-project/msx/schemas"
)

// settle clears errors that a success makes obsolete, once row seq and its report are both
// known (the streams that carry them are replayed independently, in either order): a failed
// row is cleared by a later row of the same target that succeeded and supersedes it. The caller
// holds mu.
func (l *Ledger) settle(seq uint64) {
	r, ok := l.rows[seq]
	if !ok {
		return
	}
	a, ok := l.applied[seq]
	if !ok || a.token != r.token {
		return
	}
	seqs := l.byTarget[r.token]
	i, _ := slices.BinarySearch(seqs, seq)
	if a.st.Error == nil {
		for _, earlier := range seqs[:i] {
			if e := l.rows[earlier]; l.failed(earlier) && supersedes(r, e) && l.superseded[earlier] == 0 {
				l.change(earlier, func() { l.superseded[earlier] = seq })
			}
		}
		return
	}
	for _, later := range seqs[i+1:] {
		if lr := l.rows[later]; l.succeeded(later) && supersedes(lr, r) {
			l.superseded[seq] = later
			return
		}
	}
}

func (l *Ledger) failed(seq uint64) bool {
	a, ok := l.applied[seq]
	return ok && a.st.Error != nil
}

func (l *Ledger) succeeded(seq uint64) bool {
	a, ok := l.applied[seq]
	return ok && a.st.Error == nil
}

// supersedes reports whether the success of row ok makes the failure of an earlier row bad
// moot: a new definition of a job (INSERT, UPDATE, DELETE) settles every earlier failure of that
// job; a START or STOP settles earlier STARTs and STOPs of the job; DELETE of all jobs settles
// every earlier job failure; a server instruction settles earlier ones of the same operation.
func supersedes(ok, bad *Row) bool {
	switch {
	case ok.ObjectType != bad.ObjectType:
		return false
	case ok.ObjectType == "server":
		return ok.Operation == bad.Operation
	case ok.Operation == schemas.OpDelete && ok.ObjectID == "":
		return true
	case ok.ObjectID != bad.ObjectID:
		return false
	case definition(ok.Operation):
		return true
	default:
		return !definition(bad.Operation)
	}
}

// definition reports whether op changes which definition of a job a target holds.
func definition(op schemas.Operation) bool {
	return op == schemas.OpInsert || op == schemas.OpUpdate || op == schemas.OpDelete
}
