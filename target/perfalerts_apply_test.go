package target_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/notify"
	"github.com/msx-project/msx/master/notify/notifytest"
	"github.com/msx-project/msx/schemas"
	model "github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/target"
	"github.com/msx-project/msx/target/store"
)

// TestPerfAlertsDistributed: a performance-condition alert added on the master (scoped to a
// group) reaches only the targets of that group as a SET-ALERTS instruction, applied there; a
// target added to the group then gets it too. The target with a TDS fake raises the event when
// the counter crosses the threshold and the master's alert answers it: the webhook receiver
// gets the notification. The set survives a restart of the target (stored, not posted again),
// a target whose stored set was lost gets it again by drift repair, disabling the alert clears
// it, and hostile sets (too many alerts, a bad condition, duplicate
// names, not an array, a digest that does not match) are refused by the target with a clear
// error in the download list.
func TestPerfAlertsDistributed(t *testing.T) {
	const patience = 60 * time.Second
	srv := bustest.RunSecureServer(t)
	hook := notifytest.RunHook(t)
	nc, _ := srv.ConnectMaster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*patience)
	defer cancel()
	m, err := master.Start(ctx, nc, master.Config{Name: "MASTER1", Logger: bustest.Logger(t), Auth: srv.Auth, PerfAlertsInterval: 100 * time.Millisecond,
		Notify: notify.Config{StormWindow: -1, Tick: 50 * time.Millisecond, RetryInitial: 10 * time.Millisecond, WebhookAllow: []string{"127.0.0.1"}}})
	if err != nil {
		t.Fatalf("start master: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("master shutdown: %v", err)
		}
	})
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(patience)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
	fake := mssqltest.Start(t)
	setPLE := func(v int64) {
		t.Helper()
		if err := fake.SetPerfCounter("SQLServer:Buffer Manager", "Page life expectancy", "", v); err != nil {
			t.Fatal(err)
		}
	}
	setPLE(5000)
	dirs := map[string]string{"SQLA1": t.TempDir(), "SQLA2": t.TempDir()}
	run := func(name, tok string) func() {
		actx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = target.Run(actx, target.Config{Name: name, NATSURL: srv.ClientURL(), Token: tok, DataDir: dirs[name],
				HeartbeatInterval: 100 * time.Millisecond, Logger: bustest.Logger(t), CAFile: srv.CAFile, SQLDSN: fake.DSN(),
				ForwardEvents: target.ForwardOff, PerfInterval: 50 * time.Millisecond})
		}()
		return func() { stop(); <-done }
	}
	stops := map[string]func(){}
	for name := range dirs {
		tok, _, err := m.Tokens.Create(ctx, auth.RoleEnlist, time.Hour, "tester", "perf alert test")
		if err != nil {
			t.Fatal(err)
		}
		stops[name] = run(name, tok)
		t.Cleanup(func() { stops[name]() })
		wait(name+" online", func() bool { ts, ok := m.TargetServer(name); return ok && ts.Connected && ts.LastPollDate != nil })
	}
	if _, err := m.Reg.AddGroup(ctx, "Memory"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.AddMember(ctx, "Memory", "SQLA1"); err != nil {
		t.Fatal(err)
	}
	setAlerts := func(server string) []ledger.Row {
		tg, err := m.Target(server)
		if err != nil {
			t.Fatal(err)
		}
		var out []ledger.Row
		for _, r := range m.Ledger.List(ledger.Filter{Token: tg.Token}) {
			if r.Operation == schemas.OpSetAlerts {
				out = append(out, r)
			}
		}
		return out
	}
	if _, err := m.Notify.PutOperator(ctx, model.Operator{Name: "DBA", WebhookURL: hook.URL + "/hook"}, true); err != nil {
		t.Fatal(err)
	}
	alert := model.Alert{Name: "Low PLE", PerformanceCondition: "SQLServer:Buffer Manager|Page life expectancy||<|300", Groups: []string{"Memory"},
		Notifications: []model.AlertNotification{{OperatorName: "DBA", NotificationMethod: model.MethodWebhook}}}
	if alert, err = m.Notify.PutAlert(ctx, alert, true); err != nil {
		t.Fatal(err)
	}
	applied := func(server string, n int) func() bool {
		return func() bool {
			rows := setAlerts(server)
			return len(rows) == n && rows[n-1].Status == 1 && rows[n-1].ErrorMessage == ""
		}
	}
	wait("SET-ALERTS applied on SQLA1", applied("SQLA1", 1))
	if r := setAlerts("SQLA1")[0]; r.OperationName != "SET-ALERTS" || r.ObjectType != "server" || r.ObjectName != "1 performance alert(s)" {
		t.Errorf("download list row %+v", r)
	}
	if rows := setAlerts("SQLA2"); len(rows) != 0 {
		t.Fatalf("SQLA2 is not in the group but got %d SET-ALERTS", len(rows))
	}

	setPLE(120)
	wait("the alert's webhook from SQLA1", func() bool { return len(hook.Bodies()) >= 1 })
	msgs := notifytest.Decode[notify.Message](t, hook)
	if got := msgs[0]; got.Kind != "alert" || got.Alert != "Low PLE" || len(got.Events) != 1 || got.Events[0].Server != "SQLA1" ||
		!strings.Contains(got.Events[0].Message, "(value 120)") {
		t.Errorf("webhook %+v", got)
	}
	setPLE(5000)

	// Group membership changes: SQLA2 joins and gets the set; restarting SQLA1 keeps it.
	if _, _, err := m.AddMember(ctx, "Memory", "SQLA2"); err != nil {
		t.Fatal(err)
	}
	wait("SET-ALERTS applied on SQLA2", applied("SQLA2", 1))
	stops["SQLA1"]()
	stops["SQLA1"] = run("SQLA1", "")
	wait("SQLA1 back", func() bool { ts, ok := m.TargetServer("SQLA1"); return ok && ts.Connected })
	before := len(hook.Bodies())
	setPLE(100)
	wait("webhooks from both targets", func() bool {
		servers := map[string]bool{}
		for _, msg := range notifytest.Decode[notify.Message](t, hook)[before:] {
			for _, e := range msg.Events {
				servers[e.Server] = true
			}
		}
		return servers["SQLA1"] && servers["SQLA2"]
	})
	if n := len(setAlerts("SQLA1")); n != 1 {
		t.Errorf("SQLA1 got %d SET-ALERTS, want 1: its set is stored, a restart needs no new one", n)
	}
	setPLE(5000)

	// Drift: SQLA1's stored set is lost while it is stopped (a restored backup of its data
	// directory, say). Its heartbeats show another digest; the master posts the set again.
	stops["SQLA1"]()
	st, err := store.Open(ctx, filepath.Join(dirs["SQLA1"], "target.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, "perf_alerts", []model.Alert{}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	stops["SQLA1"] = run("SQLA1", "")
	wait("drift repair: a second SET-ALERTS applied on SQLA1", applied("SQLA1", 2))
	if r := setAlerts("SQLA1")[1]; r.ObjectName != "1 performance alert(s)" {
		t.Errorf("repair row %+v", r)
	}
	before = len(hook.Bodies())
	setPLE(110)
	wait("SQLA1 evaluates the repaired set", func() bool {
		for _, msg := range notifytest.Decode[notify.Message](t, hook)[before:] {
			if len(msg.Events) > 0 && msg.Events[0].Server == "SQLA1" {
				return true
			}
		}
		return false
	})
	setPLE(5000)

	// Disabling the alert clears it on both.
	alert.Enabled = new(bool)
	if _, err := m.Notify.PutAlert(ctx, alert, false); err != nil {
		t.Fatal(err)
	}
	wait("the empty set applied on SQLA1 and SQLA2", func() bool { return applied("SQLA1", 3)() && applied("SQLA2", 2)() })
	if r := setAlerts("SQLA2")[1]; r.ObjectName != "0 performance alert(s)" {
		t.Errorf("second row %+v", r)
	}

	// Hostile sets, posted as the leader would: each refused with its reason.
	tg, err := m.Target("SQLA2")
	if err != nil {
		t.Fatal(err)
	}
	many := make([]model.Alert, model.MaxPerfAlerts+1)
	for i := range many {
		many[i] = model.Alert{Name: fmt.Sprintf("a%d", i), PerformanceCondition: "SQLServer:X|Y||>|1"}
	}
	manyJSON, _ := json.Marshal(many)
	for _, tc := range []struct {
		name, set, digest, want string
	}{
		{"too many", string(manyJSON), "", "message does not match its schema"},
		{"bad condition", `[{"name":"x","performance_condition":"SQLServer:X|Y||~|1"}]`, "", `comparator "~"`},
		{"duplicate names", `[{"name":"x","performance_condition":"A|B||>|1"},{"name":"X","performance_condition":"A|B||<|1"}]`, "", "appears twice"},
		{"no name", `[{"performance_condition":"A|B||>|1"}]`, "", "has no name"},
		{"not alerts", `[{"name": 5}]`, "", "not a JSON array of alerts"},
		{"not objects", `[1, 2]`, "", "got number, want object"},
		{"digest mismatch", `[{"name":"x","performance_condition":"A|B||>|1"}]`, "0123456789abcdef", "digest"},
	} {
		seq, err := m.Post(ctx, tg, schemas.Instruction{Operation: schemas.OpSetAlerts, ObjectID: tc.digest, ObjectName: tc.name, Alerts: json.RawMessage(tc.set)})
		if err != nil {
			t.Fatalf("%s: post: %v", tc.name, err)
		}
		var row ledger.Row
		wait(tc.name+" reported", func() bool { var ok bool; row, ok = m.Ledger.Row(seq); return ok && row.Status == 1 })
		if row.ErrorCode != target.CodeBadInstruction || !strings.Contains(row.ErrorMessage, tc.want) {
			t.Errorf("%s: row error %d %q, want code %d with %q", tc.name, row.ErrorCode, row.ErrorMessage, target.CodeBadInstruction, tc.want)
		}
	}
}
