package master_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// Two masters on one bus: a result that arrives before either knows its target and job waits,
// and is counted once, on the leader and on the standby, as soon as their watches deliver the
// target's enlistment and the job.
func TestIntegrationEarlyResultKeptUntilTargetAndJobKnown(t *testing.T) {
	srv := bustest.RunSecureServer(t)
	m1, _ := startMasterOn(t, srv, "MSX1")
	m2, _ := startMasterOn(t, srv, "MSX2")
	_, js := srv.ConnectMaster(t)
	const name = "PARK01"
	tok := jobs.ServerToken(name)
	j := jobs.Job{JobID: uuid.NewString(), Name: "early", VersionNumber: 1, Targets: jobs.Targets{Servers: []string{name}},
		Steps: []jobs.Step{{StepName: "s", Subsystem: "CmdExec", Command: "true"}}}
	now := time.Now().UTC()
	row, _ := json.Marshal(jobs.HistoryRow{JobID: j.JobID, JobName: j.Name, RunStatus: jobs.RunSucceeded})
	res := &schemas.RunResult{RunID: uuid.NewString(), Phase: schemas.PhaseFinished, JobID: j.JobID, JobName: j.Name, VersionNumber: 1,
		Server: name, Started: now, Finished: now, RunStatus: int(jobs.RunSucceeded), Rows: []json.RawMessage{row}}
	publish(t, js, bus.ResultSubject(tok, j.JobID), res)
	waitFor(t, patience, func() bool { return m1.Parked() == 1 && m2.Parked() == 1 }, "both masters keep the result of an unknown target")

	if err := m1.Reg.PutTarget(t.Context(), registry.Target{ServerID: 1, ServerName: name, Token: tok, PollInterval: 60}); err != nil {
		t.Fatal(err)
	}
	// The target is known, the job not yet: the result still waits (now for the job).
	waitFor(t, patience, func() bool { _, ok := m2.Reg.Target(name); return ok }, "MSX2 sees the target")
	if n := m2.Parked(); n != 1 {
		t.Fatalf("MSX2 holds %d waiting results once the target is known, want 1 (waiting for the job)", n)
	}
	// A result that names another server than its (known) target is refused, not kept.
	before := m2.Misattributed.Load()
	publish(t, js, bus.ResultSubject(tok, j.JobID), &schemas.RunResult{RunID: uuid.NewString(), Phase: schemas.PhaseFinished, JobID: j.JobID,
		JobName: j.Name, VersionNumber: 1, Server: "OTHER", Started: now, Finished: now, RunStatus: int(jobs.RunSucceeded)})
	waitFor(t, patience, func() bool { return m2.Misattributed.Load() == before+1 }, "MSX2 refuses the misattributed result")
	if n := m2.Parked(); n != 1 {
		t.Fatalf("MSX2 holds %d waiting results after a misattributed one, want 1", n)
	}
	if err := m1.Catalog.Put(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*struct {
		name string
		runs func() int
		left func() int
	}{
		{"MSX1", func() int { return runCount(m1.JobServers(j), name) }, m1.Parked},
		{"MSX2", func() int { return runCount(m2.JobServers(j), name) }, m2.Parked},
	} {
		waitFor(t, patience, func() bool { return m.runs() == 1 && m.left() == 0 }, "%s counts the early result once", m.name)
	}
	// A resend of the same run is not counted again.
	publish(t, js, bus.ResultSubject(tok, j.JobID), res)
	publish(t, js, bus.ResultSubject(tok, j.JobID), &schemas.RunResult{RunID: uuid.NewString(), Phase: schemas.PhaseFinished, JobID: j.JobID,
		JobName: j.Name, VersionNumber: 1, Server: name, Started: now, Finished: now, RunStatus: int(jobs.RunSucceeded), Rows: []json.RawMessage{row}})
	waitFor(t, patience, func() bool { return runCount(m2.JobServers(j), name) == 2 }, "MSX2 counts the next run")
	if m1.Unmatched.Load()+m2.Unmatched.Load() != 0 {
		t.Fatal("a result was dropped")
	}
}

func runCount(jss []master.JobServer, server string) int {
	for _, js := range jss {
		if js.ServerName == server {
			return js.Runs
		}
	}
	return -1
}

// publish encodes v and stores it on subj, as a target (or an attacker) would.
func publish(tb testing.TB, js jetstream.JetStream, subj string, v schemas.Typed) {
	tb.Helper()
	b, err := schemas.Encode(v)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := js.Publish(tb.Context(), subj, b); err != nil {
		tb.Fatalf("publish on %s: %v", subj, err)
	}
}
