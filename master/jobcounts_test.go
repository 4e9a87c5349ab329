package master

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// startWithStandby starts a master named name and a standby master beside it on one real
// JetStream server, both shut down when the test ends, and returns a JetStream client.
func startWithStandby(t *testing.T, name string) (m, standby *Master, js jetstream.JetStream) {
	t.Helper()
	srv := bustest.RunServer(t, "")
	nc, js := bustest.Connect(t, srv.ClientURL())
	var ms []*Master
	for _, n := range []string{name, "STANDBY"} {
		if n != name {
			nc, _ = bustest.Connect(t, srv.ClientURL())
		}
		mm, err := Start(t.Context(), nc, Config{Name: n, Logger: bustest.Logger(t)})
		if err != nil {
			t.Fatalf("start master %s: %v", n, err)
		}
		t.Cleanup(func() { _ = mm.Shutdown(t.Context()) })
		ms = append(ms, mm)
	}
	return ms[0], ms[1], js
}

// gridCounts counts a job's servers grid by last outcome: what JobCounts must agree with.
func (m *Master) gridCounts(j jobs.Job) (int, OutcomeCounts) {
	var by namedCounts
	servers := m.JobServers(j)
	for _, js := range servers {
		by.by[outcomeIndex(js.LastRunOutcome)]++
	}
	return len(servers), by.counts()
}

// TestJobCountsFollowResultsAndMembership checks the per-job outcome counts the jobs list and
// the dashboard read against the job's servers grid, on a master and a standby beside it, as
// results arrive (started, finished, resent, from a target the job is not on) and as the job's
// targets change (a group member removed and added back, the job retargeted, a target deleted).
func TestJobCountsFollowResultsAndMembership(t *testing.T) {
	ctx := t.Context()
	m, standby, js := startWithStandby(t, "COUNTS")

	for i, n := range []string{"A1", "B1", "C1", "D1", "E1"} {
		if err := m.Reg.PutTarget(ctx, registry.Target{ServerID: i + 1, ServerName: n, Token: jobs.ServerToken(n), EnlistDate: time.Now().UTC(), PollInterval: 60}); err != nil {
			t.Fatalf("put target: %v", err)
		}
	}
	if _, err := m.Reg.AddGroup(ctx, "G"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"A1", "B1", "C1"} {
		if _, err := m.Reg.AddMember(ctx, "G", n); err != nil {
			t.Fatal(err)
		}
	}
	j := jobs.Job{JobID: "00000000-0000-0000-0000-0000000000c1", Name: "counted", VersionNumber: 1, Targets: jobs.Targets{Groups: []string{"G"}, Servers: []string{"D1"}}}
	if err := m.Catalog.Put(ctx, j); err != nil {
		t.Fatalf("put job: %v", err)
	}
	// check waits until both masters count want for the job (their catalogues may lag) and their
	// grids agree.
	check := func(step string, targets int, want OutcomeCounts) {
		t.Helper()
		for _, mm := range []*Master{m, standby} {
			var gotT, gridT int
			var got, grid OutcomeCounts
			waitUntil(t, func() bool {
				cur, err := mm.Catalog.Get(j.Name)
				if err != nil {
					return false
				}
				gotT, got = mm.JobCounts(cur)
				gridT, grid = mm.gridCounts(cur)
				return gotT == targets && got == want && gridT == gotT && grid == got
			}, func() any {
				return struct {
					Step, Master         string
					Targets, GridTargets int
					Counts, Grid, Want   OutcomeCounts
				}{step, mm.Name(), gotT, gridT, got, grid, want}
			})
		}
	}
	publish := func(server, runID string, phase string, st jobs.RunStatus) {
		t.Helper()
		row, _ := json.Marshal(jobs.HistoryRow{JobID: j.JobID, JobName: j.Name, RunStatus: st})
		b, err := schemas.Encode(&schemas.RunResult{RunID: runID, Phase: phase, JobID: j.JobID, JobName: j.Name, VersionNumber: 1,
			Server: server, RunStatus: int(st), Rows: []json.RawMessage{row}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, bus.ResultSubject(jobs.ServerToken(server), j.JobID), b); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	check("no results yet", 4, OutcomeCounts{NotRun: 4})

	publish("A1", "a-1", schemas.PhaseFinished, jobs.RunSucceeded)
	publish("B1", "b-1", schemas.PhaseFinished, jobs.RunFailed)
	publish("C1", "c-1", schemas.PhaseStarted, jobs.RunSucceeded)
	publish("E1", "e-1", schemas.PhaseFinished, jobs.RunFailed) // E1 is not a target of the job
	check("results", 4, OutcomeCounts{Succeeded: 1, Failed: 1, InProgress: 1, NotRun: 1})

	publish("C1", "c-1", schemas.PhaseFinished, jobs.RunCanceled)
	publish("A1", "a-1", schemas.PhaseFinished, jobs.RunFailed) // resent: counted once, as first reported
	publish("A1", "a-0", schemas.PhaseStarted, jobs.RunSucceeded)
	check("finished, resent, started", 4, OutcomeCounts{InProgress: 1, Failed: 1, Canceled: 1, NotRun: 1})

	if err := m.Reg.RemoveMember(ctx, "G", "B1"); err != nil {
		t.Fatal(err)
	}
	check("B1 left the group", 3, OutcomeCounts{InProgress: 1, Canceled: 1, NotRun: 1})
	publish("B1", "b-2", schemas.PhaseFinished, jobs.RunSucceeded) // no longer counted
	publish("D1", "d-1", schemas.PhaseFinished, jobs.RunSucceeded)
	check("D1 ran", 3, OutcomeCounts{InProgress: 1, Canceled: 1, Succeeded: 1})
	if _, err := m.Reg.AddMember(ctx, "G", "B1"); err != nil {
		t.Fatal(err)
	}
	check("B1 back", 4, OutcomeCounts{InProgress: 1, Canceled: 1, Succeeded: 2})

	j.Targets = jobs.Targets{Servers: []string{"A1", "E1"}}
	j.VersionNumber = 2
	if err := m.Catalog.Put(ctx, j); err != nil {
		t.Fatalf("retarget: %v", err)
	}
	check("retargeted to A1 and E1", 2, OutcomeCounts{InProgress: 1, Failed: 1})

	if err := m.DeleteTarget(ctx, "A1", true); err != nil {
		t.Fatalf("delete target: %v", err)
	}
	check("A1 deleted", 1, OutcomeCounts{Failed: 1})
}
