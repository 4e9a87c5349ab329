//go:build faults

package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

func names(agents []*agent) []string {
	var out []string
	for _, a := range agents {
		out = append(out, a.cfg.Name)
	}
	return out
}

// applyAll applies job j and waits until every row of the ledger is downloaded.
func applyAll(tb testing.TB, m *master.Master, j jobs.Job) jobs.Job {
	tb.Helper()
	res, err := m.ApplyJob(tb.Context(), j)
	if err != nil {
		tb.Fatalf("apply %s: %v", j.Name, err)
	}
	return res.Job
}

// startRounds starts job on all its targets rounds times, each time waiting until every target
// has reported the run finished (so the next START is not refused as "already running").
func startRounds(tb testing.TB, m *master.Master, job jobs.Job, agents []*agent, rounds int) {
	tb.Helper()
	base := -1
	for _, js := range m.JobServers(job) {
		if base < 0 || js.Runs < base {
			base = js.Runs
		}
	}
	for r := 1; r <= rounds; r++ {
		waitFor(tb, patience, "job held by every target", func() bool {
			for _, a := range agents {
				if ts, ok := m.TargetServer(a.cfg.Name); !ok || ts.UnreadInstructions > 0 {
					return false
				}
			}
			return true
		})
		startAll(tb, m, job, agents, r)
		waitFor(tb, patience, "runs of round finished on the master", func() bool {
			for _, js := range m.JobServers(job) {
				if js.Runs < base+r {
					return false
				}
			}
			return true
		})
	}
}

// startAll starts job on every agent's target. A START whose post timed out while the cluster
// elects stream leaders (a node was stopped) may still have been stored: a fan-out is stored as
// an atomic batch, all or nothing. It is posted again only when none of it reached the download
// list; the callers' exact counts then fail a START that ran twice.
func startAll(tb testing.TB, m *master.Master, job jobs.Job, agents []*agent, round int) {
	tb.Helper()
	starts := func() int {
		n := 0
		for _, row := range m.Ledger.List(ledger.Filter{}) {
			if row.Operation == schemas.OpStart && row.ObjectName == job.Name {
				n++
			}
		}
		return n
	}
	before := starts()
	for try := 1; ; try++ {
		_, err := m.StartJob(tb.Context(), job.Name, "", false)
		if err == nil {
			return
		}
		if try == 5 || !errors.Is(err, context.DeadlineExceeded) {
			tb.Fatalf("start round %d (try %d): %v", round, try, err)
		}
		// Did the timed-out batch land? The download list follows MSX_INSTR within moments.
		time.Sleep(3 * time.Second)
		switch landed := starts() - before; landed {
		case 0:
			tb.Logf("start round %d: %v; none of it was stored: posting it again", round, err)
		case len(agents):
			return
		default:
			tb.Fatalf("start round %d: %d of %d STARTs stored after %v: a batch must be whole", round, landed, len(agents), err)
		}
	}
}

// masterRuns asserts the master's own view: each target ran the job exactly want times.
func masterRuns(tb testing.TB, m *master.Master, job jobs.Job, want int) {
	tb.Helper()
	for _, js := range m.JobServers(job) {
		if js.Runs != want {
			tb.Errorf("master shows %d runs of %s on %s, want %d", js.Runs, job.Name, js.ServerName, want)
		}
	}
}

