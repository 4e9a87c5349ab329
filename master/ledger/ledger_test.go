package ledger

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas"
)

func TestFlags(t *testing.T) {
	now := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		ago      time.Duration
		interval time.Duration
		errs     int
		want     int
	}{
		{"fresh", 10 * time.Second, time.Minute, 0, 1},
		{"exactly three intervals", 3 * time.Minute, time.Minute, 0, 1},
		{"past three intervals", 3*time.Minute + time.Second, time.Minute, 0, 2},
		{"blocked", 0, time.Minute, 1, 5},
		{"offline and blocked", time.Hour, time.Minute, 2, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Flags(now, now.Add(-tc.ago), tc.interval, tc.errs); got != tc.want {
				t.Fatalf("Flags = %d, want %d", got, tc.want)
			}
		})
	}
}

func instr(op schemas.Operation) *schemas.Instruction {
	return &schemas.Instruction{ID: "i" + op.String(), Operation: op, Source: "M", Posted: time.Unix(1, 0)}
}

func TestLedgerRules(t *testing.T) {
	l := New()
	l.Posted(3, "B", "B", instr(schemas.OpSyncTime))
	l.Posted(1, "A", "A", instr(schemas.OpSetPoll))
	l.Posted(2, "A", "A", instr(schemas.OpStart))
	l.Posted(2, "A", "A", instr(schemas.OpStart)) // repeat: ignored
	l.Posted(4, "A", "A", instr(schemas.OpSyncTime))

	if got := len(l.List(Filter{})); got != 4 {
		t.Fatalf("%d rows, want 4", got)
	}
	if u, e := l.Counts("A"); u != 3 || e != 0 {
		t.Fatalf("A counts %d,%d want 3,0", u, e)
	}
	// A report from B about A's row is refused: identity comes from the subject.
	if l.Applied("B", schemas.InstructionStatus{Seq: 1, Status: schemas.StatusApplied}) {
		t.Fatal("cross-target report accepted")
	}
	l.Applied("A", schemas.InstructionStatus{Seq: 1, Status: schemas.StatusApplied, Downloaded: time.Unix(2, 0)})
	l.Applied("A", schemas.InstructionStatus{Seq: 2, Status: schemas.StatusFailed, Error: &schemas.Error{Code: 14262, Message: "no job"}})
	// Applied before Posted (replay order) still joins.
	l.Applied("A", schemas.InstructionStatus{Seq: 5, Status: schemas.StatusApplied})
	l.Posted(5, "A", "A", instr(schemas.OpReEnlist))

	if u, e := l.Counts("A"); u != 1 || e != 1 {
		t.Fatalf("A counts %d,%d want 1,1", u, e)
	}
	// The failed row does not hold back the later ones.
	if r, _ := l.Row(5); r.Status != 1 {
		t.Fatalf("row after a failed one not downloaded: %+v", r)
	}
	if got := l.List(Filter{Token: "A", Errors: true}); len(got) != 1 || got[0].InstanceID != 2 || got[0].ErrorCode != 14262 {
		t.Fatalf("errors filter: %+v", got)
	}
	if got := l.List(Filter{Token: "A", Pending: true}); len(got) != 1 || got[0].InstanceID != 4 {
		t.Fatalf("pending filter: %+v", got)
	}
	l.Clear(2)
	if _, e := l.Counts("A"); e != 0 {
		t.Fatal("cleared error still counted")
	}
	if got := l.Downloaded("A", 1); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("trim candidates %v, want [1 2]", got)
	}
	l.Forget(1)
	if got := l.ForgetTarget("A"); len(got) != 3 {
		t.Fatalf("ForgetTarget removed %v", got)
	}
	if got := l.List(Filter{}); len(got) != 1 || got[0].TargetServer != "B" {
		t.Fatalf("after forgetting A: %+v", got)
	}
}

// Forgotten rows leave every view at once, before and after order is compacted, and a row
// posted again after it was forgotten (a stream replayed) is listed once.
func TestForgetKeepsOrderExact(t *testing.T) {
	l := New()
	const n = 1000
	for seq := uint64(1); seq <= n; seq++ {
		l.Posted(seq, "T", "T", &schemas.Instruction{ID: fmt.Sprint(seq), Operation: schemas.OpStart})
	}
	want := func(seqs ...uint64) {
		t.Helper()
		var got []uint64
		for _, r := range l.List(Filter{}) {
			got = append(got, r.InstanceID)
		}
		if !slices.Equal(got, seqs) {
			t.Fatalf("List holds %d rows %v..., want %d %v...", len(got), got[:min(5, len(got))], len(seqs), seqs[:min(5, len(seqs))])
		}
		if len(l.List(Filter{Limit: 3})) != min(3, len(seqs)) {
			t.Fatal("a limited List skipped live rows")
		}
	}
	var live []uint64
	for seq := uint64(1); seq <= n; seq++ {
		if seq%3 != 0 {
			l.Forget(seq) // two in three: compaction runs along the way
		} else {
			live = append(live, seq)
		}
		if seq == 100 || seq == n {
			want(append(live, seqRange(seq+1, n)...)...)
		}
	}
	l.Posted(1, "T", "T", &schemas.Instruction{ID: "again", Operation: schemas.OpStart})
	l.Posted(2, "T", "T", &schemas.Instruction{ID: "again2", Operation: schemas.OpStart})
	want(append([]uint64{1, 2}, live...)...)
	l.Forget(live...)
	want(1, 2)
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// A target's reports on rows the ledger never held (trimmed before a replay read them) go with
// the target.
func TestForgetTargetDropsOrphanReports(t *testing.T) {
	l := New()
	l.Applied("A", schemas.InstructionStatus{Seq: 7, Downloaded: time.Unix(2, 0)})
	l.Applied("B", schemas.InstructionStatus{Seq: 8, Downloaded: time.Unix(2, 0)})
	l.ForgetTarget("A")
	if _, ok := l.applied[7]; ok {
		t.Fatal("the forgotten target's report on a row never held is kept")
	}
	if _, ok := l.applied[8]; !ok {
		t.Fatal("another target's report went with it")
	}
}
