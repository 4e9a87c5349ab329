package ledger

import (
	"strconv"
	"testing"

	"github.com/msx-project/msx/schemas"
)

func jobInstr(id string, op schemas.Operation, job string, version int) *schemas.Instruction {
	in := &schemas.Instruction{ID: id, Operation: op, ObjectID: job, Source: "M"}
	if op == schemas.OpInsert {
		in.Job = []byte(`{"version_number":` + strconv.Itoa(version) + `}`)
	}
	return in
}

var (
	ok   = schemas.InstructionStatus{Status: schemas.StatusApplied}
	fail = schemas.InstructionStatus{Status: schemas.StatusFailed, Error: &schemas.Error{Code: 50030, Message: "proxy"}}
)

func report(st schemas.InstructionStatus, seq uint64) schemas.InstructionStatus {
	st.Seq = seq
	return st
}

// TestSupersededErrors: a failed instruction's error is cleared when a later instruction for the
// same job succeeds, whatever order the streams replay in; other jobs' errors stay.
func TestSupersededErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		later   *schemas.Instruction
		laterOK bool
		cleared bool
	}{
		{"INSERT of the same job succeeds", jobInstr("b", schemas.OpInsert, "J", 2), true, true},
		{"DELETE of the same job succeeds", jobInstr("b", schemas.OpDelete, "J", 0), true, true},
		{"DELETE of all jobs succeeds", jobInstr("b", schemas.OpDelete, "", 0), true, true},
		{"START of the same job succeeds", jobInstr("b", schemas.OpStart, "J", 0), true, false},
		{"INSERT of another job succeeds", jobInstr("b", schemas.OpInsert, "K", 1), true, false},
		{"INSERT of the same job fails again", jobInstr("b", schemas.OpInsert, "J", 2), false, false},
	} {
		for _, order := range []string{"live", "reports first", "later first"} {
			t.Run(tc.name+"/"+order, func(t *testing.T) {
				l := New()
				st2 := report(ok, 2)
				if !tc.laterOK {
					st2 = report(fail, 2)
				}
				switch order {
				case "live":
					l.Posted(1, "A", "A", jobInstr("a", schemas.OpInsert, "J", 1))
					l.Applied("A", report(fail, 1))
					l.Posted(2, "A", "A", tc.later)
					l.Applied("A", st2)
				case "reports first":
					l.Applied("A", report(fail, 1))
					l.Applied("A", st2)
					l.Posted(2, "A", "A", tc.later)
					l.Posted(1, "A", "A", jobInstr("a", schemas.OpInsert, "J", 1))
				case "later first":
					l.Posted(2, "A", "A", tc.later)
					l.Applied("A", st2)
					l.Posted(1, "A", "A", jobInstr("a", schemas.OpInsert, "J", 1))
					l.Applied("A", report(fail, 1))
				}
				r, _ := l.Row(1)
				if r.Version != 1 {
					t.Errorf("row 1 version %d, want 1", r.Version)
				}
				if r.ErrorCleared != tc.cleared {
					t.Fatalf("row 1 cleared = %v, want %v (%+v)", r.ErrorCleared, tc.cleared, r)
				}
				_, errs := l.Counts("A")
				want := 1
				if tc.cleared {
					want = 0
				}
				if !tc.laterOK {
					want++
				}
				if errs != want {
					t.Errorf("%d errors counted, want %d", errs, want)
				}
			})
		}
	}
}

// TestErrorRowsNotTrimmed: retention never trims a row whose error nobody cleared.
func TestErrorRowsNotTrimmed(t *testing.T) {
	l := New()
	l.Posted(1, "A", "A", jobInstr("a", schemas.OpInsert, "J", 1))
	l.Applied("A", report(fail, 1))
	for seq := uint64(2); seq <= 5; seq++ {
		l.Posted(seq, "A", "A", jobInstr(string(rune('a'+seq)), schemas.OpStart, "K", 0))
		l.Applied("A", report(ok, seq))
	}
	if got := l.Downloaded("A", 2); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("trim candidates %v, want [2 3] (the failed row 1 stays)", got)
	}
	if got := l.MaxApplied("A"); got != 5 {
		t.Fatalf("MaxApplied %d, want 5", got)
	}
}
