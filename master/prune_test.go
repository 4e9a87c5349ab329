package master

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// sizes counts what the master keeps about one job and one target.
type sizes struct {
	outcomes, runs, consumed int // entries of the job (job) or of the target (target)
	live, drift, rows        int
}

func (m *Master) sizesOf(job, tok string) sizes {
	var s sizes
	m.out.mu.RLock()
	for j, in := range m.out.last {
		for tk := range in {
			if j == job || tk == tok {
				s.outcomes++
			}
		}
	}
	for j, in := range m.out.runs {
		for tk := range in {
			if j == job || tk == tok {
				s.runs++
			}
		}
	}
	for j, in := range m.out.consumed {
		for tk := range in {
			if j == job || tk == tok {
				s.consumed++
			}
		}
	}
	m.out.mu.RUnlock()
	if tok == "" {
		return s
	}
	if _, ok := m.live.Load(tok); ok {
		s.live++
	}
	m.drift.mu.Lock()
	if m.drift.by[tok] != nil {
		s.drift++
	}
	m.drift.mu.Unlock()
	s.rows = len(m.Ledger.List(ledger.Filter{Token: tok}))
	return s
}

// TestPruneWithJobOrTarget fills every per-job and per-target map of a real master, and of a
// standby master beside it, through the bus, deletes a job and then a target on the first,
// and checks that nothing of either stays behind on both (the standby learns of the deletions
// from its watches).
func TestPruneWithJobOrTarget(t *testing.T) {
	ctx := t.Context()
	m, standby, js := startWithStandby(t, "PRUNE")
	names := []string{"KEEP1", "GONE1"}
	for i, n := range names {
		if err := m.Reg.PutTarget(ctx, registry.Target{ServerID: i + 1, ServerName: n, Token: jobs.ServerToken(n), EnlistDate: time.Now().UTC(), PollInterval: 60}); err != nil {
			t.Fatalf("put target: %v", err)
		}
	}
	var jobList []jobs.Job
	for i, name := range []string{"kept job", "deleted job"} {
		j := jobs.Job{JobID: fmt.Sprintf("00000000-0000-0000-0000-00000000000%d", i+1), Name: name, VersionNumber: 1, Targets: jobs.Targets{Servers: names}}
		if err := m.Catalog.Put(ctx, j); err != nil {
			t.Fatalf("put job: %v", err)
		}
		jobList = append(jobList, j)
	}
	pub := func(subj string, v schemas.Typed) {
		t.Helper()
		b, err := schemas.Encode(v)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if _, err := js.Publish(ctx, subj, b); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
	}
	for _, n := range names {
		tok := jobs.ServerToken(n)
		for _, j := range jobList {
			st := jobs.RunSucceeded
			if n == "GONE1" && j.Name == "kept job" {
				st = jobs.RunFailed
			}
			row, _ := json.Marshal(jobs.HistoryRow{JobID: j.JobID, JobName: j.Name, RunStatus: st})
			pub(bus.ResultSubject(tok, j.JobID), &schemas.RunResult{RunID: n + j.JobID, Phase: schemas.PhaseFinished, JobID: j.JobID, JobName: j.Name,
				VersionNumber: 1, Server: n, RunStatus: int(st), Rows: []json.RawMessage{row}, JobDeleted: true})
		}
		held := map[string]int{"x": 1}
		pub(bus.StatusSubject(tok), &schemas.Heartbeat{ServerName: n, IntervalMS: 60000, PollInterval: 60, ProtocolVersion: 1, JobDigest: schemas.JobSetDigest(held), Held: held})
		if _, err := m.Post(ctx, registry.Target{ServerName: n, Token: tok}, schemas.Instruction{Operation: schemas.OpSyncTime}); err != nil {
			t.Fatalf("post: %v", err)
		}
	}
	keep, gone := jobs.ServerToken("KEEP1"), jobs.ServerToken("GONE1")
	// The deleted job on both targets and the other job on the deleted target: 3 entries each.
	full := sizes{outcomes: 3, runs: 3, consumed: 3, live: 1, drift: 1, rows: 1}
	for _, mm := range []*Master{m, standby} {
		waitUntil(t, func() bool { return mm.sizesOf(jobList[1].JobID, gone) == full }, func() any { return mm.sizesOf(jobList[1].JobID, gone) })
	}

	// The job summary's counts agree with the grid they no longer build.
	for _, tc := range []struct {
		job             jobs.Job
		targets, failed int
	}{{jobList[0], 2, 1}, {jobList[1], 2, 0}} {
		servers, failed := m.JobServers(tc.job), 0
		for _, js := range servers {
			if js.LastRunOutcome == jobs.OutcomeFailed {
				failed++
			}
		}
		nt, nf := m.JobOutcomeCounts(tc.job)
		if nt != tc.targets || nf != tc.failed || len(servers) != nt || failed != nf {
			t.Fatalf("%s: counts %d targets, %d failed; grid %d, %d; want %d, %d", tc.job.Name, nt, nf, len(servers), failed, tc.targets, tc.failed)
		}
	}

	for _, tc := range []struct {
		name   string
		delete func() error
		job    string // whose entries must be gone
		tok    string
		want   sizes
	}{
		{"delete job", func() error { _, err := m.DeleteJob(ctx, jobList[1].Name); return err }, jobList[1].JobID, "",
			sizes{}},
		{"delete target", func() error { return m.DeleteTarget(ctx, "GONE1", true) }, "", gone,
			sizes{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.delete(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := m.sizesOf(tc.job, tc.tok); got != tc.want {
				t.Fatalf("after %s: %+v kept, want %+v", tc.name, got, tc.want)
			}
			waitUntil(t, func() bool { return standby.sizesOf(tc.job, tc.tok) == tc.want }, func() any { return standby.sizesOf(tc.job, tc.tok) })
		})
	}
	// What belongs to neither stays: the kept job on the kept target.
	for _, mm := range []*Master{m, standby} {
		if got := mm.sizesOf("", keep); got.outcomes != 1 || got.runs != 1 || got.consumed != 1 || got.live != 1 {
			t.Fatalf("%s: kept target lost its state: %+v", mm.Name(), got)
		}
	}
}

// waitUntil polls cond with a deadline; show says what was seen when it times out.
func waitUntil(tb testing.TB, cond func() bool, show func() any) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out; last seen %+v", show())
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}
