package leader_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/internal/leader"
)

// A deposed leader's writes are refused once the new leader has raised its fence, on a single
// node and on a replicated stream of a three-node cluster.
func TestFenceRefusesDeposedLeader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int
		url      func(t *testing.T) string
	}{
		{"single node R1", 1, func(t *testing.T) string { return bustest.RunServer(t, "").ClientURL() }},
		{"cluster R3", 3, func(t *testing.T) string { return bustest.RunCluster(t).URL() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			_, jsOld := bustest.Connect(t, url)
			_, jsNew := bustest.Connect(t, url)
			if _, err := jsOld.CreateStream(t.Context(), jetstream.StreamConfig{Name: "FENCED", Subjects: []string{"f.>"}, Replicas: tc.replicas}); err != nil {
				t.Fatal(err)
			}
			old, next := leader.NewFence(jsOld, "f.~term"), leader.NewFence(jsNew, "f.~term")
			// Through Publish, which sends a write refused as busy (10164: the previous write
			// on the fence subject still replicating) again.
			write := func(f *leader.Fence, _ jetstream.JetStream, i int) error {
				_, err := f.Publish(t.Context(), "f.data", fmt.Appendf(nil, "%d", i))
				return err
			}
			if err := write(old, jsOld, 0); err != nil {
				t.Fatalf("write before any fence was raised: %v", err)
			}
			if err := old.Raise(t.Context(), 1, "OLD"); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := write(old, jsOld, i); err != nil {
					t.Fatalf("leader of term 1 write %d: %v", i, err)
				}
			}
			if err := write(next, jsNew, 9); !leader.Fenced(err) {
				t.Fatalf("write of a master that never raised the fence: err %v, want fenced", err)
			}
			if err := next.Raise(t.Context(), 2, "NEW"); err != nil {
				t.Fatal(err)
			}
			if err := write(old, jsOld, 10); !leader.Fenced(err) {
				t.Fatalf("deposed leader's write: err %v, want fenced", err)
			}
			if err := write(next, jsNew, 11); err != nil {
				t.Fatalf("new leader's write: %v", err)
			}
			info, err := jsNew.Stream(t.Context(), "FENCED")
			if err != nil {
				t.Fatal(err)
			}
			if st := info.CachedInfo().State; st.Msgs != 7 { // 5 writes + 2 markers
				t.Fatalf("stream holds %d messages, want 7", st.Msgs)
			}
		})
	}
}

// A fan-out in fenced atomic batches, KV writes and single writes of a leader all go through
// on an R3 stream, several at once (the transient refusal of a busy fence subject is sent
// again); once a new leader has raised its fences, every one of the deposed leader's is refused
// and stores nothing, and the new leader's go through.
func TestFencedBatchesAndKVOnCluster(t *testing.T) {
	url := bustest.RunCluster(t).URL()
	ncOld, jsOld := bustest.Connect(t, url)
	ncNew, jsNew := bustest.Connect(t, url)
	ctx := t.Context()
	if _, err := jsOld.CreateStream(ctx, jetstream.StreamConfig{Name: "FANOUT", Subjects: []string{"o.>"}, Replicas: 3, AllowAtomicPublish: true}); err != nil {
		t.Fatal(err)
	}
	kvOld, err := jsOld.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "fenced", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	type fences struct{ stream, kv *leader.Fence }
	old := fences{leader.NewFence(jsOld, "o.~term"), leader.NewKVFence(jsOld, "fenced")}
	next := fences{leader.NewFence(jsNew, "o.~term"), leader.NewKVFence(jsNew, "fenced")}
	batch := func(n int, tag string) []*nats.Msg {
		out := make([]*nats.Msg, n)
		for i := range out {
			out[i] = &nats.Msg{Subject: fmt.Sprintf("o.t%d", i%7), Data: fmt.Appendf(nil, "%s-%d", tag, i)}
		}
		return out
	}
	for _, f := range []*leader.Fence{old.stream, old.kv} {
		if err := f.Raise(ctx, 1, "OLD"); err != nil {
			t.Fatal(err)
		}
	}
	// Several writers of one leader at once: batches, KV puts and single publishes.
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for w := range 10 {
		wg.Go(func() {
			_, err := old.stream.PublishBatch(ctx, ncOld, batch(50, fmt.Sprint("w", w)))
			errs <- err
		})
		wg.Go(func() { _, err := old.kv.KVPut(ctx, fmt.Sprintf("k%d", w), []byte("v")); errs <- err })
		wg.Go(func() { _, err := old.stream.Publish(ctx, "o.single", []byte("s")); errs <- err })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a leader's concurrent fenced write: %v", err)
		}
	}
	if got := streamMsgs(t, jsOld, "FANOUT"); got != 1+10*50+10 {
		t.Fatalf("stream holds %d messages, want the marker, 10 batches of 50 and 10 singles", got)
	}
	if err := old.kv.KVDelete(ctx, "k0"); err != nil {
		t.Fatal(err)
	}
	if _, err := kvOld.Get(ctx, "k0"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("k0 after a fenced delete: %v, want not found", err)
	}
	if e, err := kvOld.Get(ctx, "k1"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("k1 after a fenced put: %v", err)
	}
	for _, f := range []*leader.Fence{next.stream, next.kv} {
		if err := f.Raise(ctx, 2, "NEW"); err != nil {
			t.Fatal(err)
		}
	}
	before := streamMsgs(t, jsNew, "FANOUT")
	if _, err := old.stream.PublishBatch(ctx, ncOld, batch(20, "late")); !leader.Fenced(err) {
		t.Fatalf("deposed leader's batch: err %v, want fenced", err)
	}
	if _, err := old.stream.Publish(ctx, "o.single", []byte("late")); !leader.Fenced(err) {
		t.Fatalf("deposed leader's publish: err %v, want fenced", err)
	}
	if _, err := old.kv.KVPut(ctx, "k1", []byte("late")); !leader.Fenced(err) {
		t.Fatalf("deposed leader's KV put: err %v, want fenced", err)
	}
	if err := old.kv.KVDelete(ctx, "k2"); !leader.Fenced(err) {
		t.Fatalf("deposed leader's KV delete: err %v, want fenced", err)
	}
	if got := streamMsgs(t, jsNew, "FANOUT"); got != before {
		t.Fatalf("the refused writes stored %d messages", got-before)
	}
	if _, err := next.stream.PublishBatch(ctx, ncNew, batch(20, "new")); err != nil {
		t.Fatalf("new leader's batch: %v", err)
	}
	if _, err := next.kv.KVPut(ctx, "k1", []byte("new")); err != nil {
		t.Fatalf("new leader's KV put: %v", err)
	}
	if e, err := kvOld.Get(ctx, "k1"); err != nil || string(e.Value()) != "new" {
		t.Fatalf("k1 after the new leader's put: %v", err)
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.Msgs
}

// A batch larger than the server takes, or empty, is refused before anything is sent.
func TestFencedBatchSize(t *testing.T) {
	nc, js := bustest.Connect(t, bustest.RunServer(t, "").ClientURL())
	f := leader.NewFence(js, "x.~term")
	for _, n := range []int{0, leader.MaxBatch + 1} {
		if _, err := f.PublishBatch(t.Context(), nc, make([]*nats.Msg, n)); err == nil || !strings.Contains(err.Error(), "send 1 to") {
			t.Fatalf("batch of %d: err %v, want a clear refusal", n, err)
		}
	}
}
