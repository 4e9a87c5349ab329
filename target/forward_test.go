package target_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/target"
)

// startForwardingAgent replaces the harness's agent with one whose SQL Server is dsn, reading
// its error log every 100 ms, and returns once that agent applies instructions (so its poller
// has started).
func (h *harness) startForwardingAgent(dsn string, change func(*target.Config)) {
	h.t.Helper()
	if st := h.status(h.post(schemas.OpSyncTime, "", "", nil)); st.Status != schemas.StatusApplied {
		h.t.Fatalf("SYNC-TIME: %+v", st.Error)
	}
	h.stopAgent()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	cfg := target.Config{Name: serverName, NATSURL: "nats://" + h.listen, DataDir: h.dataDir, HeartbeatInterval: time.Second,
		Encrypt: bus.ModeNone, TimeZone: time.Local, Logger: bustest.Logger(h.t), SQLDSN: dsn,
		ErrorLogInterval: 100 * time.Millisecond}
	if change != nil {
		change(&cfg)
	}
	go func() { errc <- target.Run(ctx, cfg) }()
	var once sync.Once
	h.stopAgent = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					h.t.Errorf("agent: %v", err)
				}
			case <-time.After(45 * time.Second):
				h.t.Error("agent did not stop")
			}
		})
	}
	h.t.Cleanup(h.stopAgent)
	if st := h.status(h.post(schemas.OpSyncTime, "", "", nil)); st.Status != schemas.StatusApplied {
		h.t.Fatalf("SYNC-TIME after restart: %+v", st.Error)
	}
}

func TestForwardConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  target.Config
		flag string
	}{
		{"unknown mode", target.Config{ForwardEvents: "handled"}, "--forward-events"},
		{"severity above 25", target.Config{ForwardSeverity: 26}, "--forward-severity"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Name, cfg.NATSURL, cfg.DataDir = "SQL01", "nats://127.0.0.1:1", t.TempDir()
			if err := target.Run(t.Context(), cfg); !errors.Is(err, target.ErrConfig) || !strings.Contains(err.Error(), tt.flag) {
				t.Errorf("Run: %v, want ErrConfig about %s", err, tt.flag)
			}
		})
	}
}

// TestForwardSQLServerErrors: an error written to the fake's error log reaches
// msx.event.<target>.<severity> through the agent's outbox, unless it is below the threshold or
// an enabled local alert handles it.
func TestForwardSQLServerErrors(t *testing.T) {
	fake := mssqltest.Start(t)
	if err := fake.AddAlert("torn page", 824, 0, true); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	sev17 := collect[schemas.Event](t, h.js, bus.StreamEvents, bus.EventSubject(token, "17"))
	h.startForwardingAgent(fake.DSN(), nil)

	for _, e := range []struct {
		number, severity int
		msg              string
	}{
		{50000, 16, "below the threshold"},
		{824, 24, "handled by an enabled alert"},
		{9002, 17, "The transaction log for database 'sales' is full due to 'LOG_BACKUP'."},
	} {
		if err := fake.LogError(e.number, e.severity, 1, e.msg); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "the 9002 event on msx.event."+token+".17", func() bool { return len(sev17.all()) > 0 })
	ev := sev17.all()[0]
	if ev.Source != "sqlserver" || ev.ErrorCode != 9002 || ev.Severity != 17 || ev.Server != serverName ||
		ev.Message != "The transaction log for database 'sales' is full due to 'LOG_BACKUP'." || time.Since(ev.Time) > time.Minute {
		t.Errorf("event = %+v", ev)
	}
	for _, e := range h.events.all() {
		if e.Source == "sqlserver" && e.ErrorCode != 9002 {
			t.Errorf("forwarded %d (severity %d): %+v", e.ErrorCode, e.Severity, e)
		}
	}

	// A restarted agent continues where it stopped: the old error is not sent again, the new
	// one is.
	h.startForwardingAgent(fake.DSN(), nil)
	if err := fake.LogError(823, 24, 2, "after the restart"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the event logged after the restart", func() bool {
		for _, e := range h.events.all() {
			if e.ErrorCode == 823 {
				return true
			}
		}
		return false
	})
	n := 0
	for _, e := range h.events.all() {
		if e.Source == "sqlserver" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d sqlserver events, want 2: %+v", n, h.events.all())
	}
}
