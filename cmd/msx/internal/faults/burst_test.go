//go:build faults

package faults_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// TestLeaderKilledDuringResultBurst kills the leading master of three while 300 targets report
// at once, each two runs, every report sent twice (a target's outbox resends what it has no
// acknowledgement for after a reconnect). Every master, the new leader and the standby alike,
// and a master started afresh after the burst must count each run exactly once.
//
// The targets are written to the registry and their reports published on their own subjects
// from a connection of the test, as the master's view benchmarks do: 300 agents do not run on
// two shared cores under the race detector, and the point here is the masters' ingestion.
func TestLeaderKilledDuringResultBurst(t *testing.T) {
	c := runAuthCluster(t)
	ms := []*haMaster{startHAMaster(t, c, "HA1"), startHAMaster(t, c, "HA2"), startHAMaster(t, c, "HA3")}
	var lead *haMaster
	waitFor(t, patience, "a leader", func() bool { lead = leaderOf(ms); return lead != nil })
	watch := watchLeaders(ms...)

	const nTargets, runsEach = 300, 2
	var servers []string
	for i := range nTargets {
		name := fmt.Sprintf("BURST%04d", i)
		if err := lead.m.Reg.PutTarget(t.Context(), registry.Target{ServerID: 20000 + i, ServerName: name, Token: jobs.ServerToken(name),
			EnlistDate: time.Now().UTC(), PollInterval: 60}); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, name)
	}
	res, err := lead.m.ApplyJob(t.Context(), countingJob("burst job", servers...))
	if err != nil {
		t.Fatal(err)
	}
	job := res.Job
	checkEnlisted(t, ms, nTargets)
	for _, h := range ms {
		waitFor(t, patience, h.name+" knows the job", func() bool { _, ok := h.m.Catalog.ByName(job.Name); return ok })
	}

	// The burst, from a connection of its own: every run's "started" and "finished", twice.
	pub := c.connectMaster(t)
	js := mustJS(t, pub)
	var msgs []*nats.Msg
	for i, name := range servers {
		for run := range runsEach {
			id := fmt.Sprintf("%s-run%d", name, run)
			now := time.Now().UTC()
			st := jobs.RunSucceeded
			if (i+run)%7 == 0 {
				st = jobs.RunFailed
			}
			row, _ := json.Marshal(jobs.HistoryRow{JobID: job.JobID, JobName: job.Name, RunStatus: st})
			for _, r := range []*schemas.RunResult{
				{RunID: id, Phase: schemas.PhaseStarted, JobID: job.JobID, JobName: job.Name, VersionNumber: job.VersionNumber, Server: name, Started: now},
				{RunID: id, Phase: schemas.PhaseFinished, JobID: job.JobID, JobName: job.Name, VersionNumber: job.VersionNumber, Server: name,
					Started: now, Finished: now, RunStatus: int(st), Rows: []json.RawMessage{row}},
			} {
				data, err := schemas.Encode(r)
				if err != nil {
					t.Fatal(err)
				}
				m := nats.NewMsg(bus.ResultSubject(jobs.ServerToken(name), job.JobID))
				m.Data = data
				m.Header.Set(jetstream.MsgIDHeader, id+"/"+r.Phase) // as a target's outbox sets it
				msgs = append(msgs, m)
			}
		}
	}
	killAt := len(msgs) / 3
	var cut time.Time
	for round := range 2 { // the second round is the resend
		var acks []jetstream.PubAckFuture
		for i, m := range msgs {
			if round == 0 && i == killAt {
				cut = time.Now()
				lead.nc.Close()
				t.Logf("leader %s killed after %d of %d reports of the burst", lead.name, i, len(msgs))
			}
			a, err := js.PublishMsgAsync(m)
			if err != nil {
				t.Fatalf("publish report %d: %v", i, err)
			}
			acks = append(acks, a)
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(patience):
			t.Fatal("the burst was not acknowledged")
		}
		for i, a := range acks {
			select {
			case <-a.Ok():
			case err := <-a.Err():
				t.Fatalf("report %d refused: %v", i, err)
			}
		}
	}
	rest := others(ms, lead)
	waitTakeover(t, rest, lead, cut)

	// A master started afresh rebuilds its counts from the stream.
	fresh := startStandby(t, c, "HA4")
	watch.set(append(rest, fresh)...)
	for _, h := range append(rest, fresh) {
		waitFor(t, patience, h.name+" counts every run", func() bool {
			n := 0
			for _, s := range h.m.JobServers(job) {
				n += s.Runs
			}
			return n >= nTargets*runsEach
		})
		failures := 0
		for _, s := range h.m.JobServers(job) {
			if s.Runs != runsEach {
				t.Errorf("%s counts %d runs on %s, want %d", h.name, s.Runs, s.ServerName, runsEach)
			}
			failures += s.Failures
		}
		want := 0
		for i := range nTargets {
			for run := range runsEach {
				if (i+run)%7 == 0 {
					want++
				}
			}
		}
		if failures != want {
			t.Errorf("%s counts %d failed runs, want %d", h.name, failures, want)
		}
	}
	fin, started := finishedRuns(t, js)
	for _, name := range servers {
		tok := jobs.ServerToken(name)
		if len(fin[tok]) != runsEach || len(started[tok]) != runsEach {
			t.Errorf("%s: %d finished and %d started runs on MSX_RESULTS, want %d each", name, len(fin[tok]), len(started[tok]), runsEach)
		}
		for run, n := range fin[tok] {
			if n != 1 {
				t.Errorf("%s: run %s stored %d times (the resend was not deduplicated)", name, run, n)
			}
		}
	}
	watch.end(t)
	t.Logf("%d runs on %d targets, each stored once and counted once on %d masters", nTargets*runsEach, nTargets, len(rest)+1)
}
