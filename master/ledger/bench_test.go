package ledger

// Benchmarks of download-list reads at fleet sizes:
//
//	go test -run '^$' -bench . -benchtime 20x ./master/ledger/

import (
	"fmt"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas"
)

// benchLedger holds perTarget INSERT rows per target over 100 jobs: every target downloaded
// them, one row in 50 failed, and the newest row of each target is still pending.
func benchLedger(targets, perTarget int) *Ledger {
	l := New()
	seq := uint64(0)
	for i := range perTarget {
		for t := range targets {
			seq++
			tok := fmt.Sprintf("T%05d", t)
			in := &schemas.Instruction{ID: fmt.Sprint(seq), Operation: schemas.OpInsert, ObjectID: fmt.Sprintf("job%03d", (i*7+t)%100), Posted: time.Unix(1, 0)}
			l.Posted(seq, tok, tok, in)
			if i == perTarget-1 {
				continue
			}
			st := schemas.InstructionStatus{Seq: seq, Downloaded: time.Unix(2, 0)}
			if seq%50 == 0 {
				st.Error = &schemas.Error{Code: 1, Message: "failed"}
			}
			l.Applied(tok, st)
		}
	}
	return l
}

func BenchmarkLedger(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		l := benchLedger(n, 20)
		for _, tc := range []struct {
			name string
			f    Filter
		}{
			{"all", Filter{}},
			{"errors/limit=20", Filter{Errors: true, Limit: 20}},
			{"pending/limit=20", Filter{Pending: true, Limit: 20}},
			{"target", Filter{Token: "T00042"}},
		} {
			b.Run(fmt.Sprintf("List/%s/targets=%d", tc.name, n), func(b *testing.B) {
				for b.Loop() {
					if len(l.List(tc.f)) == 0 {
						b.Fatal("no rows")
					}
				}
			})
		}
		b.Run(fmt.Sprintf("JobCounts/targets=%d", n), func(b *testing.B) {
			for b.Loop() {
				if len(l.JobCounts()) != 100 {
					b.Fatal("counts")
				}
			}
		})
	}
}

// BenchmarkLedgerTrim is retention at steady state: one op posts a row to a target of a full
// download list and trims that target's oldest row, as the master does when a target reports.
func BenchmarkLedgerTrim(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			const perTarget = 20
			l := benchLedger(n, perTarget)
			seq := uint64(n * perTarget)
			t := 0
			for b.Loop() {
				seq++
				tok := fmt.Sprintf("T%05d", t)
				t = (t + 1) % n
				l.Posted(seq, tok, tok, &schemas.Instruction{ID: fmt.Sprint(seq), Operation: schemas.OpInsert, ObjectID: "job000"})
				l.Applied(tok, schemas.InstructionStatus{Seq: seq, Downloaded: time.Unix(2, 0)})
				l.Forget(l.Downloaded(tok, perTarget-2)...)
			}
			if got := len(l.List(Filter{Token: "T00000"})); got > perTarget {
				b.Fatalf("target holds %d rows after trimming, want at most %d", got, perTarget)
			}
		})
	}
}
