package target_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// BenchmarkApplyInserts applies n INSERT instructions, each a new job on a schedule, to one
// target through a real JetStream server, the agent's store and its scheduler: the time from
// the first post to the report of the last one. Issue 11's goal: 1,000 jobs in under 2 s.
func BenchmarkApplyInserts(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				h := newHarness(b)
				msgs := make([][]byte, n)
				for i := range msgs {
					j := newJob(fmt.Sprintf("bench %d", i), jobs.SubsystemCmdExec, "true")
					j.Schedules = append(j.Schedules, every10s())
					j.Schedules[0].FreqSubdayInterval = 3600 // never fires during the benchmark
					raw, _ := json.Marshal(j)
					in := &schemas.Instruction{ID: j.JobID, Operation: schemas.OpInsert, ObjectID: j.JobID, ObjectName: j.Name,
						Target: serverName, Source: masterName, Posted: time.Now().UTC(), Job: raw}
					data, err := schemas.Encode(in)
					if err != nil {
						b.Fatal(err)
					}
					msgs[i] = data
				}
				b.StartTimer()
				last := postAll(b, h.js, msgs)
				waitFor(b, 5*time.Minute, "the last INSERT's report", func() bool {
					st := h.statuses.all()
					return len(st) > 0 && st[len(st)-1].Seq >= last
				})
				b.StopTimer()
				for _, st := range h.statuses.all() {
					if st.Status != schemas.StatusApplied {
						b.Fatalf("instruction %d: %+v", st.Seq, st.Error)
					}
				}
				h.stopAgent()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// postAll publishes the instructions asynchronously and returns the stream sequence of the last.
func postAll(tb testing.TB, js jetstream.JetStream, msgs [][]byte) uint64 {
	tb.Helper()
	var last jetstream.PubAckFuture
	for _, m := range msgs {
		f, err := js.PublishAsync(bus.InstrSubject(token), m)
		if err != nil {
			tb.Fatal(err)
		}
		last = f
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		tb.Fatal("instructions not acknowledged")
	}
	select {
	case ack := <-last.Ok():
		return ack.Sequence
	case err := <-last.Err():
		tb.Fatal(err)
	}
	return 0
}