// TestDuplicateEveryMessage stores a second copy of every instruction, applied report and run
// result (a different Nats-Msg-Id, so JetStream keeps both, as a redelivery would deliver
// both): nothing may be applied or run twice.
func TestDuplicateEveryMessage(t *testing.T) {
	f := newSecureFixture(t)
	agents := f.startFleet(t, "DUP", 3)
	var dup atomic.Int64
	for _, subj := range []string{"msx.instr.>", "msx.applied.>", "msx.result.>"} {
		sub, err := f.nc.Subscribe(subj, func(msg *nats.Msg) {
			if msg.Header.Get("Msx-Fault") != "" {
				return
			}
			cp := nats.NewMsg(msg.Subject)
			cp.Data = msg.Data
			cp.Header.Set("Msx-Fault", "duplicate")
			cp.Header.Set(nats.MsgIdHdr, "dup-"+nuid.Next())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := f.js.PublishMsg(ctx, cp); err != nil {
				t.Errorf("duplicate %s: %v", msg.Subject, err)
				return
			}
			dup.Add(1)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	job := applyAll(t, f.m, countingJob("dup job", names(agents)...))
	startRounds(t, f.m, job, agents, 3)
	want := map[string]int{}
	for _, a := range agents {
		want[a.cfg.Name] = 3
	}
	c := checkExact(t, masterLedger(f.m), f.js, agents, "dup job", want, checkOpts{dupRows: true})
	masterRuns(t, f.m, job, 3)
	t.Logf("duplicates stored: %d; applied once: %d of %d instructions; runs %d, step executions %d", dup.Load(), c.applied, c.posted, c.finished, c.ran)
}

// TestGarbageOnEverySubject injects malformed, oversized and unknown messages on every subject
// a target or the master reads, then checks that both still work and nothing was lost.
func TestGarbageOnEverySubject(t *testing.T) {
	f := newSecureFixture(t)
	agents := f.startFleet(t, "JUNK", 2)
	job := applyAll(t, f.m, countingJob("junk job", names(agents)...))
	startRounds(t, f.m, job, agents, 1)

	huge := `{"type":"msx.instruction.v1","id":"` + strings.Repeat("x", 2<<20) + `"}`
	unknownOp, _ := json.Marshal(map[string]any{"type": "msx.instruction.v1", "id": "unknown-op-" + nuid.Next(), "operation": 99,
		"target": agents[0].cfg.Name, "posted": time.Now().UTC()})
	bodies := [][]byte{[]byte("not json"), []byte(huge), []byte(`{"type":"msx.from.the.future.v9","x":1}`), []byte(`{}`), []byte{0xff, 0xfe, 0}, unknownOp}
	before := f.m.Rejected.Load()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	injected := 0
	for _, a := range agents {
		subjects := []string{bus.InstrSubject(a.tok), bus.AppliedSubject(a.tok), bus.StatusSubject(a.tok),
			bus.ResultSubject(a.tok, job.JobID), bus.ResultSubject(a.tok, "nosuchjob"), bus.EventSubject(a.tok, "16")}
		for _, subj := range subjects {
			for _, b := range bodies {
				if _, err := f.js.Publish(ctx, subj, b); err != nil {
					t.Fatalf("inject on %s: %v", subj, err)
				}
				injected++
			}
		}
	}
	for _, b := range bodies {
		if _, err := f.js.Publish(ctx, bus.SubjectLedgerClear, b); err != nil {
			t.Fatal(err)
		}
		injected++
		for _, subj := range []string{bus.SubjectEnlist, bus.SubjectDefect} {
			rep, err := f.nc.RequestWithContext(ctx, subj, b)
			if err != nil {
				t.Fatalf("%s with garbage: no reply: %v", subj, err)
			}
			var e struct {
				Error *schemas.Error `json:"error"`
			}
			if json.Unmarshal(rep.Data, &e) != nil || e.Error == nil {
				t.Errorf("%s with garbage: reply %q is not an error", subj, rep.Data)
			}
			injected++
		}
	}
	if _, err := f.m.Events(ctx, master.EventFilter{Limit: 1000}); err != nil {
		t.Errorf("events after garbage: %v", err)
	}
	// Both sides still work: a new version and a second run reach every target once.
	job.Description = "after the garbage"
	job = applyAll(t, f.m, job)
	startRounds(t, f.m, job, agents, 2)
	want := map[string]int{}
	for _, a := range agents {
		want[a.cfg.Name] = 3
	}
	c := checkExact(t, masterLedger(f.m), f.js, agents, "junk job", want, checkOpts{garbage: true})
	rejected := f.m.Rejected.Load() - before
	t.Logf("garbage injected: %d messages; master rejected %d; target recorded %d garbage instructions as failed", injected, rejected, c.failed)
	if c.failed != len(bodies)*len(agents) {
		t.Errorf("targets recorded %d failed instructions, want one per garbage instruction (%d)", c.failed, len(bodies)*len(agents))
	}
	if rejected == 0 {
		t.Error("the master rejected nothing")
	}
	masterRuns(t, f.m, job, 3)
}
