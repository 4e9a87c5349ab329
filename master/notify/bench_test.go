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

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/notify/notifytest"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	model "github.com/msx-project/msx/schemas/notify"
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
	srv := bustest.RunServer(b, "")
	nc, js := bustest.Connect(b, srv.ClientURL())
	if err := (bus.Layout{}).Ensure(b.Context(), js); err != nil {
		b.Fatal(err)
	}
	hook := notifytest.RunHook(b)
	job := jobs.Job{JobID: "J1", Name: "Backup", VersionNumber: 1, NotifyLevelWebhook: 2}
	s, err := Start(b.Context(), js, Config{StormWindow: window, Tick: 20 * time.Millisecond, Logger: bustest.Logger(b), WebhookAllow: []string{"127.0.0.1"}},
		Deps{Job: func(string) (jobs.Job, bool) { return job, true }, Server: func(tok string) (string, bool) { return tok, true }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Shutdown)
	if _, err := s.PutOperator(b.Context(), model.Operator{Name: model.DefaultOperator, WebhookURL: hook.URL}, true); err != nil {
		b.Fatal(err)
	}
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
			tok := fmt.Sprintf("SQL%04d", t)
			data, _ := schemas.Encode(&schemas.RunResult{RunID: fmt.Sprintf("R%d", run), Phase: schemas.PhaseFinished, JobID: "J1",
				JobName: "Backup", Server: tok, Started: time.Now(), Finished: time.Now(), RunStatus: int(jobs.RunFailed), Message: "boom"})
			if err := nc.Publish(bus.ResultSubject(tok, "J1"), data); err != nil {
				b.Fatal(err)
			}
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
	srv := bustest.RunServer(b, "")
	nc, js := bustest.Connect(b, srv.ClientURL())
	if err := (bus.Layout{}).Ensure(b.Context(), js); err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m Message
		if err := json.NewDecoder(r.Body).Decode(&m); err == nil {
			time.Sleep(delay) // a slow receiver
			got.Add(int64(len(m.IDs)))
		}
	}))
	b.Cleanup(hook.Close)
	s, err := Start(b.Context(), js, Config{StormWindow: -1, Tick: 20 * time.Millisecond, Logger: bustest.Logger(b), WebhookAllow: []string{"127.0.0.1"}, SendParallel: parallel},
		Deps{Job: func(id string) (jobs.Job, bool) {
			return jobs.Job{JobID: id, Name: "Job " + id, VersionNumber: 1, NotifyLevelWebhook: 2}, true
		}, Server: func(tok string) (string, bool) { return tok, true }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Shutdown)
	if _, err := s.PutOperator(b.Context(), model.Operator{Name: model.DefaultOperator, WebhookURL: hook.URL}, true); err != nil {
		b.Fatal(err)
	}
	run := 0
	b.ResetTimer()
	for range b.N {
		before := got.Load()
		for g := range groups {
			run++
			job := fmt.Sprintf("J%d", g)
			data, _ := schemas.Encode(&schemas.RunResult{RunID: fmt.Sprintf("R%d", run), Phase: schemas.PhaseFinished, JobID: job,
				JobName: "Job " + job, Server: "SQL01", Started: time.Now(), Finished: time.Now(), RunStatus: int(jobs.RunFailed), Message: "boom"})
			if err := nc.Publish(bus.ResultSubject("SQL01", job), data); err != nil {
				b.Fatal(err)
			}
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
