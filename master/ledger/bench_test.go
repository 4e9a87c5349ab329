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
