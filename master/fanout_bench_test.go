package master_test

// The cost of fencing a fan-out: a real master posting one instruction to each of n targets
// (fenced atomic batches of up to 1,000, acknowledged per batch) against the same messages
// published unfenced with asynchronous publishes and one wait for every acknowledgement (how
// the master posted before fan-outs were fenced), on one node (R1) and on a three-node cluster
// (R3).
//
//	go test -run '^$' -bench 'Fanout' -benchtime 10x ./master/

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

func BenchmarkFanout(b *testing.B) {
	for _, bc := range []struct {
		name     string
		replicas int
		url      func(b *testing.B) string
	}{
		{"R1", 1, func(b *testing.B) string { return bustest.RunServer(b, "").ClientURL() }},
		{"R3", 3, func(b *testing.B) string { return bustest.RunCluster(b).URL() }},
	} {
		for _, n := range []int{1000} {
			b.Run(fmt.Sprintf("%s/targets=%d", bc.name, n), func(b *testing.B) {
				url := bc.url(b)
				nc, _ := bustest.Connect(b, url)
				ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
				defer cancel()
				m, err := master.Start(ctx, nc, master.Config{Name: masterName, Logger: bustest.Logger(b),
					Layout: bus.Layout{Replicas: bc.replicas}})
				if err != nil {
					b.Fatalf("start master: %v", err)
				}
				b.Cleanup(func() { shutdownMaster(b, m) })
				for i := range n {
					name := fmt.Sprintf("FAN%05d", i+1)
					if err := m.Reg.PutTarget(ctx, registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), PollInterval: 60}); err != nil {
						b.Fatal(err)
					}
				}
				b.Run("fenced", func(b *testing.B) {
					for b.Loop() {
						posted, err := m.Action(ctx, "synctime", nil, true, 0)
						if err != nil || len(posted) != n {
							b.Fatalf("fan-out: %d posted, %v", len(posted), err)
						}
					}
				})
				b.Run("unfenced", func(b *testing.B) {
					_, ujs := bustest.Connect(b, url)
					for b.Loop() {
						futures := make([]jetstream.PubAckFuture, n)
						for i := range n {
							name := fmt.Sprintf("FAN%05d", i+1)
							in := schemas.Instruction{Operation: schemas.OpSyncTime, ObjectName: name, Target: name, Source: masterName, Posted: time.Now().UTC()}
							data, err := schemas.Encode(&in)
							if err != nil {
								b.Fatal(err)
							}
							if futures[i], err = ujs.PublishAsync(bus.InstrSubject(jobs.ServerToken(name)), data); err != nil {
								b.Fatal(err)
							}
						}
						for _, f := range futures {
							select {
							case <-f.Ok():
							case err := <-f.Err():
								b.Fatal(err)
							case <-ctx.Done():
								b.Fatal(ctx.Err())
							}
						}
					}
				})
			})
		}
	}
}
