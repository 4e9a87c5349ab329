package target

import (
	"fmt"
	"strings"
	"testing"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/store"
)

func finishedMsg(t *testing.T, run string, rowBytes int) store.OutMsg {
	t.Helper()
	r := schemas.RunResult{RunID: run, Phase: schemas.PhaseFinished, JobID: "8a0e7a40-0000-4000-8000-000000000001", JobName: "j",
		Server: "SQL01", RunStatus: 1, Message: "ok"}
	if rowBytes > 0 {
		r.Rows = jobs.EncodeRows([]jobs.HistoryRow{{RunID: run, JobID: r.JobID, JobName: "j", StepName: jobs.JobOutcomeStepName,
			RunStatus: jobs.RunSucceeded, RunDate: 20260101, RunTime: 120000, Message: strings.Repeat("x", rowBytes), Server: "SQL01"}}, jobs.MaxRowsBytes)
	}
	b, err := schemas.Encode(&r)
	if err != nil {
		t.Fatal(err)
	}
	return store.OutMsg{Subject: "msx.result.SQL01.j", MsgID: "run-" + run + "-finished", Payload: b}
}

func startedMsg(run string) store.OutMsg {
	return store.OutMsg{Subject: "msx.result.SQL01.j", MsgID: "run-" + run + "-started", Payload: []byte(strings.Repeat("s", 200))}
}

func eventOut(id string) store.OutMsg {
	return store.OutMsg{Subject: "msx.event.SQL01.16", MsgID: "event-" + id, Payload: []byte(strings.Repeat("e", 500))}
}

func heldIDs(s *spool) []string {
	var out []string
	for _, h := range s.snapshot() {
		for _, m := range s.msgs(h) {
			out = append(out, m.MsgID)
		}
	}
	return out
}

// TestSpoolPolicy: over its limit the spool drops, oldest first, superseded start reports,
// then events, then history rows; never an outcome, and the order of what stays is kept.
func TestSpoolPolicy(t *testing.T) {
	tests := []struct {
		name        string
		over        int // bytes the writes exceed the limit by
		writes      func(t *testing.T) []store.Write
		wantIDs     string
		wantDropped dropCount
		wantRows    int // finished reports that still carry rows
	}{
		{
			name: "under the limit: everything kept",
			over: -1,
			writes: func(t *testing.T) []store.Write {
				return []store.Write{
					{StartRun: "a", Msgs: []store.OutMsg{startedMsg("a")}},
					{FinishRun: "a", Msgs: []store.OutMsg{finishedMsg(t, "a", 1000), eventOut("a")}},
				}
			},
			wantIDs: "run-a-started,run-a-finished,event-a", wantRows: 1,
		},
		{
			name: "superseded start reports go first",
			over: 100, // less than one start report
			writes: func(t *testing.T) []store.Write {
				return []store.Write{
					{StartRun: "a", Msgs: []store.OutMsg{startedMsg("a")}},
					{StartRun: "b", Msgs: []store.OutMsg{startedMsg("b")}},
					{FinishRun: "a", Msgs: []store.OutMsg{finishedMsg(t, "a", 600), eventOut("a")}},
				}
			},
			// b's start report stays: its outcome is not held.
			wantIDs: "run-b-started,run-a-finished,event-a", wantDropped: dropCount{started: 1}, wantRows: 1,
		},
		{
			name: "then events, oldest first",
			over: 300, // less than one event
			writes: func(t *testing.T) []store.Write {
				return []store.Write{
					{Msgs: []store.OutMsg{eventOut("1")}},
					{FinishRun: "a", Msgs: []store.OutMsg{finishedMsg(t, "a", 600), eventOut("2")}},
				}
			},
			wantIDs: "run-a-finished,event-2", wantDropped: dropCount{events: 1}, wantRows: 1,
		},
		{
			name: "then history rows; outcomes stay even over the limit",
			over: 1 << 20,
			writes: func(t *testing.T) []store.Write {
				return []store.Write{
					{FinishRun: "a", Msgs: []store.OutMsg{finishedMsg(t, "a", 3000), eventOut("a")}},
					{FinishRun: "b", Msgs: []store.OutMsg{finishedMsg(t, "b", 3000)}},
				}
			},
			wantIDs: "run-a-finished,run-b-finished", wantDropped: dropCount{events: 1, rows: 2}, wantRows: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := tt.writes(t)
			total := 0
			for _, w := range ws {
				total += writeSize(w)
			}
			s := newSpool(max(total-tt.over, 1))
			for _, w := range ws {
				s.add(w)
			}
			if got := strings.Join(heldIDs(s), ","); got != tt.wantIDs {
				t.Errorf("held %s, want %s", got, tt.wantIDs)
			}
			if d := s.takeDropped(); d != tt.wantDropped {
				t.Errorf("dropped %+v, want %+v", d, tt.wantDropped)
			}
			rows := 0
			for _, h := range s.snapshot() {
				for _, m := range s.msgs(h) {
					var r schemas.RunResult
					if strings.HasSuffix(m.MsgID, "-finished") {
						if err := schemas.Decode(m.Payload, &r); err != nil {
							t.Fatal(err)
						}
						if len(r.Rows) > 0 {
							rows++
						} else if r.Message == "ok" {
							t.Errorf("%s lost its rows without saying so: %q", m.MsgID, r.Message)
						}
					}
				}
			}
			if rows != tt.wantRows {
				t.Errorf("%d outcomes with rows, want %d", rows, tt.wantRows)
			}
			if st := s.state(); st.bytes != sizeOf(s) {
				t.Errorf("accounted %d bytes, holds %d", st.bytes, sizeOf(s))
			}
		})
	}
}

func sizeOf(s *spool) int {
	n := 0
	for _, h := range s.snapshot() {
		n += writeSize(h.w)
	}
	return n
}

// TestSpoolDrain: writes committed are removed without what was held after them; a published
// write keeps only its run bookkeeping, and one with none is forgotten.
func TestSpoolDrain(t *testing.T) {
	s := newSpool(1 << 20)
	for i := range 3 {
		s.add(store.Write{Msgs: []store.OutMsg{eventOut(fmt.Sprint(i))}})
	}
	hs := s.snapshot()
	s.add(store.Write{StartRun: "late", Msgs: []store.OutMsg{startedMsg("late")}})
	s.remove(hs)
	if got := strings.Join(heldIDs(s), ","); got != "run-late-started" {
		t.Fatalf("after remove: %s", got)
	}
	h := s.snapshot()[0]
	s.published(h)
	st := s.state()
	if st.writes != 1 || st.reports != 0 || st.bytes != 0 {
		t.Errorf("after publishing a start report: %+v, want its running row only", st)
	}
	if w := s.writes(s.snapshot()); len(w) != 1 || w[0].StartRun != "late" || len(w[0].Msgs) != 0 {
		t.Errorf("left to commit: %+v", w)
	}
	s.add(store.Write{Msgs: []store.OutMsg{eventOut("x")}})
	s.published(s.snapshot()[1])
	if st := s.state(); st.writes != 1 {
		t.Errorf("a published event with nothing else to write is still held: %+v", st)
	}
}
