package ledger

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas"
)

// scan answers what the indexes answer by reading every row, as the ledger did before it kept
// them.
func scan(l *Ledger, f Filter) []Row {
	var seqs []uint64
	for s, r := range l.rows {
		if f.Token == "" || r.token == f.Token {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	var out []Row
	for _, s := range seqs {
		v := l.view(l.rows[s])
		if f.Pending && v.Status != 0 || f.Errors && (v.ErrorMessage == "" || v.ErrorCleared) {
			continue
		}
		out = append(out, v)
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out
}

// TestIndexesMatchScan runs random posts, reports (in either order), clears and trims, and
// checks after each step that every filter, the per-target counts and the per-job counts
// answer what a scan of every row answers.
func TestIndexesMatchScan(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			l := New()
			toks := []string{"A", "B", "C"}
			ops := []schemas.Operation{schemas.OpInsert, schemas.OpUpdate, schemas.OpDelete, schemas.OpStart, schemas.OpSyncTime}
			for step := range 400 {
				seq := uint64(rng.IntN(80) + 1)
				tok := toks[rng.IntN(len(toks))]
				switch rng.IntN(5) {
				case 0, 1:
					in := &schemas.Instruction{ID: fmt.Sprint(seq), Operation: ops[rng.IntN(len(ops))], Posted: time.Unix(1, 0)}
					if in.Operation.ObjectType() == "job" && rng.IntN(4) > 0 {
						in.ObjectID = fmt.Sprint("job", rng.IntN(3))
					}
					l.Posted(seq, tok, tok, in)
				case 2:
					if r, ok := l.rows[seq]; ok && rng.IntN(5) > 0 {
						tok = r.token
					}
					st := schemas.InstructionStatus{Seq: seq, Downloaded: time.Unix(2, 0)}
					if rng.IntN(3) == 0 {
						st.Error = &schemas.Error{Code: 1, Message: "failed"}
					}
					l.Applied(tok, st)
				case 3:
					l.Clear(seq)
				case 4:
					if rng.IntN(4) == 0 {
						l.ForgetTarget(tok)
					} else {
						l.Forget(seq)
					}
				}
				for _, f := range []Filter{{}, {Pending: true}, {Errors: true}, {Errors: true, Limit: 3}, {Pending: true, Limit: 2}, {Limit: 5}, {Token: "B"}, {Token: "A", Errors: true}} {
					if got, want := l.List(f), scan(l, f); !slices.EqualFunc(got, want, func(a, b Row) bool { return a.InstanceID == b.InstanceID }) {
						t.Fatalf("step %d, filter %+v: %d rows, want %d", step, f, len(got), len(want))
					}
				}
				jobs := map[string]Counts{}
				for _, tk := range toks {
					var want Counts
					for _, r := range scan(l, Filter{Token: tk}) {
						var c *Counts
						if r.ObjectID != "" {
							cc := jobs[r.ObjectID]
							c = &cc
						}
						switch {
						case r.Status == 0:
							want.Pending++
							if c != nil {
								c.Pending++
							}
						case r.ErrorMessage != "" && !r.ErrorCleared:
							want.Errors++
							if c != nil {
								c.Errors++
							}
						}
						if c != nil && *c != (Counts{}) {
							jobs[r.ObjectID] = *c
						}
					}
					if u, e := l.Counts(tk); u != want.Pending || e != want.Errors {
						t.Fatalf("step %d: counts of %s = %d, %d; want %+v", step, tk, u, e, want)
					}
				}
				if got := l.JobCounts(); !mapsEqual(got, jobs) {
					t.Fatalf("step %d: job counts %v, want %v", step, got, jobs)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]Counts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
