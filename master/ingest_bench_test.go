package master_test

// The master's results ingestion alone: n ready-made finished results (one per target, as
// targets publish them) async-published at once to a real master on a real JetStream server,
// timed until the master's job servers view counts them all; beside it the same payloads
// published to a plain stream and read by one ordered consumer (bare JetStream). Targets and
// the job are written straight into the registry and catalog (no agents). The notifier runs,
// as on a leading master.
//
//	go test -run '^$' -bench 'Ingest' -benchtime 10x -count 2 ./master/
//	go test -run '^$' -bench 'Ingest/msx' -benchtime 20x -cpuprofile /tmp/ingest.pprof ./master/

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// startBenchGroup starts a master with n targets named prefix00001... (written to the registry,
// no agents), all members of the group ALL.
func startBenchGroup(b *testing.B, prefix string, n int) (*master.Master, jetstream.JetStream, []string) {
	b.Helper()
	ctx := b.Context()
	m, js := startBenchMaster(b)
	if _, err := m.Reg.AddGroup(ctx, "ALL"); err != nil {
		b.Fatal(err)
	}
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("%s%05d", prefix, i+1)
		t := registry.Target{ServerID: i + 1, ServerName: names[i], Token: jobs.ServerToken(names[i]), EnlistDate: time.Now().UTC(), PollInterval: 60}
		if err := m.Reg.PutTarget(ctx, t); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Reg.AddMember(ctx, "ALL", names[i]); err != nil {
			b.Fatal(err)
		}
	}
	return m, js, names
}

func BenchmarkIngest(b *testing.B) {
	const n = 1000
	ctx := b.Context()
	m, js, names := startBenchGroup(b, "INGEST", n)
	j := jobs.Job{JobID: "00000000-0000-0000-0000-00000000a001", Name: "ingest", VersionNumber: 1, Targets: jobs.Targets{Groups: []string{"ALL"}}}
	if err := m.Catalog.Put(ctx, j); err != nil {
		b.Fatal(err)
	}
	round := 0
	// payloads encodes one finished result per target, with run ids new in each round.
	payloads := func() [][]byte {
		round++
		now := time.Now().UTC()
		row, _ := json.Marshal(jobs.HistoryRow{JobID: j.JobID, JobName: j.Name, RunStatus: jobs.RunSucceeded, Message: "The job succeeded."})
		out := make([][]byte, n)
		for i, name := range names {
			res := schemas.RunResult{RunID: fmt.Sprintf("ingest-%d-%d", round, i), Phase: schemas.PhaseFinished, JobID: j.JobID, JobName: j.Name,
				VersionNumber: 1, Server: name, Started: now, Finished: now, RunStatus: int(jobs.RunSucceeded), Rows: []json.RawMessage{row}}
			data, err := schemas.Encode(&res)
			if err != nil {
				b.Fatal(err)
			}
			out[i] = data
		}
		return out
	}
	publish := func(subject func(i int) string, data [][]byte) {
		for i, d := range data {
			if _, err := js.PublishAsync(subject(i), d); err != nil {
				b.Fatalf("publish: %v", err)
			}
		}
	}

	b.Run(fmt.Sprintf("msx/targets=%d", n), func(b *testing.B) {
		runs := func() int {
			total := 0
			for _, js := range m.JobServers(j) {
				total += js.Runs
			}
			return total
		}
		for b.Loop() {
			b.StopTimer()
			data := payloads()
			want := runs() + n // earlier rounds (and -count runs) counted
			b.StartTimer()
			publish(func(i int) string { return bus.ResultSubject(jobs.ServerToken(names[i]), j.JobID) }, data)
			waitFor(b, 5*time.Minute, func() bool { return runs() >= want }, "%d results ingested", want)
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "results/s")
	})

	b.Run(fmt.Sprintf("raw/targets=%d", n), func(b *testing.B) {
		s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RAW_RESULTS", Subjects: []string{"raw.result.>"}})
		if err != nil {
			b.Fatal(err)
		}
		cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan struct{}, n)
		cc, err := cons.Consume(func(msg jetstream.Msg) { got <- struct{}{} })
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Stop()
		for b.Loop() {
			b.StopTimer()
			data := payloads()
			b.StartTimer()
			publish(func(i int) string { return "raw.result." + jobs.ServerToken(names[i]) + "." + j.JobID }, data)
			for range n {
				select {
				case <-got:
				case <-time.After(time.Minute):
					b.Fatal("raw results not received")
				}
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "results/s")
	})
}
