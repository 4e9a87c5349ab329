package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func msg(id string) OutMsg {
	return OutMsg{Subject: "msx.result.T.J", MsgID: id, Payload: []byte(`{"id":"` + id + `"}`)}
}

func insertJob(id string, version int) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR REPLACE INTO jobs(job_id, name, version, definition) VALUES (?,?,?,?)`, id, "job "+id, version, "{}")
		return err
	}
}

func reportOf(seq uint64) func(error) []OutMsg {
	return func(applyErr error) []OutMsg {
		st := "applied"
		if applyErr != nil {
			st = "failed"
		}
		return []OutMsg{msg(fmt.Sprintf("applied-%d-%s", seq, st))}
	}
}

func outboxIDs(t *testing.T, s *Store, after int64) []string {
	t.Helper()
	q, err := s.Outbox(t.Context(), after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range q {
		out = append(out, m.MsgID)
	}
	return out
}

func TestApply(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name       string
		fn         func(tx *sql.Tx) error
		wantApply  error
		wantStatus string
		wantJobs   int
		wantOutbox string
	}{
		{name: "applied", fn: insertJob("A", 1), wantStatus: "applied", wantJobs: 1, wantOutbox: "applied-7-applied"},
		{name: "failed: rolled back, recorded, reported", fn: func(tx *sql.Tx) error {
			if err := insertJob("A", 1)(tx); err != nil {
				return err
			}
			return errBoom
		}, wantApply: errBoom, wantStatus: "failed", wantJobs: 0, wantOutbox: "applied-7-failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "target.db"))
			applyErr, err := s.Apply(t.Context(), 7, "i-7", 1, tt.fn, reportOf(7))
			if err != nil || !errors.Is(applyErr, tt.wantApply) {
				t.Fatalf("Apply = %v, %v; want %v, nil", applyErr, err, tt.wantApply)
			}
			st, ok, err := s.Applied(t.Context(), "i-7")
			if err != nil || !ok || st != tt.wantStatus {
				t.Errorf("Applied = %q, %v, %v; want %q", st, ok, err, tt.wantStatus)
			}
			if _, n, _ := s.JobDigest(t.Context()); n != tt.wantJobs {
				t.Errorf("%d jobs held, want %d", n, tt.wantJobs)
			}
			if seq, _ := s.AppliedSeq(t.Context()); seq != 7 {
				t.Errorf("applied sequence %d, want 7", seq)
			}
			if got := strings.Join(outboxIDs(t, s, 0), ","); got != tt.wantOutbox {
				t.Errorf("outbox %s, want %s", got, tt.wantOutbox)
			}
		})
	}
}

// TestApplyDuplicate: the same instruction id delivered again (at another sequence, as a
// republish) has no second effect; its report is queued again so the master's row is answered,
// and the cursor moves past it.
func TestApplyDuplicate(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "target.db"))
	calls := 0
	fn := func(tx *sql.Tx) error { calls++; return insertJob("A", calls)(tx) }
	if _, err := s.Apply(t.Context(), 3, "i-1", 1, fn, reportOf(3)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Apply(t.Context(), 9, "i-1", 1, fn, reportOf(9))
	if !errors.Is(err, ErrAlreadyApplied) {
		t.Fatalf("second Apply: %v, want ErrAlreadyApplied", err)
	}
	if calls != 1 {
		t.Errorf("apply ran %d times, want once", calls)
	}
	jobs, _ := s.Jobs(t.Context())
	if len(jobs) != 1 || jobs[0].Version != 1 {
		t.Errorf("jobs = %+v, want version 1 only", jobs)
	}
	if seq, _ := s.AppliedSeq(t.Context()); seq != 9 {
		t.Errorf("applied sequence %d, want 9", seq)
	}
	if got := strings.Join(outboxIDs(t, s, 0), ","); got != "applied-3-applied,applied-9-applied" {
		t.Errorf("outbox %s", got)
	}
}

// TestCrashBetweenSteps closes the database between the steps of an instruction's life and of
// a run's (as a crash does; each step is one transaction) and reopens it: what committed is
// all there, a redelivered instruction is recognised, an unfinished run is found.
func TestCrashBetweenSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "target.db")
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, 1, "i-1", 1, insertJob("A", 1), reportOf(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.RunStarted(ctx, "r-1", []byte("started doc"), msg("run-r-1-started")); err != nil {
		t.Fatal(err)
	}
	if err := s.ProcessStarted(ctx, StepProcess{RunID: "r-1", StepID: 2, StepName: "load", PID: 100, PGID: 100, StartTime: 42}); err != nil {
		t.Fatal(err)
	}
	s.Close() // crash: the run never finished

	s = open(t, path)
	if _, err := s.Apply(ctx, 1, "i-1", 1, insertJob("A", 2), reportOf(1)); !errors.Is(err, ErrAlreadyApplied) {
		t.Fatalf("redelivered after the crash: %v, want ErrAlreadyApplied", err)
	}
	runs, err := s.Interrupted(ctx)
	if err != nil || string(runs["r-1"]) != "started doc" || len(runs) != 1 {
		t.Fatalf("Interrupted = %q, %v", runs, err)
	}
	procs, err := s.Processes(ctx)
	if err != nil || len(procs["r-1"]) != 1 || procs["r-1"][0] != (StepProcess{RunID: "r-1", StepID: 2, StepName: "load", PID: 100, PGID: 100, StartTime: 42}) {
		t.Fatalf("Processes = %+v, %v", procs, err)
	}
	if err := s.RunFinished(ctx, "r-1", msg("run-r-1-finished")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path)
	runs, _ = s.Interrupted(ctx)
	procs, _ = s.Processes(ctx)
	if len(runs) != 0 || len(procs) != 0 {
		t.Errorf("after RunFinished and a restart: interrupted %v, processes %v; want none", runs, procs)
	}
	if got := strings.Join(outboxIDs(t, s, 0), ","); got != "applied-1-applied,run-r-1-started,applied-1-applied,run-r-1-finished" {
		t.Errorf("outbox %s", got)
	}
	jobs, _ := s.Jobs(ctx)
	if len(jobs) != 1 || jobs[0].Version != 1 {
		t.Errorf("jobs = %+v, want version 1", jobs)
	}
}

// TestOutboxOrder: messages leave in the order they were queued, across transactions, and
// Sent forgets exactly those up to the id given.
func TestOutboxOrder(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "target.db"))
	ctx := t.Context()
	var want []string
	for i := range 20 {
		a, b := fmt.Sprintf("m%02da", i), fmt.Sprintf("m%02db", i)
		if err := s.Commit(ctx, Write{Msgs: []OutMsg{msg(a)}}, Write{Msgs: []OutMsg{msg(b)}}); err != nil {
			t.Fatal(err)
		}
		want = append(want, a, b)
	}
	if got := outboxIDs(t, s, 0); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("outbox order %v, want %v", got, want)
	}
	q, _ := s.Outbox(ctx, 0, 5)
	if len(q) != 5 {
		t.Fatalf("%d rows, want 5", len(q))
	}
	if got := outboxIDs(t, s, q[4].ID); strings.Join(got, ",") != strings.Join(want[5:], ",") {
		t.Errorf("after id %d: %v, want %v", q[4].ID, got, want[5:])
	}
	if err := s.Sent(ctx, q[4].ID); err != nil {
		t.Fatal(err)
	}
	if got := outboxIDs(t, s, 0); strings.Join(got, ",") != strings.Join(want[5:], ",") {
		t.Errorf("after Sent: %v, want %v", got, want[5:])
	}
}

// TestFullDatabase: a database that cannot grow (max_page_count stands for a full disk)
// refuses a write with an error Refused recognises, keeps what it had, and takes the write once
// it may grow again.
func TestFullDatabase(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "target.db"))
	ctx := context.Background()
	if err := s.Enqueue(ctx, msg("before")); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.DB().QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	big := OutMsg{Subject: "s", MsgID: "big", Payload: []byte(strings.Repeat("x", 64<<10))}
	err := s.Commit(ctx, Write{StartRun: "r-1", StartDoc: []byte("doc"), Msgs: []OutMsg{big}})
	if err == nil || !Refused(err) {
		t.Fatalf("Commit on a full database = %v, want an error Refused recognises", err)
	}
	if runs, _ := s.Interrupted(ctx); len(runs) != 0 {
		t.Errorf("a refused write left a running row: %v", runs)
	}
	if got := outboxIDs(t, s, 0); strings.Join(got, ",") != "before" {
		t.Errorf("outbox after the refused write: %v", got)
	}
	if _, err := s.DB().Exec(`PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, Write{StartRun: "r-1", StartDoc: []byte("doc"), Msgs: []OutMsg{big}}); err != nil {
		t.Fatalf("Commit once the database may grow: %v", err)
	}
	if got := outboxIDs(t, s, 0); strings.Join(got, ",") != "before,big" {
		t.Errorf("outbox: %v", got)
	}
	if Refused(errors.New("no such table")) || Refused(nil) {
		t.Error("Refused recognises errors that are not a full disk")
	}
}
