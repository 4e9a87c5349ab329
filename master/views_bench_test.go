package master_test

// Benchmarks of the master's views at fleet sizes: a real JetStream server and a real master,
// with targets, groups and jobs written straight into the registry and the catalog (no agents:
// the views are measured, not enlistment), and results published as targets publish them.
//
//	go test -run '^$' -bench 'Views' -benchtime 20x ./master/

import (
	"context"
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

// viewFleet is a master holding n targets in groups of groupSize, a job on all of them
// (fleet), a job on one group (small), and runs finished results of fleet per target.
type viewFleet struct {
	m            *master.Master
	fleet, small jobs.Job
}

const groupSize = 100

func newViewFleet(b *testing.B, n, runs int) *viewFleet {
	b.Helper()
	ctx := b.Context()
	m, js := startBenchMaster(b)
	v := &viewFleet{m: m}
	var groups []string
	for i := range n {
		name := fmt.Sprintf("BENCH%05d", i+1)
		if i%groupSize == 0 {
			g := fmt.Sprintf("G%03d", i/groupSize)
			if _, err := m.Reg.AddGroup(ctx, g); err != nil {
				b.Fatalf("add group: %v", err)
			}
			groups = append(groups, g)
		}
		t := registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), EnlistDate: time.Now().UTC(), PollInterval: 60}
		if err := m.Reg.PutTarget(ctx, t); err != nil {
			b.Fatalf("put target: %v", err)
		}
		if _, err := m.Reg.AddMember(ctx, groups[len(groups)-1], name); err != nil {
			b.Fatalf("add member: %v", err)
		}
	}
	mk := func(id, name string, groups []string) jobs.Job {
		j := jobs.Job{JobID: id, Name: name, VersionNumber: 1, Targets: jobs.Targets{Groups: groups}}
		if err := m.Catalog.Put(ctx, j); err != nil {
			b.Fatalf("put job: %v", err)
		}
		return j
	}
	v.fleet = mk("00000000-0000-0000-0000-000000000001", "fleet", groups)
	v.small = mk("00000000-0000-0000-0000-000000000002", "small", groups[:1])
	// Noise jobs, so that views of one job are not views of the whole catalogue.
	for i := range 18 {
		mk(fmt.Sprintf("00000000-0000-0000-0001-%012d", i), fmt.Sprintf("other%02d", i), groups[i%len(groups):i%len(groups)+1])
	}
	publishRuns(b, js, v.fleet, n, runs)
	waitFor(b, 5*time.Minute, func() bool {
		total := 0
		for _, js := range m.JobServers(v.fleet) {
			total += js.Runs
		}
		return total == n*runs
	}, "%d results ingested", n*runs)
	return v
}

// publishRuns publishes runs finished results of job j for each of n targets, asynchronously.
func publishRuns(b *testing.B, js jetstream.JetStream, j jobs.Job, n, runs int) {
	b.Helper()
	now := time.Now().UTC()
	for r := range runs {
		for i := range n {
			name := fmt.Sprintf("BENCH%05d", i+1)
			row, _ := json.Marshal(jobs.HistoryRow{JobID: j.JobID, JobName: j.Name, RunStatus: jobs.RunSucceeded, Message: "The job succeeded."})
			res := schemas.RunResult{RunID: fmt.Sprintf("run-%d-%d", i, r), Phase: schemas.PhaseFinished, JobID: j.JobID, JobName: j.Name,
				VersionNumber: 1, Server: name, Started: now, Finished: now, RunStatus: int(jobs.RunSucceeded), Rows: []json.RawMessage{row}}
			data, err := schemas.Encode(&res)
			if err != nil {
				b.Fatalf("encode: %v", err)
			}
			if _, err := js.PublishAsync(bus.ResultSubject(jobs.ServerToken(name), j.JobID), data); err != nil {
				b.Fatalf("publish: %v", err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("results not acknowledged")
		}
	}
}

func BenchmarkViews(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		v := newViewFleet(b, n, 3)
		b.Run(fmt.Sprintf("JobServers/fleet/targets=%d", n), func(b *testing.B) {
			for b.Loop() {
				if got := v.m.JobServers(v.fleet); len(got) != n {
					b.Fatalf("%d job servers, want %d", len(got), n)
				}
			}
		})
		b.Run(fmt.Sprintf("JobServers/group/targets=%d", n), func(b *testing.B) {
			for b.Loop() {
				if got := v.m.JobServers(v.small); len(got) != groupSize {
					b.Fatalf("%d job servers, want %d", len(got), groupSize)
				}
			}
		})
		b.Run(fmt.Sprintf("History/limit=20/targets=%d", n), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				rows, err := v.m.History(ctx, v.fleet.Name, "", 20)
				if err != nil || len(rows) != 20 {
					b.Fatalf("history: %d rows, %v", len(rows), err)
				}
			}
		})
		b.Run(fmt.Sprintf("TargetServers/targets=%d", n), func(b *testing.B) {
			for b.Loop() {
				if got := v.m.TargetServers(); len(got) != n {
					b.Fatalf("%d targets, want %d", len(got), n)
				}
			}
		})
	}
}
