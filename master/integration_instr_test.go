package master_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
)

// insertJob is an INSERT of a minimal job snapshot.
func insertJob(id string, version int) schemas.Instruction {
	job, _ := json.Marshal(map[string]any{"job_id": id, "version_number": version, "name": "job " + id, "steps": []any{}})
	return schemas.Instruction{Operation: schemas.OpInsert, ObjectID: id, ObjectName: "job " + id, Job: job}
}

func TestIntegrationServerInstructions(t *testing.T) {
	f := newFixture(t)
	a := f.startTarget(t, "sql21")
	b := f.startTarget(t, "sql22")
	f.waitOnline(t, a)
	f.waitOnline(t, b)

	t.Run("setpoll", func(t *testing.T) {
		p, err := f.m.Action(t.Context(), "setpoll", []string{"sql21"}, false, 120)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 1 || p[0].TargetServer != "SQL21" || p[0].Operation != "SET-POLL" {
			t.Fatalf("posted %+v, want one SET-POLL row for SQL21", p)
		}
		r := f.waitApplied(t, p[0].InstanceID)
		if r.Operation != schemas.OpSetPoll || r.TargetServer != "SQL21" || r.SourceServer != masterName || r.ObjectType != "server" {
			t.Errorf("row %+v", r)
		}
		f.waitTarget(t, a, "poll_interval 120 in a heartbeat", func(ts master.TargetServer) bool { return ts.PollInterval == 120 })
		if ts, _ := f.m.TargetServer("sql22"); ts.PollInterval != 60 {
			t.Errorf("SQL22 poll_interval %d, want 60 (not targeted)", ts.PollInterval)
		}
	})

	t.Run("setpoll out of range", func(t *testing.T) {
		rows := len(f.m.Ledger.List(ledger.Filter{}))
		for _, secs := range []int{5, 9, 28801} {
			_, err := f.m.Action(t.Context(), "setpoll", []string{"sql21"}, false, secs)
			if code := master.CodeOf(err); code != 14266 {
				t.Errorf("setpoll %d: %v (code %d), want 14266", secs, err, code)
			}
		}
		if n := len(f.m.Ledger.List(ledger.Filter{})); n != rows {
			t.Errorf("refused setpoll posted rows: %d, want %d", n, rows)
		}
	})

	t.Run("synctime", func(t *testing.T) {
		r := f.waitApplied(t, f.action(t, "synctime", "sql21", 0))
		if r.Operation != schemas.OpSyncTime {
			t.Errorf("row %+v", r)
		}
	})

	t.Run("reenlist", func(t *testing.T) {
		before := f.reg(t, "SQL21")
		// Make the master's record stale: the re-enlistment must bring the target's own back.
		stale := before
		stale.Location = "stale"
		if err := f.m.Reg.PutTarget(t.Context(), stale); err != nil {
			t.Fatal(err)
		}
		f.waitApplied(t, f.action(t, "reenlist", "sql21", 0))
		ts := f.waitTarget(t, a, "location sent again", func(ts master.TargetServer) bool { return ts.Location == "rack sql21" })
		if ts.ServerID != before.ServerID || !ts.EnlistDate.Equal(before.EnlistDate) {
			t.Errorf("after re-enlist: server_id %d enlist_date %s, want %d %s", ts.ServerID, ts.EnlistDate, before.ServerID, before.EnlistDate)
		}
		if n := len(f.m.TargetServers()); n != 2 {
			t.Errorf("%d targets, want 2", n)
		}
	})

	t.Run("resync", func(t *testing.T) {
		// A job outside the master's catalogue: the resync deletes it (as would drift repair).
		f.waitApplied(t, f.post(t, "sql21", insertJob("job-1", 1)))

		a.stopClean(t)
		pending := f.action(t, "synctime", "sql21", 0)
		pendingRow, _ := f.m.Ledger.Row(pending)
		p, err := f.m.Action(t.Context(), "resync", []string{"sql21"}, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 1 || p[0].Operation != "DELETE" {
			t.Fatalf("resync posted %+v, want one DELETE", p)
		}
		if _, ok := f.m.Ledger.Row(pending); ok {
			t.Errorf("pending row %d survived the resync", pending)
		}
		if ts, _ := f.m.TargetServer("sql21"); ts.UnreadInstructions != 1 {
			t.Errorf("unread_instructions %d after resync, want 1 (the DELETE)", ts.UnreadInstructions)
		}
		a.start(t)
		r := f.waitApplied(t, p[0].InstanceID)
		if r.Operation != schemas.OpDelete || r.ObjectID != "" {
			t.Errorf("resync row %+v, want DELETE of all jobs", r)
		}
		f.waitTarget(t, a, "no jobs held", func(ts master.TargetServer) bool { return ts.Jobs == 0 })
		a.stopClean(t)
		if _, ok := appliedRows(t, a.openStore(t))[pendingRow.InstructionID]; ok {
			t.Errorf("the instruction deleted by resync (%s) was applied", pendingRow.InstructionID)
		}
		a.start(t)
		f.waitOnline(t, a)
	})

	t.Run("all targets", func(t *testing.T) {
		p, err := f.m.Action(t.Context(), "synctime", nil, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range p {
			names = append(names, r.TargetServer)
			f.waitApplied(t, r.InstanceID)
		}
		slices.Sort(names) // posted in server_id order; the two enlisted concurrently
		if !slices.Equal(names, []string{"SQL21", "SQL22"}) {
			t.Errorf("--all posted to %v, want [SQL21 SQL22]", names)
		}
	})

	t.Run("unknown server", func(t *testing.T) {
		for _, action := range []string{"setpoll", "synctime", "reenlist", "resync"} {
			_, err := f.m.Action(t.Context(), action, []string{"sql21", "nosuch"}, false, 60)
			if code := master.CodeOf(err); code != 14262 || !errors.Is(err, registry.ErrUnknownTarget) {
				t.Errorf("%s on an unknown server: %v (code %d), want 14262", action, err, code)
			}
		}
		if _, err := f.m.Action(t.Context(), "nosuchaction", []string{"sql21"}, false, 0); master.CodeOf(err) != master.CodeBadRequest {
			t.Errorf("unknown action: %v, want code %d", err, master.CodeBadRequest)
		}
		if _, err := f.m.Action(t.Context(), "synctime", nil, false, 0); master.CodeOf(err) != master.CodeBadRequest {
			t.Errorf("no target named: %v, want code %d", err, master.CodeBadRequest)
		}
	})
}

func TestIntegrationFailedInstructionDoesNotBlock(t *testing.T) {
	f := newFixture(t)
	a := f.startTarget(t, "sql31")
	f.waitOnline(t, a)

	start := f.post(t, "sql31", schemas.Instruction{Operation: schemas.OpStart, ObjectID: "no-such-job", ObjectName: "ghost"})
	sync := f.post(t, "sql31", schemas.Instruction{Operation: schemas.OpSyncTime, ObjectName: "SQL31"})

	failed := f.waitDownloaded(t, start)
	if failed.ErrorCode != 14262 || !strings.Contains(failed.ErrorMessage, "no-such-job") || failed.Status != 1 {
		t.Errorf("failed row %+v: want status 1, code 14262 and a message naming the job", failed)
	}
	f.waitApplied(t, sync) // the later instruction went through
	ts := f.waitTarget(t, a, "status 5 (normal + blocked)", func(ts master.TargetServer) bool { return ts.Status == 5 })
	if ts.DownloadErrors != 1 || ts.UnreadInstructions != 0 {
		t.Errorf("download_errors %d unread %d, want 1 0", ts.DownloadErrors, ts.UnreadInstructions)
	}
	errs := f.m.Ledger.List(ledger.Filter{Token: f.reg(t, "sql31").Token, Errors: true})
	if len(errs) != 1 || errs[0].InstanceID != start {
		t.Errorf("rows with errors %+v, want only %d", errs, start)
	}

	if err := f.m.ClearError(t.Context(), start, "tester"); err != nil {
		t.Fatalf("clear error: %v", err)
	}
	ts = f.waitTarget(t, a, "status 1 after clearing", func(ts master.TargetServer) bool { return ts.Status == 1 })
	if ts.DownloadErrors != 0 {
		t.Errorf("download_errors %d after clearing, want 0", ts.DownloadErrors)
	}
	if r, _ := f.m.Ledger.Row(start); !r.ErrorCleared || r.ErrorCode != 14262 {
		t.Errorf("cleared row %+v: want the error kept and marked cleared", r)
	}
	for _, tc := range []struct {
		name string
		seq  uint64
		code int
	}{
		{"row without error", sync, master.CodeBadRequest},
		{"unknown row", 999999, 14262},
	} {
		if err := f.m.ClearError(t.Context(), tc.seq, "tester"); master.CodeOf(err) != tc.code {
			t.Errorf("clear %s: %v, want code %d", tc.name, err, tc.code)
		}
	}
}

func TestIntegrationStatusTransitions(t *testing.T) {
	f := newFixture(t)
	a := f.startTarget(t, "sql41")
	f.waitOnline(t, a)
	tok := f.reg(t, "sql41").Token
	first := f.waitApplied(t, f.action(t, "synctime", "sql41", 0))

	a.stopClean(t)
	ts := f.waitTarget(t, a, "status 2 (suspected offline)", func(ts master.TargetServer) bool { return ts.Status == 2 })
	if ts.Connected {
		t.Errorf("stopped target shown connected: %+v", ts)
	}

	posted := []uint64{
		f.action(t, "setpoll", "sql41", 30),
		f.action(t, "synctime", "sql41", 0),
		f.action(t, "reenlist", "sql41", 0),
	}
	ts, _ = f.m.TargetServer("sql41")
	if ts.UnreadInstructions != len(posted) || ts.Status != 2 {
		t.Errorf("while stopped: unread_instructions %d status %d, want %d 2", ts.UnreadInstructions, ts.Status, len(posted))
	}

	a.start(t)
	ts = f.waitTarget(t, a, "back online with everything downloaded", func(ts master.TargetServer) bool {
		return ts.Status == 1 && ts.Connected && ts.UnreadInstructions == 0 && ts.PollInterval == 30
	})
	for _, seq := range posted {
		f.waitApplied(t, seq)
	}
	a.stopClean(t)

	// Exactly once: every row of the download list is in the target's database once, at its
	// own sequence, and the target reported each once.
	rows := f.m.Ledger.List(ledger.Filter{Token: tok})
	if len(rows) != len(posted)+1 || rows[0].InstanceID != first.InstanceID {
		t.Fatalf("download list %v, want %d rows", describeRows(rows), len(posted)+1)
	}
	st := a.openStore(t)
	applied := appliedRows(t, st)
	if len(applied) != len(rows) {
		t.Errorf("target applied %d instructions, want %d: %v", len(applied), len(rows), applied)
	}
	for _, r := range rows {
		if seq, ok := applied[r.InstructionID]; !ok || seq != r.InstanceID {
			t.Errorf("row %d (%s): applied at sequence %d (found %v)", r.InstanceID, r.InstructionID, seq, ok)
		}
	}
	if n := f.subjectMsgs(t, bus.StreamApplied, bus.AppliedSubject(tok)); n != uint64(len(rows)) {
		t.Errorf("%d reports in %s, want %d", n, bus.StreamApplied, len(rows))
	}
	if id, err := st.Identity(t.Context()); err != nil || id.PollInterval != 30 {
		t.Errorf("target identity %+v, %v: want poll interval 30", id, err)
	}
}

func TestIntegrationDuplicateDelivery(t *testing.T) {
	f := newFixture(t)
	a := f.startTarget(t, "sql51")
	f.waitOnline(t, a)
	tgt := f.reg(t, "sql51")

	in := schemas.Instruction{ID: "dup-setpoll-1", Operation: schemas.OpSetPoll, PollInterval: 90, ObjectName: tgt.ServerName,
		Posted: time.Now().UTC()}
	seq1 := f.post(t, "sql51", in)
	// A retried Post is stored once: its id is its Nats-Msg-Id.
	if again := f.post(t, "sql51", in); again != seq1 {
		t.Errorf("retried post stored at %d, want the first one's %d", again, seq1)
	}
	// The same instruction published again under another Nats-Msg-Id gets past JetStream's
	// duplicate window: the target must recognise it by its id.
	in.Target, in.Source = tgt.ServerName, masterName
	data, err := schemas.Encode(&in)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := f.js.Publish(t.Context(), bus.InstrSubject(tgt.Token), data, jetstream.WithMsgID("dup-setpoll-1-copy"))
	if err != nil {
		t.Fatal(err)
	}
	seq2 := ack.Sequence
	if seq2 <= seq1 {
		t.Fatalf("copy stored at %d, first at %d", seq2, seq1)
	}
	r1, r2 := f.waitApplied(t, seq1), f.waitApplied(t, seq2)
	if r1.InstructionID != in.ID || r2.InstructionID != in.ID {
		t.Errorf("rows carry ids %q and %q, want %q", r1.InstructionID, r2.InstructionID, in.ID)
	}
	f.waitTarget(t, a, "poll_interval 90", func(ts master.TargetServer) bool { return ts.PollInterval == 90 && ts.UnreadInstructions == 0 })
	a.stopClean(t)

	st := a.openStore(t)
	var n int
	if err := st.DB().QueryRowContext(t.Context(), `SELECT count(*) FROM applied WHERE instruction_id = ?`, in.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("instruction %s applied %d times, want once", in.ID, n)
	}
	if got := appliedRows(t, st)[in.ID]; got != seq1 {
		t.Errorf("instruction applied at sequence %d, want the first delivery %d", got, seq1)
	}
	if seq, err := st.AppliedSeq(t.Context()); err != nil || seq < seq2 {
		t.Errorf("applied cursor %d, %v: want past the copy at %d", seq, err, seq2)
	}
}

func TestIntegrationMalformedMessages(t *testing.T) {
	f := newFixture(t)
	a := f.startTarget(t, "sql91")
	b := f.startTarget(t, "sql92")
	f.waitOnline(t, a)
	f.waitOnline(t, b)
	tokA, tokB := f.reg(t, "sql91").Token, f.reg(t, "sql92").Token

	hb, _ := schemas.Encode(&schemas.Heartbeat{ServerName: "SQL91", Sent: time.Now().UTC(), LocalTime: "now",
		PollInterval: 60, IntervalMS: 200, Version: "x", ProtocolVersion: 1})
	report, _ := schemas.Encode(&schemas.InstructionStatus{InstructionID: "x", Seq: 1, Status: schemas.StatusApplied, Downloaded: time.Now().UTC()})
	for _, tc := range []struct {
		name, subject, data string
	}{
		{"garbage report", bus.AppliedSubject(tokA), "\x00not json{"},
		{"report that is a heartbeat", bus.AppliedSubject(tokA), string(hb)},
		{"report missing fields", bus.AppliedSubject(tokA), `{"type":"msx.instruction.status.v1","seq":0}`},
		{"report of unknown type", bus.AppliedSubject(tokA), `{"type":"msx.nosuch.v9","seq":1}`},
		{"report without type", bus.AppliedSubject(tokA), `{"seq":1}`},
		{"garbage heartbeat", bus.StatusSubject(tokA), "]]]"},
		{"heartbeat that is a report", bus.StatusSubject(tokA), string(report)},
		{"heartbeat of unknown type", bus.StatusSubject(tokA), `{"type":"msx.heartbeat.v99"}`},
		{"heartbeat with extra field", bus.StatusSubject(tokA), `{"type":"msx.heartbeat.v1","server_name":"SQL91","evil":true}`},
		{"heartbeat of a target that is not enlisted", bus.StatusSubject("NOSUCH"), string(hb)},
		{"garbage instruction", bus.InstrSubject(tokA), "garbage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.m.Rejected.Load()
			if _, err := f.js.Publish(t.Context(), tc.subject, []byte(tc.data)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, patience, func() bool { return f.m.Rejected.Load() > before }, "rejection of %s", tc.name)
			if n := f.m.Rejected.Load(); n != before+1 {
				t.Errorf("rejected %d messages, want 1", n-before)
			}
		})
	}

	// The master and the targets keep working; the target recorded the garbage instruction as
	// failed and went on.
	ok := f.waitApplied(t, f.action(t, "synctime", "sql91", 0))
	f.waitOnline(t, a)

	t.Run("report on another target's subject", func(t *testing.T) {
		a.stopClean(t)
		pending := f.action(t, "synctime", "sql91", 0)
		forged, _ := schemas.Encode(&schemas.InstructionStatus{InstructionID: "forged", Seq: pending,
			Status: schemas.StatusApplied, Downloaded: time.Now().UTC()})
		before := f.m.Rejected.Load()
		if _, err := f.js.Publish(t.Context(), bus.AppliedSubject(tokB), forged); err != nil {
			t.Fatal(err)
		}
		waitFor(t, patience, func() bool { return f.m.Rejected.Load() > before }, "rejection of the forged report")
		if r, _ := f.m.Ledger.Row(pending); r.Status != 0 {
			t.Errorf("SQL92 marked SQL91's row downloaded: %+v", r)
		}
		a.start(t)
		f.waitApplied(t, pending)
	})

	t.Run("heartbeat identity comes from the subject", func(t *testing.T) {
		a.stopClean(t)
		b.stopClean(t)
		forged, _ := schemas.Encode(&schemas.Heartbeat{ServerName: "SQL92", Sent: time.Now().UTC(), LocalTime: "now",
			PollInterval: 600, IntervalMS: 60000, Version: "forged", ProtocolVersion: 1, Database: "forged"})
		if _, err := f.js.Publish(t.Context(), bus.StatusSubject(tokA), forged); err != nil {
			t.Fatal(err)
		}
		tsA := f.waitTarget(t, a, "the heartbeat on its subject", func(ts master.TargetServer) bool { return ts.Database == "forged" })
		if tsA.PollInterval != 600 || tsA.ServerName != "SQL91" {
			t.Errorf("SQL91 %+v", tsA)
		}
		if tsB, _ := f.m.TargetServer("sql92"); tsB.Database == "forged" || tsB.PollInterval == 600 {
			t.Errorf("heartbeat on SQL91's subject naming SQL92 changed SQL92: %+v", tsB)
		}
	})

	// The garbage instruction did not stop SQL91: it was recorded as failed, and the later
	// instructions were applied.
	st := a.openStore(t)
	var failed int
	if err := st.DB().QueryRowContext(t.Context(), `SELECT count(*) FROM applied WHERE status = 'failed' AND seq < ?`, ok.InstanceID).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed != 1 {
		t.Errorf("target recorded %d failed instructions, want 1 (the garbage one)", failed)
	}
}
