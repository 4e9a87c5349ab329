package target

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msx-project/msx/target/store"
)

// TestPruneOutboxRaisesEvent fills the outbox over its limit: the start report and the event
// go, the outcome stays, and an event says what was dropped.
func TestPruneOutboxRaisesEvent(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "target.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &Agent{store: st, log: slog.New(slog.DiscardHandler), spool: newSpool(defaultHoldBytes), outbox: make(chan struct{}, 1),
		cfg: Config{OutboxBytes: 1000}, id: store.Identity{ServerName: "SQL01", Token: "SQL01"}}
	big := []byte(strings.Repeat("x", 600))
	if err := st.Enqueue(t.Context(),
		store.OutMsg{Subject: "s", MsgID: "run-r1-started", Payload: big},
		store.OutMsg{Subject: "s", MsgID: "event-e1", Payload: big},
		store.OutMsg{Subject: "s", MsgID: "run-r1-finished", Payload: big}); err != nil {
		t.Fatal(err)
	}
	a.pruneOutbox(t.Context())
	rows, err := st.Outbox(t.Context(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.MsgID)
	}
	if len(rows) != 2 || ids[0] != "run-r1-finished" || !strings.HasPrefix(ids[1], "event-outbox-dropped-") {
		t.Fatalf("outbox after pruning: %v, want the outcome and an event", ids)
	}
	if msg := string(rows[1].Payload); !strings.Contains(msg, "1 run start report(s) and 1 event(s)") {
		t.Errorf("event %s does not say what was dropped", msg)
	}
}
