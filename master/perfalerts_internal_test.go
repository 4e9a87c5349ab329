package master

import (
	"context"
	"testing"
	"time"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/notify"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	model "github.com/msx-project/msx/schemas/notify"
)

// TestPerfAlertsLeaderChange: the leader posts each target the set in its scope once; a new
// leader (the first stopped) reads what was posted from the download list and posts nothing
// again for a target whose set did not change, while it does post the target whose scope
// changed (removed from the alert's group: the empty set). No agents: the rows stay pending.
func TestPerfAlertsLeaderChange(t *testing.T) {
	url := bustest.RunServer(t, "").ClientURL()
	ctx := t.Context()
	start := func(name string) *Master {
		nc, _ := bustest.Connect(t, url)
		m, err := Start(ctx, nc, Config{Name: name, Logger: bustest.Logger(t), PerfAlertsInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
		return m
	}
	m1 := start("MSX1")
	for i, name := range []string{"SQLA", "SQLB"} {
		if err := m1.Reg.PutTarget(ctx, registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), PollInterval: 60, StartSeq: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m1.Reg.AddGroup(ctx, "Mem"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"SQLA", "SQLB"} {
		if _, _, err := m1.AddMember(ctx, "Mem", s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m1.Notify.PutOperator(ctx, model.Operator{Name: "DBA", EmailAddress: "dba@example.com"}, true); err != nil {
		t.Fatal(err)
	}
	alert := model.Alert{Name: "PLE", PerformanceCondition: "SQLServer:Buffer Manager|Page life expectancy||<|300", Groups: []string{"Mem"},
		Notifications: []model.AlertNotification{{OperatorName: "DBA", NotificationMethod: model.MethodEmail}}}
	if _, err := m1.Notify.PutAlert(ctx, alert, true); err != nil {
		t.Fatal(err)
	}
	rows := func(m *Master, server string) []ledger.Row {
		var out []ledger.Row
		for _, r := range m.Ledger.List(ledger.Filter{Token: jobs.ServerToken(server)}) {
			if r.Operation == schemas.OpSetAlerts {
				out = append(out, r)
			}
		}
		return out
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	}
	want := model.PerfAlertDigest(model.PerfAlertsFor([]model.Alert{alert}, "SQLA", []string{"Mem"}))
	wait("a SET-ALERTS for each target", func() bool { return len(rows(m1, "SQLA")) == 1 && len(rows(m1, "SQLB")) == 1 })
	if r := rows(m1, "SQLA")[0]; r.ObjectID != want || r.ObjectType != "server" {
		t.Fatalf("row %+v, want object_id %s", r, want)
	}

	if err := m1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	m2 := start("MSX2")
	wait("MSX2 leading", m2.Leading)
	if err := m2.Reg.PutTarget(ctx, registry.Target{ServerID: 3, ServerName: "SQLC", Token: jobs.ServerToken("SQLC"), PollInterval: 60, StartSeq: 1}); err != nil {
		t.Fatal(err)
	}
	if err := m2.Reg.RemoveMember(ctx, "Mem", "SQLB"); err != nil {
		t.Fatal(err)
	}
	wait("the empty set for SQLB", func() bool { return len(rows(m2, "SQLB")) == 2 })
	if r := rows(m2, "SQLB")[1]; r.ObjectID != model.PerfAlertDigest(nil) || r.SourceServer != "MSX2" {
		t.Errorf("SQLB's second row %+v, want the empty set from MSX2", r)
	}
	if n := len(rows(m2, "SQLA")); n != 1 {
		t.Errorf("SQLA has %d SET-ALERTS rows, want 1: its set did not change", n)
	}
	if n := len(rows(m2, "SQLC")); n != 0 {
		t.Errorf("SQLC, in no group, has %d SET-ALERTS rows, want none", n)
	}
}

// TestPerfAlertsWatchStalled: a leader whose watch of the alerts bucket stops delivering (its
// consumer paused on the server: alive, delivering nothing, as after a node loss) watches the
// bucket again, so a changed alert still reaches the targets in its scope.
func TestPerfAlertsWatchStalled(t *testing.T) {
	bustest.FastStallChecks(t)
	url := bustest.RunServer(t, "").ClientURL()
	ctx := t.Context()
	nc, js := bustest.Connect(t, url)
	m, err := Start(ctx, nc, Config{Name: "MSX1", Logger: bustest.Logger(t), PerfAlertsInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	if err := m.Reg.PutTarget(ctx, registry.Target{ServerID: 1, ServerName: "SQLA", Token: jobs.ServerToken("SQLA"), PollInterval: 60, StartSeq: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Notify.PutOperator(ctx, model.Operator{Name: "DBA", EmailAddress: "dba@example.com"}, true); err != nil {
		t.Fatal(err)
	}
	alert := model.Alert{Name: "PLE", PerformanceCondition: "SQLServer:Buffer Manager|Page life expectancy||<|300", Servers: []string{"SQLA"},
		Notifications: []model.AlertNotification{{OperatorName: "DBA", NotificationMethod: model.MethodEmail}}}
	if _, err := m.Notify.PutAlert(ctx, alert, true); err != nil {
		t.Fatal(err)
	}
	digests := func() []string {
		var out []string
		for _, r := range m.Ledger.List(ledger.Filter{Token: jobs.ServerToken("SQLA")}) {
			if r.Operation == schemas.OpSetAlerts {
				out = append(out, r.ObjectID)
			}
		}
		return out
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (SET-ALERTS digests %v)", what, digests())
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	}
	wait("the first set", func() bool { return len(digests()) == 1 })

	stream, err := js.Stream(ctx, "KV_"+notify.BucketAlerts)
	if err != nil {
		t.Fatal(err)
	}
	paused := 0
	for name := range stream.ConsumerNames(ctx).Name() {
		if _, err := js.PauseConsumer(ctx, "KV_"+notify.BucketAlerts, name, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("pause %s: %v", name, err)
		}
		paused++
	}
	if paused == 0 {
		t.Fatal("nothing watches the alerts bucket")
	}
	alert.PerformanceCondition = "SQLServer:Buffer Manager|Page life expectancy||<|200"
	if _, err := m.Notify.PutAlert(ctx, alert, false); err != nil {
		t.Fatal(err)
	}
	want := model.PerfAlertDigest(model.PerfAlertsFor([]model.Alert{alert}, "SQLA", nil))
	wait("the changed set posted", func() bool { d := digests(); return len(d) == 2 && d[1] == want })
}
