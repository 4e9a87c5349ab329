package bus_test

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

// A bucket watcher whose consumer stops delivering while the bucket is written (seen on a
// cluster that lost a node) notices it by asking the bucket, and resumes after the last entry
// applied: every later write is applied, none twice. The stall is made real by pausing the
// watcher's consumer on the server: it stays alive and delivers nothing.
func TestWatchFromResumesAfterStalledWatcher(t *testing.T) {
	bustest.FastStallChecks(t)

	srv := bustest.RunServer(t, "")
	_, js := bustest.Connect(t, srv.ClientURL())
	ctx := t.Context()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "stall"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var revs []uint64
	go func() {
		_ = bus.WatchFrom(ctx, kv, 1, bustest.Logger(t), func(e jetstream.KeyValueEntry) {
			mu.Lock()
			revs = append(revs, e.Revision())
			mu.Unlock()
		})
	}()
	put := func(key string) {
		t.Helper()
		if _, err := kv.PutString(ctx, key, "v"); err != nil {
			t.Fatal(err)
		}
	}
	applied := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(revs)
			mu.Unlock()
			if n >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("watcher applied %d of the %d writes", n, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	put("a")
	applied(1)
	paused := 0
	for name := range mustStream(t, js, "KV_stall").ConsumerNames(ctx).Name() {
		if _, err := js.PauseConsumer(ctx, "KV_stall", name, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("pause consumer %s: %v", name, err)
		}
		paused++
	}
	if paused == 0 {
		t.Fatal("no consumer watches the bucket")
	}
	stalledBefore := bus.Stalls()["stall"]
	put("b")
	put("c")
	applied(3)
	put("d")
	applied(4)
	time.Sleep(3 * bus.StallCheck)
	mu.Lock()
	defer mu.Unlock()
	if n := bus.Stalls()["stall"]; n < stalledBefore+1 {
		t.Errorf("stalls counted for the bucket: %d, want at least %d", n, stalledBefore+1)
	}
	if len(revs) != 4 || revs[0] != 1 || revs[1] != 2 || revs[2] != 3 || revs[3] != 4 {
		t.Errorf("revisions applied %v, want [1 2 3 4]: each write once, in order", revs)
	}
}

func mustStream(tb testing.TB, js jetstream.JetStream, name string) jetstream.Stream {
	tb.Helper()
	s, err := js.Stream(tb.Context(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestStall(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type check struct {
		pos     uint64
		waiting bool
		after   time.Duration // since t0
		want    bool
	}
	for _, tc := range []struct {
		name   string
		checks []check
	}{
		{"nothing waits", []check{{5, false, 0, false}, {5, false, time.Minute, false}}},
		{"waits without progress", []check{{5, true, 0, false}, {5, true, bus.StallAfter - time.Second, false}, {5, true, bus.StallAfter, true}}},
		{"progress resets", []check{{5, true, 0, false}, {6, true, bus.StallAfter, false}, {6, true, 2*bus.StallAfter - time.Second, false}, {6, true, 2 * bus.StallAfter, true}}},
		{"caught up in between resets", []check{{5, true, 0, false}, {5, false, bus.StallAfter / 2, false}, {5, true, bus.StallAfter, false}, {5, true, 2*bus.StallAfter - time.Second, false}}},
		{"first check already waiting", []check{{0, true, 0, false}, {0, true, bus.StallAfter, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s bus.Stall
			for i, c := range tc.checks {
				if got := s.Stalled(c.pos, c.waiting, t0.Add(c.after)); got != c.want {
					t.Fatalf("check %d (pos %d, waiting %v, at +%s): stalled %v, want %v", i, c.pos, c.waiting, c.after, got, c.want)
				}
			}
		})
	}
}
