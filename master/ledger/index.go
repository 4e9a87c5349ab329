package ledger

import "slices"

// Counts of rows by the state the views filter on, kept as rows change so that per-target and
// per-job counts and the pending and error lists never scan the whole download list.
type Counts struct {
	// Pending rows are not downloaded yet (status 0).
	Pending int
	// Errors are downloaded rows whose error nobody cleared and no later success settled.
	Errors int
}

// class is what a row counts as.
type class int

const (
	classDone class = iota
	classPending
	classError
)

// classOf returns the class of row seq as view would show it; the caller holds mu.
func (l *Ledger) classOf(r *Row) class {
	a, ok := l.applied[r.InstanceID]
	switch {
	case !ok || a.token != r.token:
		return classPending
	case a.st.Error != nil && a.st.Error.Message != "" && !l.cleared[r.InstanceID] && l.superseded[r.InstanceID] == 0:
		return classError
	default:
		return classDone
	}
}

// account adds (sign 1) or removes (sign -1) row seq from the indexes; the caller holds mu for
// writing and calls it with -1 before and +1 after any change of the row's state.
func (l *Ledger) account(seq uint64, sign int) {
	r, ok := l.rows[seq]
	if !ok {
		return
	}
	c := l.classOf(r)
	set := map[class]*[]uint64{classPending: &l.pending, classError: &l.errs}[c]
	if set == nil {
		return
	}
	i, found := slices.BinarySearch(*set, seq)
	switch {
	case sign > 0 && !found:
		*set = slices.Insert(*set, i, seq)
	case sign < 0 && found:
		*set = slices.Delete(*set, i, i+1)
	default:
		return // already (not) there
	}
	bump := func(m map[string]*Counts, k string) {
		n := m[k]
		if n == nil {
			n = &Counts{}
			m[k] = n
		}
		if c == classPending {
			n.Pending += sign
		} else {
			n.Errors += sign
		}
		if *n == (Counts{}) {
			delete(m, k)
		}
	}
	bump(l.byTargetCounts, r.token)
	if r.ObjectID != "" {
		bump(l.byJobCounts, r.ObjectID)
	}
}

// change runs edit on row seq's state between taking it out of the indexes and putting it back.
func (l *Ledger) change(seq uint64, edit func()) {
	l.account(seq, -1)
	edit()
	l.account(seq, 1)
}

// JobCounts returns the Counts of every job that has pending or failed rows, by job id.
func (l *Ledger) JobCounts() map[string]Counts {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make(map[string]Counts, len(l.byJobCounts))
	for k, c := range l.byJobCounts {
		out[k] = *c
	}
	return out
}
