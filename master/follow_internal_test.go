package master

import (
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

// A follower whose consumer stops delivering while the stream goes on (seen on a cluster that
// lost a node: no error, no heartbeat gap, no message) notices it by asking the stream, and
// resumes after the last message it handled: every later message is handled, none twice. The
// stall is made real here by pausing the follower's consumer on the server: it stays alive
// and answers heartbeats, and delivers nothing.
func TestFollowerResumesAfterStalledConsumer(t *testing.T) {
	bustest.FastStallChecks(t)

	srv := bustest.RunServer(t, "")
	nc, js := bustest.Connect(t, srv.ClientURL())
	ctx := t.Context()
	m, err := Start(ctx, nc, Config{Name: "STALL", Logger: bustest.Logger(t)})
	if err != nil {
		t.Fatalf("start master: %v", err)
	}
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })

	publish := func(n int) {
		t.Helper()
		// Malformed results: each one handled is counted once in Rejected.
		if _, err := js.Publish(ctx, "msx.result.NOSUCH.job", []byte(`{"type":"junk"}`)); err != nil {
			t.Fatalf("publish %d: %v", n, err)
		}
	}
	waitRejected := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for m.Rejected.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("master handled %d of the %d results published", m.Rejected.Load(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	publish(1)
	waitRejected(1)

	s, err := js.Stream(ctx, bus.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	paused := 0
	for name := range s.ConsumerNames(ctx).Name() {
		if _, err := js.PauseConsumer(ctx, bus.StreamResults, name, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("pause consumer %s: %v", name, err)
		}
		paused++
	}
	if paused == 0 {
		t.Fatal("no consumer follows MSX_RESULTS")
	}
	stalledBefore := bus.Stalls()[bus.StreamResults]
	publish(2)
	publish(3)
	waitRejected(3)
	publish(4)
	waitRejected(4)
	// Nothing handled twice: the new consumer started after the last message handled.
	time.Sleep(3 * bus.StallCheck)
	if got := m.Rejected.Load(); got != 4 {
		t.Errorf("master counted %d results, want 4 (a result was handled twice)", got)
	}
	// The replacement shows in the metrics: an operator can alert on followers that stall.
	mfs, err := m.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exported float64
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if mf.GetName() == "msx_master_follower_stalls_total" && len(mt.GetLabel()) == 1 && mt.GetLabel()[0].GetValue() == bus.StreamResults {
				exported = mt.GetCounter().GetValue()
			}
		}
	}
	if exported < float64(stalledBefore+1) {
		t.Errorf("msx_master_follower_stalls_total{name=%q} = %v, want at least %d", bus.StreamResults, exported, stalledBefore+1)
	}
}
