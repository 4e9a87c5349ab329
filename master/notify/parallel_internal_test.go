package notify

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/notify/notifytest"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	model "github.com/msx-project/msx/schemas/notify"
)

// TestParallelSendsBounded: 12 jobs fail at once (12 groups) and the webhook receiver holds
// each post a moment. The leader sends several at once but never more than SendParallel, every
// notification arrives exactly once, and the delivery log has one "sent" record per message.
func TestParallelSendsBounded(t *testing.T) {
	const groups, parallel = 12, 3
	hook := notifytest.RunHook(t)
	var now, most atomic.Int64
	hook.OnAccept(func([]byte) {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(100 * time.Millisecond) // a slow receiver: the sends overlap
		now.Add(-1)
	})
	nc, s := startHooked(t, Config{SendParallel: parallel}, hook.URL)
	for g := range groups {
		job := fmt.Sprintf("J%d", g)
		publishFailed(t, nc, "R"+job, "SQL01", job)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var log []model.Delivery
	for ctx.Err() == nil {
		if log, _ = s.Deliveries(ctx, 1000); len(log) >= groups {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	ids := map[string]int{}
	for _, m := range notifytest.Decode[Message](t, hook) {
		for _, id := range m.IDs {
			ids[id]++
		}
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("notification %s arrived %d times", id, n)
		}
	}
	if len(ids) != groups || len(log) != groups {
		t.Fatalf("%d notifications arrived, %d logged; want %d each", len(ids), len(log), groups)
	}
	for _, d := range log {
		if d.Result != model.ResultSent || len(d.IDs) != 1 {
			t.Errorf("log record %+v", d)
		}
	}
	if m := most.Load(); m < 2 || m > parallel {
		t.Errorf("at most %d sends at once, want 2..%d", m, parallel)
	}
}

// startHooked starts a Service alone on a fresh JetStream server (no storm window unless cfg
// sets one, a 20 ms tick, loopback webhooks allowed), its default operator posting webhooks to
// hookURL, and every job id a job "Job <id>" that notifies it by webhook when it fails. It
// returns the connection to publish results on.
func startHooked(tb testing.TB, cfg Config, hookURL string) (*nats.Conn, *Service) {
	tb.Helper()
	srv := bustest.RunServer(tb, "")
	nc, js := bustest.Connect(tb, srv.ClientURL())
	if err := (bus.Layout{}).Ensure(tb.Context(), js); err != nil {
		tb.Fatal(err)
	}
	if cfg.StormWindow == 0 {
		cfg.StormWindow = -1
	}
	cfg.Tick, cfg.Logger, cfg.WebhookAllow = 20*time.Millisecond, bustest.Logger(tb), []string{"127.0.0.1"}
	s, err := Start(tb.Context(), js, cfg, Deps{Job: func(id string) (jobs.Job, bool) {
		return jobs.Job{JobID: id, Name: "Job " + id, VersionNumber: 1, NotifyLevelWebhook: 2}, true
	}, Server: func(tok string) (string, bool) { return tok, true }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Shutdown)
	if _, err := s.PutOperator(tb.Context(), model.Operator{Name: model.DefaultOperator, WebhookURL: hookURL}, true); err != nil {
		tb.Fatal(err)
	}
	return nc, s
}

// publishFailed publishes the result of run, a failed run of job on server, as the target does.
func publishFailed(tb testing.TB, nc *nats.Conn, run, server, job string) {
	tb.Helper()
	data, err := schemas.Encode(&schemas.RunResult{RunID: run, Phase: schemas.PhaseFinished, JobID: job, JobName: "Job " + job,
		Server: server, Started: time.Now(), Finished: time.Now(), RunStatus: int(jobs.RunFailed), Message: "boom"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := nc.Publish(bus.ResultSubject(server, job), data); err != nil {
		tb.Fatal(err)
	}
}
