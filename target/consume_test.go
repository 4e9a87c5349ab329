package target_test

import (
	"testing"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
)

// TestConsumerLostAndRemade: the instruction consumer the master made goes away under a running
// agent (deleted, expired, lost with a server restart); the agent asks for a new one from its last applied sequence and misses nothing, applies
// nothing twice.
func TestConsumerLostAndRemade(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	h.status(h.post(schemas.OpSyncTime, "", "", nil))
	s, err := h.js.Stream(ctx, bus.StreamInstr)
	if err != nil {
		t.Fatal(err)
	}

	// Deleted: the agent's pull is told so.
	if err := s.DeleteConsumer(ctx, bus.InstrConsumerName(token)); err != nil {
		t.Fatal(err)
	}
	h.status(h.post(schemas.OpSyncTime, "", "", nil))

	// Lost with the server: memory consumers do not survive a restart. The agent reconnects and
	// asks again.
	h.srv.Shutdown()
	h.startServer()
	h.status(h.post(schemas.OpSyncTime, "", "", nil))

	seen := map[uint64]int{}
	for _, st := range h.statuses.all() {
		seen[st.Seq]++
	}
	for seq, n := range seen {
		if n != 1 {
			t.Errorf("instruction %d reported %d times", seq, n)
		}
	}
}
