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
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
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

func newViewFleet(b *testing.B, n, runs int) *viewFleet { return newViewFleetOf(b, n, runs, false) }

// newViewFleetOf is newViewFleet; with wide, the 18 other jobs are on every group too (the
// dashboard's worst case: every job on the whole fleet).
func newViewFleetOf(b *testing.B, n, runs int, wide bool) *viewFleet {
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
		on := groups[i%len(groups) : i%len(groups)+1]
		if wide {
			on = groups
		}
		mk(fmt.Sprintf("00000000-0000-0000-0001-%012d", i), fmt.Sprintf("other%02d", i), on)
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

// BenchmarkAPIViews times the jobs list and the dashboard through HTTP (JSON encoded) at 1,000
// targets with 20 jobs on every target, and reports the size of each answer.
//
//	go test -run '^$' -bench APIViews -benchtime 10x ./master/
func BenchmarkAPIViews(b *testing.B) {
	const n = 1000
	v := newViewFleetOf(b, n, 1, true)
	tok, _, err := v.m.Tokens.Create(b.Context(), auth.RoleViewer, time.Hour, "bench", "API views")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api.New(v.m, bustest.Logger(b)))
	b.Cleanup(srv.Close)
	for _, c := range []struct{ name, path string }{
		{"jobs", "/api/v1/jobs"},
		{"dashboard", "/api/v1/dashboard"},
		{"dashboard/grid", "/api/v1/dashboard?job=fleet"},
	} {
		b.Run(fmt.Sprintf("%s/targets=%d", c.name, n), func(b *testing.B) {
			size := 0
			for b.Loop() {
				size = apiGet(b, srv.URL+c.path, tok)
			}
			b.ReportMetric(float64(size), "bytes/answer")
		})
	}
}

// apiGet reads one API answer and returns its size.
func apiGet(b *testing.B, u, tok string) int {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s, %v", u, resp.Status, err)
	}
	return int(n)
}
