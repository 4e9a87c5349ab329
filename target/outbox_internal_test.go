package target

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/target/store"
)

// TestOutboxWindowsAcrossRestart drains an outbox of several windows while the bus restarts
// in the middle: every report lands once, in the order queued.
func TestOutboxWindowsAcrossRestart(t *testing.T) {
	const n = 4 * outboxWindow
	listen, storeDir := fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t)), t.TempDir()
	startBus := func() *bus.Server {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := bus.StartServer(ctx, bus.ServerConfig{Listen: listen, StoreDir: storeDir, Logger: bustest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
		return s
	}
	srv := startBus()
	nc, err := nats.Connect("nats://"+listen, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if err := (bus.Layout{}).Ensure(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "target.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs := make([]store.OutMsg, n)
	for i := range msgs {
		msgs[i] = store.OutMsg{Subject: bus.ResultSubject("T", fmt.Sprintf("J%d", i)), MsgID: fmt.Sprintf("run-%05d-finished", i), Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))}
	}
	if err := st.Enqueue(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	a := &Agent{store: st, js: js, log: slog.New(slog.DiscardHandler), sending: make(chan struct{}, 1), spool: newSpool(defaultHoldBytes),
		outbox: make(chan struct{}, 1), cfg: Config{OutboxBytes: defaultOutboxBytes}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.flushOutbox(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	queued := func() int {
		q, err := st.Outbox(t.Context(), 0, n)
		if err != nil {
			t.Fatal(err)
		}
		return len(q)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("the first window out", func() bool { return queued() < n })
	srv.Shutdown()
	if left := queued(); left == 0 {
		t.Fatal("the outbox drained before the bus stopped: nothing was sent across the restart")
	} else {
		t.Logf("%d of %d reports queued when the bus stopped", left, n)
	}
	startBus()
	a.wakeOutbox()
	waitFor("the outbox drained", func() bool { return queued() == 0 })

	s, err := js.Stream(t.Context(), bus.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != n {
		t.Fatalf("%d reports in the stream, want %d, each once", info.State.Msgs, n)
	}
	for seq := uint64(1); seq <= n; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"i":%d}`, seq-1); string(m.Data) != want {
			t.Fatalf("stream message %d is %s, want %s: out of order", seq, m.Data, want)
		}
	}
}
