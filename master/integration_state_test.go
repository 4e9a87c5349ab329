package master_test

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/target"
	"github.com/msx-project/msx/target/store"
)

func TestIntegrationMasterRestart(t *testing.T) {
	f := newFixture(t)
	a := f.startTarget(t, "sql61")
	b := f.startTarget(t, `sql62\inst`)
	f.waitOnline(t, a)
	f.waitOnline(t, b)
	for _, step := range []func() error{
		func() error { _, err := f.m.Reg.AddGroup(t.Context(), "Prod"); return err },
		func() error { _, err := f.m.Reg.AddGroup(t.Context(), "Empty"); return err },
		func() error { _, err := f.m.Reg.AddMember(t.Context(), "prod", "sql61"); return err },
		func() error { _, err := f.m.Reg.AddMember(t.Context(), "PROD", `SQL62\INST`); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// A download list with every kind of row: applied, failed, failed and cleared, pending.
	f.waitApplied(t, f.action(t, "setpoll", "sql61", 30))
	failed := f.post(t, `sql62\inst`, schemas.Instruction{Operation: schemas.OpStart, ObjectID: "ghost"})
	cleared := f.post(t, "sql61", schemas.Instruction{Operation: schemas.OpStop, ObjectID: "ghost"})
	f.waitDownloaded(t, failed)
	f.waitDownloaded(t, cleared)
	if err := f.m.ClearError(t.Context(), cleared, "tester"); err != nil {
		t.Fatal(err)
	}
	b.stopClean(t)
	pending := f.action(t, "synctime", `sql62\inst`, 0)
	f.waitTarget(t, b, "suspected offline", func(ts master.TargetServer) bool { return ts.Status == 2|4 })
	// Its last heartbeat stays in MSX_STATUS (no TTL), so a restarted master still knows it.
	statusSubj := bus.StatusSubject(f.reg(t, `sql62\inst`).Token)
	if n := f.subjectMsgs(t, bus.StreamStatus, statusSubj); n != 1 {
		t.Fatalf("%d heartbeats kept on %s, want the last one", n, statusSubj)
	}

	targetsBefore := f.m.TargetServers()
	rowsBefore := describeRows(f.m.Ledger.List(ledger.Filter{}))
	groupsBefore := f.m.Reg.Groups()
	shutdownMaster(t, f.m)
	f.m = f.startMaster(t)

	targetsAfter := f.m.TargetServers()
	if len(targetsAfter) != len(targetsBefore) {
		t.Fatalf("after restart %d targets, want %d", len(targetsAfter), len(targetsBefore))
	}
	for i, want := range targetsBefore {
		got := targetsAfter[i]
		if got.ServerID != want.ServerID || got.ServerName != want.ServerName || got.Location != want.Location ||
			!got.EnlistDate.Equal(want.EnlistDate) || !slices.Equal(got.Groups, want.Groups) ||
			got.UnreadInstructions != want.UnreadInstructions || got.DownloadErrors != want.DownloadErrors {
			t.Errorf("target after restart:\n got %+v\nwant %+v", got, want)
		}
	}
	if rowsAfter := describeRows(f.m.Ledger.List(ledger.Filter{})); !slices.Equal(rowsAfter, rowsBefore) {
		t.Errorf("download list after restart:\n got %q\nwant %q", rowsAfter, rowsBefore)
	}
	if groupsAfter := f.m.Reg.Groups(); len(groupsAfter) != 2 ||
		!slices.EqualFunc(groupsAfter, groupsBefore, func(x, y registry.Group) bool {
			return x.Name == y.Name && slices.Equal(x.Members, y.Members)
		}) {
		t.Errorf("groups after restart %+v, want %+v", groupsAfter, groupsBefore)
	}
	if n := f.m.Rejected.Load(); n != 0 {
		t.Errorf("restarted master rejected %d messages while replaying its streams", n)
	}
	ts := f.waitOnline(t, a)
	if ts.PollInterval != 30 || ts.Status != 1 {
		t.Errorf("SQL61 after restart: poll %d status %d", ts.PollInterval, ts.Status)
	}
	if ts, _ := f.m.TargetServer(`sql62\inst`); ts.Status&ledger.StatusBlocked == 0 || ts.Connected {
		t.Errorf(`SQL62\INST (stopped, one error) after restart: status %d connected %v, want blocked and not connected`, ts.Status, ts.Connected)
	}
	t.Run("offline target keeps its last poll", func(t *testing.T) {
		var want master.TargetServer
		for _, ts := range targetsBefore {
			if ts.ServerName == `SQL62\INST` {
				want = ts
			}
		}
		got, _ := f.m.TargetServer(`sql62\inst`)
		if want.LastPollDate == nil || got.LastPollDate == nil || !got.LastPollDate.Equal(*want.LastPollDate) || got.Status != want.Status {
			t.Errorf("offline target after master restart: last_poll_date %v status %d; before the restart %v %d",
				got.LastPollDate, got.Status, want.LastPollDate, want.Status)
		}
	})

	// The targets keep working with the new master.
	f.waitApplied(t, f.action(t, "setpoll", "sql61", 45))
	f.waitTarget(t, a, "poll_interval 45", func(ts master.TargetServer) bool { return ts.PollInterval == 45 })
	b.start(t)
	f.waitApplied(t, pending)
	f.waitTarget(t, b, "online, one download error", func(ts master.TargetServer) bool {
		return ts.Status == 1|4 && ts.Connected && ts.UnreadInstructions == 0
	})
}

func TestIntegrationDefection(t *testing.T) {
	f := newFixture(t)
	if _, err := f.m.Reg.AddGroup(t.Context(), "G1"); err != nil {
		t.Fatal(err)
	}
	wantMsg := func(jobs string) string {
		return "Server defected from MSX '" + masterName + "'. " + jobs + " job(s) deleted."
	}

	var seen []int // server_ids handed out so far

	t.Run("normal", func(t *testing.T) {
		a := f.startTarget(t, "sql71")
		seen = append(seen, f.waitOnline(t, a).ServerID)
		tok := f.reg(t, "sql71").Token
		if _, err := f.m.Reg.AddMember(t.Context(), "G1", "sql71"); err != nil {
			t.Fatal(err)
		}
		f.waitApplied(t, f.action(t, "synctime", "sql71", 0))
		a.stopClean(t)
		f.action(t, "synctime", "sql71", 0) // pending

		msg, err := target.Defect(t.Context(), target.DefectConfig{DataDir: a.cfg.DataDir, NATSURL: f.url, CAFile: f.ca, Logger: bustest.Logger(t)})
		if err != nil {
			t.Fatalf("defect: %v", err)
		}
		if msg != wantMsg("0") {
			t.Errorf("message %q, want %q", msg, wantMsg("0"))
		}
		if _, ok := f.m.TargetServer("sql71"); ok {
			t.Error("master still lists the defected target")
		}
		if g, _ := f.m.Reg.Group("G1"); slices.Contains(g.Members, "SQL71") {
			t.Errorf("defected target still in group: %+v", g)
		}
		if rows := f.m.Ledger.List(ledger.Filter{Token: tok}); len(rows) != 0 {
			t.Errorf("download list of the defected target: %v", describeRows(rows))
		}
		if n := f.subjectMsgs(t, bus.StreamInstr, bus.InstrSubject(tok)); n != 0 {
			t.Errorf("%d instructions left on %s", n, bus.InstrSubject(tok))
		}
		if _, err := a.openStore(t).Identity(t.Context()); !errors.Is(err, store.ErrNotEnlisted) {
			t.Errorf("target identity after defection: %v, want ErrNotEnlisted", err)
		}
		// Defecting again: nothing left to defect.
		if _, err := target.Defect(t.Context(), target.DefectConfig{DataDir: a.cfg.DataDir, NATSURL: f.url, CAFile: f.ca}); !errors.Is(err, store.ErrNotEnlisted) {
			t.Errorf("second defection: %v, want ErrNotEnlisted", err)
		}
	})

	t.Run("forced", func(t *testing.T) {
		a := f.startTarget(t, "sql72")
		seen = append(seen, f.waitOnline(t, a).ServerID)
		f.waitApplied(t, f.post(t, "sql72", insertJob("job-72", 1)))
		// A normal defection is refused while the agent runs (its data directory is locked).
		if _, err := target.Defect(t.Context(), target.DefectConfig{DataDir: a.cfg.DataDir, NATSURL: f.url, CAFile: f.ca}); !errors.Is(err, bus.ErrDirLocked) {
			t.Errorf("defect of a running agent: %v, want ErrDirLocked", err)
		}
		a.stopClean(t)
		tok := f.reg(t, "sql72").Token
		st := a.openStore(t)
		_, held, err := st.JobDigest(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		st.Close()

		// No bus at all: the master is never told.
		msg, err := target.Defect(t.Context(), target.DefectConfig{DataDir: a.cfg.DataDir, Force: true, Logger: bustest.Logger(t)})
		if err != nil {
			t.Fatalf("forced defection: %v", err)
		}
		if want := wantMsg(strconv.Itoa(held)); msg != want {
			t.Errorf("message %q, want %q", msg, want)
		}
		if _, ok := f.m.TargetServer("sql72"); !ok {
			t.Fatal("master lost the target after a forced defection it was not told of")
		}
		if err := f.m.DeleteTarget(t.Context(), "sql72", true); err != nil {
			t.Fatalf("delete target: %v", err)
		}
		if _, ok := f.m.TargetServer("sql72"); ok {
			t.Error("master still lists the deleted target")
		}
		if rows := f.m.Ledger.List(ledger.Filter{Token: tok}); len(rows) != 0 {
			t.Errorf("download list of the deleted target: %v", describeRows(rows))
		}
		if n := f.subjectMsgs(t, bus.StreamInstr, bus.InstrSubject(tok)); n != 0 {
			t.Errorf("%d instructions left on %s (no DEFECT must be posted)", n, bus.InstrSubject(tok))
		}
		if err := f.m.DeleteTarget(t.Context(), "sql72", true); master.CodeOf(err) != 14262 {
			t.Errorf("deleting it again: %v, want code 14262", err)
		}
	})

	t.Run("delete with post-defection", func(t *testing.T) {
		a := f.startTarget(t, "sql73")
		seen = append(seen, f.waitOnline(t, a).ServerID)
		f.waitApplied(t, f.post(t, "sql73", insertJob("job-73", 1)))
		if _, err := f.m.Reg.AddMember(t.Context(), "G1", "sql73"); err != nil {
			t.Fatal(err)
		}
		if err := f.m.DeleteTarget(t.Context(), "sql73", false); err != nil {
			t.Fatalf("delete target: %v", err)
		}
		if err := a.wait(t, patience); !errors.Is(err, target.ErrDefected) {
			t.Fatalf("target.Run returned %v, want ErrDefected", err)
		}
		if _, ok := f.m.TargetServer("sql73"); ok {
			t.Error("master still lists the deleted target")
		}
		if g, _ := f.m.Reg.Group("G1"); slices.Contains(g.Members, "SQL73") {
			t.Errorf("deleted target still in group: %+v", g)
		}
		st := a.openStore(t)
		if _, err := st.Identity(t.Context()); !errors.Is(err, store.ErrNotEnlisted) {
			t.Errorf("target identity after DEFECT: %v, want ErrNotEnlisted", err)
		}
		if _, n, err := st.JobDigest(t.Context()); err != nil || n != 0 {
			t.Errorf("target holds %d jobs after DEFECT (%v), want 0", n, err)
		}
		st.Close()

		// It can enlist again with a new token; the old DEFECT is not replayed to it.
		tok, _ := f.token(t, time.Hour)
		a.cfg.Token = tok
		a.start(t)
		again := f.waitOnline(t, a)
		if again.UnreadInstructions != 0 || again.Jobs != 0 {
			t.Errorf("new enlistment %+v", again)
		}
		seen = append(seen, again.ServerID)
		f.waitApplied(t, f.action(t, "synctime", "sql73", 0))
		if done, err := a.exited(); done {
			t.Fatalf("re-enlisted target stopped: %v", err)
		}
	})

	// msdb's server_id is an identity: a target that left never lends its id to a new one
	// (jobs, history and outcomes refer to it).
	t.Run("server_id is not reused", func(t *testing.T) {
		a := f.startTarget(t, "sql74")
		seen = append(seen, f.waitOnline(t, a).ServerID)
		for i, id := range seen {
			if slices.Contains(seen[:i], id) {
				t.Errorf("server_ids handed out in enlistment order %v: %d was given again after its target left", seen, id)
				break
			}
		}
	})
}

func TestIntegrationGroups(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"sql81", "sql82"} {
		f.waitOnline(t, f.startTarget(t, n))
	}
	ctx := t.Context()
	add := func(g string) func() error { return func() error { _, err := f.m.Reg.AddGroup(ctx, g); return err } }
	member := func(g, s string) func() error {
		return func() error { _, err := f.m.Reg.AddMember(ctx, g, s); return err }
	}
	remove := func(g, s string) func() error { return func() error { return f.m.Reg.RemoveMember(ctx, g, s) } }
	del := func(g string) func() error { return func() error { return f.m.Reg.DeleteGroup(ctx, g) } }

	for _, step := range []struct {
		name   string
		do     func() error
		wantIs error
		code   int
	}{
		{"add group", add("Prod"), nil, 0},
		{"duplicate group, other case", add("PROD"), registry.ErrGroupExists, 14261},
		{"comma in name", add("a,b"), registry.ErrGroupName, 14289},
		{"empty name", add(" "), registry.ErrGroupName, 14289},
		{"add member", member("prod", "sql81"), nil, 0},
		{"already a member", member("Prod", "SQL81"), registry.ErrAlreadyMember, 14263},
		{"remove non-member", remove("Prod", "sql82"), registry.ErrNotMember, 14264},
		{"member of unknown group", member("Nope", "sql81"), registry.ErrUnknownGroup, 14262},
		{"unknown server", member("Prod", "nosuch"), registry.ErrUnknownTarget, 14262},
		{"remove from unknown group", remove("Nope", "sql81"), registry.ErrUnknownGroup, 14262},
		{"delete unknown group", del("Nope"), registry.ErrUnknownGroup, 14262},
		{"add second member", member("Prod", "sql82"), nil, 0},
		{"add second group", add("Reporting"), nil, 0},
		{"member of two groups", member("reporting", "sql82"), nil, 0},
	} {
		err := step.do()
		if step.wantIs == nil && err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if step.wantIs != nil && (!errors.Is(err, step.wantIs) || master.CodeOf(err) != step.code) {
			t.Errorf("%s: %v (code %d), want %v (%d)", step.name, err, master.CodeOf(err), step.wantIs, step.code)
		}
	}
	if g, _ := f.m.Reg.Group("PROD"); !slices.Equal(g.Members, []string{"SQL81", "SQL82"}) || g.Name != "Prod" {
		t.Errorf("group %+v, want Prod with SQL81, SQL82", g)
	}
	if ts, _ := f.m.TargetServer("sql82"); !slices.Equal(ts.Groups, []string{"Prod", "Reporting"}) {
		t.Errorf("SQL82 groups %v, want [Prod Reporting]", ts.Groups)
	}
	if err := f.m.Reg.RemoveMember(ctx, "prod", "sql81"); err != nil {
		t.Fatal(err)
	}
	if ts, _ := f.m.TargetServer("sql81"); len(ts.Groups) != 0 {
		t.Errorf("SQL81 groups %v after removal, want none", ts.Groups)
	}
	if err := f.m.Reg.DeleteGroup(ctx, "PROD"); err != nil {
		t.Fatal(err)
	}
	if gs := f.m.Reg.Groups(); len(gs) != 1 || gs[0].Name != "Reporting" {
		t.Errorf("groups %+v, want Reporting only", gs)
	}
	// Deleting a group leaves its members enlisted.
	if n := len(f.m.TargetServers()); n != 2 {
		t.Errorf("%d targets after deleting a group, want 2", n)
	}
	// The registry is in JetStream: a second master on the same bus sees the same groups.
	m2 := f.startMaster(t)
	if gs := m2.Reg.Groups(); len(gs) != 1 || gs[0].Name != "Reporting" || !slices.Equal(gs[0].Members, []string{"SQL82"}) {
		t.Errorf("second master's groups %+v", gs)
	}
}
