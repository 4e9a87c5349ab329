//go:build faults

package faults_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// results returns the run results of target tok in MSX_RESULTS, in stream order.
func results(tb testing.TB, js jetstream.JetStream, tok string) []schemas.RunResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	s, err := js.Stream(ctx, bus.StreamResults)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"msx.result." + tok + ".>"}})
	if err != nil {
		tb.Fatal(err)
	}
	var out []schemas.RunResult
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			tb.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var r schemas.RunResult
			if schemas.Decode(msg.Data(), &r) == nil {
				out = append(out, r)
			}
		}
		if n == 0 {
			return out
		}
	}
}

// TestKillAgentMidStep kills a target agent with SIGKILL while a step that lasts longer than
// its job's schedule interval runs, and restarts it. The step holds a lock while it runs and
// notes when it cannot take it: the job must never run twice at once (the restarted agent ends
// what its previous life left running before it schedules anything), and the interrupted run
// is reported once, saying which step was ended.
func TestKillAgentMidStep(t *testing.T) {
	mp := startMasterProc(t)
	js := mp.connect(t)
	tdir := filepath.Join(t.TempDir(), "CRASH01")
	work := t.TempDir()
	runsLog, overlaps, lock := filepath.Join(work, "runs.log"), filepath.Join(work, "overlaps.log"), filepath.Join(work, "lock")
	args := []string{"target", "--name", "CRASH01", "--nats", mp.url(), "--data", tdir, "--heartbeat", "300ms"}
	tp := startProc(t, append(args, "--token", mp.token(t))...)
	waitFor(t, patience, "CRASH01 online", func() bool { r, ok := mp.targets(t)["CRASH01"]; return ok && r.LastPollDate != nil })

	// Every 10 s, a 15 s step: the agent refuses to start a run while one runs, so only a run
	// left behind by a killed agent can overlap the next.
	j := jobs.Job{Name: "long", Category: "faults", Targets: jobs.Targets{Servers: []string{"CRASH01"}},
		Steps: []jobs.Step{{StepID: 1, StepName: "hold the lock", Subsystem: jobs.SubsystemCmdExec,
			Command: "flock -n " + lock + " -c 'echo start >> " + runsLog + "; sleep 15' || echo overlap >> " + overlaps}},
		Schedules: []schedule.Schedule{{Name: "every 10 s", FreqType: schedule.FreqDaily, FreqInterval: 1,
			FreqSubdayType: schedule.SubdaySeconds, FreqSubdayInterval: 10, ActiveStartDate: 20000101}}}
	mustCLI(t, mp.dir, "job", "apply", "-f", writeJob(t, j))
	waitFor(t, patience, "the first run holding the lock", func() bool { return lines(t, runsLog) >= 1 })
	tp.kill9()
	t.Log("kill -9 of the agent mid-step")
	startProc(t, args...) // stopped by its cleanup

	// The observable end: a run after the restart took the lock, or one found it taken.
	waitFor(t, 2*patience, "a run after the restart", func() bool { return lines(t, runsLog) >= 2 || lines(t, overlaps) >= 1 })
	if n := lines(t, overlaps); n > 0 {
		t.Errorf("the job ran twice at once %d time(s): the killed agent's step was left running beside the next run", n)
	}
	tok := jobs.ServerToken("CRASH01")
	var interrupted []schemas.RunResult
	waitFor(t, patience, "the interrupted run reported", func() bool {
		interrupted = interrupted[:0]
		for _, r := range results(t, js, tok) {
			if r.Phase == schemas.PhaseFinished && strings.Contains(r.Message, "agent stopped while the job was running") {
				interrupted = append(interrupted, r)
			}
		}
		return len(interrupted) > 0
	})
	if len(interrupted) != 1 {
		t.Errorf("interrupted run reported %d times, want once", len(interrupted))
	}
	if m := interrupted[0].Message; !strings.Contains(m, "step 1 (hold the lock) was still running") || !strings.Contains(m, "ended by the restarted agent") {
		t.Errorf("the interrupted run's report does not say which step was ended: %q", m)
	}
	fin, started := finishedRuns(t, js)
	for run, n := range started[tok] {
		if n != 1 || fin[tok][run] > 1 {
			t.Errorf("run %s reported started %d times, finished %d times", run, n, fin[tok][run])
		}
	}
	t.Logf("counts: lock taken %d times, overlaps %d, runs started %d, finished %d", lines(t, runsLog), lines(t, overlaps), len(started[tok]), len(fin[tok]))
}

// TestBackgroundChild runs a step that leaves a background process behind: the step succeeds
// with its main process's exit and output, and the child is ended.
func TestBackgroundChild(t *testing.T) {
	f := newSecureFixture(t)
	agents := f.startFleet(t, "BG", 1)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	j := jobs.Job{Name: "background", Category: "faults", Targets: jobs.Targets{Servers: []string{"BG01"}},
		Steps: []jobs.Step{{StepID: 1, StepName: "fork", Subsystem: jobs.SubsystemCmdExec, Command: "sleep 60 & echo $! > " + pidFile + "; echo done"}}}
	j = applyAll(t, f.m, j)
	startRounds(t, f.m, j, agents, 1)
	for _, js := range f.m.JobServers(j) {
		if js.LastRunOutcome != jobs.OutcomeSucceeded {
			t.Errorf("the step with a background child ended %v: %s", js.LastRunOutcome, js.LastOutcomeMessage)
		}
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	waitFor(t, patience, "the background child ended", func() bool { return !processRuns(pid) })
}

// processRuns reports whether process pid runs (a zombie does not).
func processRuns(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}
