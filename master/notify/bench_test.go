package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msx-project/msx/master/notify/notifytest"
)

// BenchmarkFailureStorm publishes one failed run from each of 200 targets on a real JetStream
// server and measures the leader's work until every notification is delivered to a real
// webhook receiver: the cost per notification and how many messages the storm grouping sent.
//
//	go test -run '^$' -bench FailureStorm -benchtime 3x ./master/notify/
func BenchmarkFailureStorm(b *testing.B) {
	for _, w := range []time.Duration{200 * time.Millisecond, -1} {
		b.Run(fmt.Sprintf("window=%s", w), func(b *testing.B) { benchStorm(b, w) })
	}
}

func benchStorm(b *testing.B, window time.Duration) {
	const targets = 200
	hook := notifytest.RunHook(b)
	nc, _ := startHooked(b, Config{StormWindow: window}, hook.URL)
	run := 0
	b.ResetTimer()
	for range b.N {
		before := len(hook.Bodies())
		delivered := func() int {
			n := 0
			for _, m := range notifytest.Decode[Message](b, hook)[before:] {
				n += len(m.IDs)
			}
			return n
		}
		for t := range targets {
			run++
			publishFailed(b, nc, fmt.Sprintf("R%d", run), fmt.Sprintf("SQL%04d", t), "J1")
		}
		ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
		for delivered() < targets && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if got := delivered(); got != targets {
			b.Fatalf("%d of %d notifications delivered", got, targets)
		}
		b.ReportMetric(float64(len(hook.Bodies())-before), "messages/op")
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*targets), "µs/notification")
}

// BenchmarkSlowWebhook measures how long the leader takes to deliver the notifications of 40
// jobs, each failing on one target (40 groups, so 40 messages), to a real webhook receiver on
// loopback that takes 50 ms to answer each post, with SendParallel 1 (one at a time, as before
// parallel sends) and the default.
//
//	go test -run '^$' -bench SlowWebhook -benchtime 3x ./master/notify/
func BenchmarkSlowWebhook(b *testing.B) {
	for _, par := range []int{1, DefaultSendParallel, 16} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) { benchSlowWebhook(b, par) })
	}
}

func benchSlowWebhook(b *testing.B, parallel int) {
	const groups, delay = 40, 50 * time.Millisecond
	var got atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m Message
		if err := json.NewDecoder(r.Body).Decode(&m); err == nil {
			time.Sleep(delay) // a slow receiver
			got.Add(int64(len(m.IDs)))
		}
	}))
	b.Cleanup(hook.Close)
	nc, _ := startHooked(b, Config{SendParallel: parallel}, hook.URL)
	run := 0
	b.ResetTimer()
	for range b.N {
		before := got.Load()
		for g := range groups {
			run++
			publishFailed(b, nc, fmt.Sprintf("R%d", run), "SQL01", fmt.Sprintf("J%d", g))
		}
		ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
		for got.Load()-before < groups && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if n := got.Load() - before; n != groups {
			b.Fatalf("%d of %d notifications delivered", n, groups)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/storm")
}
