package target_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/notify"
	"github.com/msx-project/msx/master/notify/notifytest"
	model "github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/target"
)

// TestPerformanceAlertEndToEnd: a real master with a performance-condition alert notifying an
// operator by webhook; a real target whose SQL Server is the TDS fake. When Page life
// expectancy drops below the threshold the target raises an event and the webhook receiver
// on loopback gets the alert, naming the server, the condition and the value; after the
// counter recovers and drops again, a second one.
func TestPerformanceAlertEndToEnd(t *testing.T) {
	const patience = 60 * time.Second
	srv := bustest.RunSecureServer(t)
	hook := notifytest.RunHook(t)
	nc, _ := srv.ConnectMaster(t)
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	m, err := master.Start(ctx, nc, master.Config{Name: "MASTER1", Logger: bustest.Logger(t), Auth: srv.Auth,
		Notify: notify.Config{StormWindow: -1, Tick: 50 * time.Millisecond, RetryInitial: 10 * time.Millisecond, WebhookAllow: []string{"127.0.0.1"}}, API: "http://dashboard.example"})
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
	if _, err := m.Notify.PutOperator(ctx, model.Operator{Name: "DBA", WebhookURL: hook.URL + "/hook"}, true); err != nil {
		t.Fatal(err)
	}
	alert, err := m.Notify.PutAlert(ctx, model.Alert{Name: "Low PLE", PerformanceCondition: "SQLServer:Buffer Manager|Page life expectancy||<|300",
		NotificationMessage: "Memory pressure", Notifications: []model.AlertNotification{{OperatorName: "DBA", NotificationMethod: model.MethodWebhook}}}, true)
	if err != nil {
		t.Fatal(err)
	}

	// healthy, the opposite condition, is the test's window on the evaluator: its events
	// (stored by the master, answered by no alert) show which values the target has seen.
	healthy := model.Alert{Name: "PLE healthy", PerformanceCondition: "SQLServer:Buffer Manager|Page life expectancy||>|1000"}
	seen := func() int {
		evs, err := m.Events(t.Context(), master.EventFilter{Server: "SQLP1"})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if e.Alert == healthy.Name {
				n++
			}
		}
		return n
	}

	fake := mssqltest.Start(t)
	setPLE := func(v int64) {
		t.Helper()
		if err := fake.SetPerfCounter("MSSQL$PROD:Buffer Manager", "Page life expectancy", "", v); err != nil {
			t.Fatal(err)
		}
	}
	setPLE(5000)
	tok, _, err := m.Tokens.Create(ctx, auth.RoleEnlist, time.Hour, "tester", "perf alert test")
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = target.Run(actx, target.Config{Name: "sqlp1", NATSURL: srv.ClientURL(), Token: tok, DataDir: t.TempDir(),
			HeartbeatInterval: 200 * time.Millisecond, Logger: bustest.Logger(t), CAFile: srv.CAFile, SQLDSN: fake.DSN(),
			ForwardEvents: target.ForwardOff, PerfAlerts: []model.Alert{alert, healthy}, PerfInterval: 50 * time.Millisecond})
	}()
	t.Cleanup(func() { stop(); <-done })
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(patience)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("target SQLP1 online", func() bool { ts, ok := m.TargetServer("SQLP1"); return ok && ts.Connected && ts.LastPollDate != nil })
	wait("the target to see PLE 5000", func() bool { return seen() == 1 })
	if n := len(hook.Bodies()); n != 0 {
		t.Fatalf("%d webhooks before the condition is true", n)
	}

	setPLE(120)
	wait("the alert's webhook", func() bool { return len(hook.Bodies()) >= 1 })
	msgs := notifytest.Decode[notify.Message](t, hook)
	if got := msgs[0]; got.Kind != "alert" || got.Alert != "Low PLE" || len(got.Events) != 1 || got.Events[0].Server != "SQLP1" ||
		!strings.Contains(got.Events[0].Message, "Page life expectancy||<|300 (value 120)") || got.Events[0].Note != "Memory pressure" {
		t.Errorf("webhook %+v", got)
	}

	setPLE(4000) // clears
	wait("the target to see PLE 4000", func() bool { return seen() == 2 })
	setPLE(90)
	wait("the second alert's webhook", func() bool { return len(hook.Bodies()) >= 2 })
	if n := len(hook.Bodies()); n != 2 {
		t.Errorf("%d webhooks, want 2: only the alert with operators is answered", n)
	}
	if msgs := notifytest.Decode[notify.Message](t, hook); len(msgs) != 2 || !strings.Contains(msgs[1].Events[0].Message, "(value 90)") {
		t.Errorf("second webhook %+v", msgs[len(msgs)-1])
	}
}
