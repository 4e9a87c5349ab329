package notify

import (
	"context"
	"fmt"
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

// TestParallelSendsBounded: 12 jobs fail at once (12 groups) and the webhook receiver holds
// each post a moment. The leader sends several at once but never more than SendParallel, every
// notification arrives exactly once, and the delivery log has one "sent" record per message.
func TestParallelSendsBounded(t *testing.T) {
	const groups, parallel = 12, 3
	srv := bustest.RunServer(t, "")
	nc, js := bustest.Connect(t, srv.ClientURL())
	if err := (bus.Layout{}).Ensure(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	hook := notifytest.RunHook(t)
	var now, most atomic.Int64
	hook.OnAccept(func([]byte) {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(100 * time.Millisecond) // a slow receiver: the sends overlap
		now.Add(-1)
	})
	s, err := Start(t.Context(), js, Config{StormWindow: -1, Tick: 20 * time.Millisecond, Logger: bustest.Logger(t),
		WebhookAllow: []string{"127.0.0.1"}, SendParallel: parallel},
		Deps{Job: func(id string) (jobs.Job, bool) {
			return jobs.Job{JobID: id, Name: "Job " + id, VersionNumber: 1, NotifyLevelWebhook: 2}, true
		}, Server: func(tok string) (string, bool) { return tok, true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	if _, err := s.PutOperator(t.Context(), model.Operator{Name: model.DefaultOperator, WebhookURL: hook.URL}, true); err != nil {
		t.Fatal(err)
	}
	for g := range groups {
		job := fmt.Sprintf("J%d", g)
		data, _ := schemas.Encode(&schemas.RunResult{RunID: "R" + job, Phase: schemas.PhaseFinished, JobID: job, JobName: "Job " + job,
			Server: "SQL01", Started: time.Now(), Finished: time.Now(), RunStatus: int(jobs.RunFailed), Message: "boom"})
		if err := nc.Publish(bus.ResultSubject("SQL01", job), data); err != nil {
			t.Fatal(err)
		}
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
