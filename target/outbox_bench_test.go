package target

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/target/store"
)

// BenchmarkOutboxDrain drains n queued reports of about 600 bytes through the agent's outbox
// sender (read from the local database, publish, wait for acks, delete), beside raw JetStream
// async publishes of the same messages on the same server: reports/s each, in one run.
func BenchmarkOutboxDrain(b *testing.B) {
	srv := bustest.RunServer(b, "")
	nc, js := bustest.Connect(b, srv.ClientURL())
	// Raw publishes are not windowed: all in flight at once.
	rawJS, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(20000))
	if err != nil {
		b.Fatal(err)
	}
	if err := (bus.Layout{}).Ensure(b.Context(), js); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"type":"msx.result.v1","rows":"` + strings.Repeat("x", 560) + `"}`)
	run := 0
	msgs := func(n int) []store.OutMsg {
		run++
		out := make([]store.OutMsg, n)
		for i := range out {
			out[i] = store.OutMsg{Subject: bus.ResultSubject("T", fmt.Sprintf("J%d", i%50)), MsgID: fmt.Sprintf("run-%d-%d-finished", run, i), Payload: payload}
		}
		return out
	}
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("outbox/n=%d", n), func(b *testing.B) {
			st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "target.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			a := &Agent{store: st, js: js, log: slog.New(slog.DiscardHandler), sending: make(chan struct{}, 1), spool: newSpool(defaultHoldBytes)}
			for range b.N {
				b.StopTimer()
				if err := st.Enqueue(b.Context(), msgs(n)...); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := a.sendOutbox(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if q, _ := st.Outbox(b.Context(), 0, 1); len(q) != 0 {
				b.Fatal("outbox not drained")
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "reports/s")
		})
		b.Run(fmt.Sprintf("raw/n=%d", n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				ms := msgs(n)
				b.StartTimer()
				futures := make([]jetstream.PubAckFuture, 0, n)
				for _, m := range ms {
					f, err := rawJS.PublishAsync(m.Subject, m.Payload, jetstream.WithMsgID(m.MsgID))
					if err != nil {
						b.Fatal(err)
					}
					futures = append(futures, f)
				}
				select {
				case <-rawJS.PublishAsyncComplete():
				case <-time.After(time.Minute):
					b.Fatal("no acks")
				}
				for _, f := range futures {
					select {
					case <-f.Ok():
					case err := <-f.Err():
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "reports/s")
		})
	}
}
