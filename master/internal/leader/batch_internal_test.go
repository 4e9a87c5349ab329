package leader

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus/bustest"
)

// A batch whose messages did not all reach the server (one lost on the way, as when a node
// dies or the connection reconnects mid-batch) is refused whole by nats-server, with a code
// that again() sends the batch again for; a batch refused for another reason is not.
func TestBatchLostInTransitIsSentAgain(t *testing.T) {
	nc, js := bustest.Connect(t, bustest.RunServer(t, "").ClientURL())
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}, AllowAtomicPublish: true}); err != nil {
		t.Fatal(err)
	}
	msg := func(seq string, commit bool) *nats.Msg {
		m := nats.NewMsg("b.x")
		m.Header.Set(batchIDHeader, "lost")
		m.Header.Set(batchSeqHeader, seq)
		if commit {
			m.Header.Set(batchCommitHeader, "1")
		}
		return m
	}
	// Message 2 of 3 never arrives.
	if err := nc.PublishMsg(msg("1", false)); err != nil {
		t.Fatal(err)
	}
	_, err := js.PublishMsg(ctx, msg("3", true))
	if err == nil || !lostInTransit(err) || busy(err) {
		t.Fatalf("a batch missing a message: err %v, want one lostInTransit recognises", err)
	}
	if info, _ := js.Stream(ctx, "B"); info != nil && info.CachedInfo().State.Msgs != 0 {
		t.Fatalf("the refused batch stored %d messages", info.CachedInfo().State.Msgs)
	}
	// Sent again whole, it is stored.
	f := NewFence(js, "b.~term")
	if err := f.Raise(ctx, 1, "m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.PublishBatch(ctx, nc, []*nats.Msg{nats.NewMsg("b.x"), nats.NewMsg("b.x"), nats.NewMsg("b.x")}); err != nil {
		t.Fatal(err)
	}
	// A message of a batch the stream does not allow is another refusal: not sent again.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "N", Subjects: []string{"n.>"}}); err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("n.x")
	m.Header.Set(batchIDHeader, "no")
	m.Header.Set(batchSeqHeader, "1")
	m.Header.Set(batchCommitHeader, "1")
	if _, err := js.PublishMsg(ctx, m); err == nil || lostInTransit(err) {
		t.Fatalf("a batch on a stream without atomic publish: err %v, want a refusal not sent again", err)
	}
}
