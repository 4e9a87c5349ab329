package master_test

// Integration tests of multiserver jobs end to end: the master applies, posts and starts jobs;
// real target agents download them, run CmdExec steps through /bin/sh and T-SQL steps on their
// embedded SQLite database, and report outcomes, history and events back over the bus.
//
// The jobs' schedules are disabled unless a test is about schedules, so that every run is one
// the test started and run counts are exact.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/problem"
)

// jobYAML is a job document as an operator writes it: a CmdExec step (%q command), then a
// T-SQL step that counts the job's runs in the target's embedded database, a disabled sub-day
// schedule (%d seconds) and target servers (%s, comma-separated).
const jobYAML = `
name: %s
description: says something, then counts its runs in the local database
category: msx integration
steps:
  - step_id: 1
    step_name: say
    subsystem: cmdexec
    command: %q
    on_success_action: 3
  - step_id: 2
    step_name: count runs
    database_name: master
    command: |
      CREATE TABLE IF NOT EXISTS runs (n INTEGER);
      GO
      INSERT INTO runs VALUES (1);
      GO
      SELECT count(*) AS n FROM runs;
schedules:
  - name: every few seconds
    enabled: false
    freq_type: 4
    freq_interval: 1
    freq_subday_type: 2
    freq_subday_interval: %d
targets:
  servers: [%s]
`

// parseJob parses a job document, failing the test if it does not parse.
func parseJob(tb testing.TB, doc string) jobs.Job {
	tb.Helper()
	j, err := jobs.Parse([]byte(doc))
	if err != nil {
		tb.Fatalf("parse job document: %v\n%s", err, doc)
	}
	return j
}

// twoStepJob is jobYAML filled in.
func twoStepJob(tb testing.TB, name, command string, interval int, servers ...string) jobs.Job {
	tb.Helper()
	return parseJob(tb, fmt.Sprintf(jobYAML, name, command, interval, strings.Join(servers, ", ")))
}

// cmdJob is a job of one CmdExec step, with no schedule, applied to servers.
func cmdJob(tb testing.TB, name, command string, servers ...string) jobs.Job {
	tb.Helper()
	return parseJob(tb, fmt.Sprintf(`
name: %s
steps:
  - step_name: run
    subsystem: CmdExec
    command: %q
targets:
  servers: [%s]
`, name, command, strings.Join(servers, ", ")))
}

// apply applies a job and fails the test on an error.
func (f *fixture) apply(tb testing.TB, j jobs.Job) master.ApplyResult {
	tb.Helper()
	res, err := f.m.ApplyJob(tb.Context(), j)
	if err != nil {
		tb.Fatalf("apply job %q: %v", j.Name, err)
	}
	return res
}

// describePosted is a compact, sorted form of posted rows: "SERVER OPERATION".
func describePosted(p []master.Posted) []string {
	out := make([]string, len(p))
	for i, x := range p {
		out[i] = x.TargetServer + " " + x.Operation
	}
	slices.Sort(out)
	return out
}

// checkPosted fails the test unless p are exactly the rows want ("SERVER OPERATION").
func checkPosted(tb testing.TB, what string, p []master.Posted, want ...string) {
	tb.Helper()
	slices.Sort(want)
	if got := describePosted(p); !slices.Equal(got, want) {
		tb.Fatalf("%s posted %q, want %q", what, got, want)
	}
}

// waitAllApplied waits until every posted row is downloaded without an error.
func (f *fixture) waitAllApplied(tb testing.TB, p []master.Posted) []ledger.Row {
	tb.Helper()
	out := make([]ledger.Row, len(p))
	for i, x := range p {
		out[i] = f.waitApplied(tb, x.InstanceID)
	}
	return out
}

// lastHeartbeat returns the last heartbeat a target published, if any.
func (f *fixture) lastHeartbeat(tb testing.TB, server string) (schemas.Heartbeat, bool) {
	tb.Helper()
	var hb schemas.Heartbeat
	s, err := f.js.Stream(tb.Context(), bus.StreamStatus)
	if err != nil {
		tb.Fatalf("stream %s: %v", bus.StreamStatus, err)
	}
	msg, err := s.GetLastMsgForSubject(tb.Context(), bus.StatusSubject(f.reg(tb, server).Token))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return hb, false
	}
	if err != nil {
		tb.Fatalf("last heartbeat of %s: %v", server, err)
	}
	if err := schemas.Decode(msg.Data, &hb); err != nil {
		tb.Fatalf("heartbeat of %s: %v", server, err)
	}
	return hb, true
}

// digestOf is the job-set digest of a target that holds exactly these jobs, at their versions.
func digestOf(js ...jobs.Job) string {
	v := map[string]int{}
	for _, j := range js {
		v[j.JobID] = j.VersionNumber
	}
	return schemas.JobSetDigest(v)
}

// waitHolds waits until a heartbeat the target sent after the call says it holds exactly the
// jobs js, at their versions (job-set digest and count), and checks that the master expects
// the same. The target must be running.
func (f *fixture) waitHolds(tb testing.TB, a *agent, js ...jobs.Job) {
	tb.Helper()
	want := digestOf(js...)
	since := time.Now()
	var hb schemas.Heartbeat
	waitFor(tb, patience, func() bool {
		if done, err := a.exited(); done {
			tb.Fatalf("target %s stopped: %v", a.name(), err)
		}
		var ok bool
		hb, ok = f.lastHeartbeat(tb, a.name())
		ts, _ := f.m.TargetServer(a.name())
		return ok && !hb.Sent.Before(since) && hb.JobDigest == want && hb.Jobs == len(js) && ts.Jobs == len(js)
	}, "%s to hold %d job(s) with digest %s (last heartbeat %+v)", a.name(), len(js), want, &hb)
	if got := digestOf(f.m.JobsFor(a.name())...); got != want {
		tb.Errorf("master expects %s to hold %v (digest %s), the target holds digest %s", a.name(), f.m.JobsFor(a.name()), got, want)
	}
}

// jobServer returns the master's per-target state of a job on one server.
func (f *fixture) jobServer(tb testing.TB, job, server string) (master.JobServer, bool) {
	tb.Helper()
	j, err := f.m.Catalog.Get(job)
	if err != nil {
		tb.Fatalf("job %q: %v", job, err)
	}
	canon, _ := jobs.CanonicalServerName(server)
	for _, js := range f.m.JobServers(j) {
		if js.ServerName == canon {
			return js, true
		}
	}
	return master.JobServer{}, false
}

// waitOutcome waits until runs runs of a job have finished on a server and returns its state.
func (f *fixture) waitOutcome(tb testing.TB, job, server string, runs int) master.JobServer {
	tb.Helper()
	var js master.JobServer
	waitFor(tb, patience, func() bool {
		js, _ = f.jobServer(tb, job, server)
		return js.Runs >= runs && js.LastRunOutcome != jobs.OutcomeInProgress
	}, "%d finished run(s) of %q on %s (last %+v)", runs, job, server, &js)
	if js.Runs != runs {
		tb.Fatalf("%q on %s: %d finished runs, want %d (%+v)", job, server, js.Runs, runs, js)
	}
	return js
}

// runsOf splits history rows (newest run first, step 0 first in each) into runs.
func runsOf(rows []jobs.HistoryRow) [][]jobs.HistoryRow {
	var out [][]jobs.HistoryRow
	for _, r := range rows {
		if r.StepID == 0 || len(out) == 0 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], r)
	}
	return out
}

// waitHistory waits until the master's history of a job on a server (all servers: "") holds
// runs runs, and returns them newest first. A limited read (newest first, from the master's
// index) must return the same runs: the full read comes from the stream, which holds a report
// a moment before this master has ingested it into its index, so both are waited for.
func (f *fixture) waitHistory(tb testing.TB, job, server string, runs int) [][]jobs.HistoryRow {
	tb.Helper()
	var got [][]jobs.HistoryRow
	limited := func(n int) [][]jobs.HistoryRow {
		rows, err := f.m.History(tb.Context(), job, server, n)
		if err != nil {
			tb.Fatalf("history of %q on %q, limit %d: %v", job, server, n, err)
		}
		return runsOf(rows)
	}
	waitFor(tb, patience, func() bool {
		rows, err := f.m.History(tb.Context(), job, server, 0)
		if err != nil {
			tb.Fatalf("history of %q on %q: %v", job, server, err)
		}
		got = runsOf(rows)
		return len(got) >= runs && len(limited(runs)) == runs
	}, "%d run(s) of %q in the history of %q", runs, job, server)
	if len(got) != runs {
		tb.Fatalf("history of %q on %q: %d runs, want %d: %+v", job, server, len(got), runs, got)
	}
	for n := 1; n <= runs; n++ {
		if lim := limited(n); !reflect.DeepEqual(lim, got[:n]) {
			tb.Fatalf("history of %q on %q, limit %d:\n%+v\nwant the newest %d of\n%+v", job, server, n, lim, n, got)
		}
	}
	return got
}

// checkRun checks one run's history rows: the job outcome row first, then one row per step
// attempt with the statuses given, all of the same run on server.
func checkRun(tb testing.TB, run []jobs.HistoryRow, server string, job jobs.RunStatus, steps ...jobs.RunStatus) {
	tb.Helper()
	if len(run) != 1+len(steps) {
		tb.Fatalf("run has %d rows, want the job outcome and %d step rows: %+v", len(run), len(steps), run)
	}
	if run[0].StepID != 0 || run[0].StepName != jobs.JobOutcomeStepName || run[0].RunStatus != job {
		tb.Errorf("job outcome row: step %d %q status %v, want 0 %q %v", run[0].StepID, run[0].StepName, run[0].RunStatus, jobs.JobOutcomeStepName, job)
	}
	for i, r := range run {
		if r.Server != server || r.RunID == "" || r.RunID != run[0].RunID || r.RunDate == 0 || r.JobID == "" {
			tb.Errorf("row %d: server %q run_id %q (job outcome's %q) run_date %d job_id %q; want server %s, one run",
				i, r.Server, r.RunID, run[0].RunID, r.RunDate, r.JobID, server)
		}
		if i > 0 && r.RunStatus != steps[i-1] {
			tb.Errorf("row %d (step %d %q, retries %d): run_status %v, want %v (%s)", i, r.StepID, r.StepName, r.RetriesAttempted, r.RunStatus, steps[i-1], r.Message)
		}
	}
}

// waitEvents waits until the master's events of a server include one that match accepts,
// and returns all matching events of the server at or above minSeverity.
func (f *fixture) waitEvents(tb testing.TB, server string, minSeverity int, what string, match func(master.EventRecord) bool) []master.EventRecord {
	tb.Helper()
	var got []master.EventRecord
	waitFor(tb, patience, func() bool {
		evs, err := f.m.Events(tb.Context(), master.EventFilter{Server: server, MinSeverity: minSeverity})
		if err != nil {
			tb.Fatalf("events of %s: %v", server, err)
		}
		got = got[:0]
		for _, e := range evs {
			if match(e) {
				got = append(got, e)
			}
		}
		return len(got) > 0
	}, "events of %s: %s", server, what)
	return got
}

// TestIntegrationJobsLifecycle applies a job to two targets, runs it, changes its step and its
// schedule, applies it unchanged, and untargets one server.
func TestIntegrationJobsLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startTarget(t, "sqlj1")
	b := f.startTarget(t, `sqlj2\inst`)
	f.waitOnline(t, a)
	f.waitOnline(t, b)
	const name = "Integration check"
	servers := []string{"sqlj1", `'sqlj2\inst'`}
	both := []string{a.name(), b.name()}

	var v1, v2, v3 jobs.Job
	if !t.Run("apply to two servers and run", func(t *testing.T) {
		res := f.apply(t, twoStepJob(t, name, "echo hi", 10, servers...))
		v1 = res.Job
		if !res.Created || !slices.Equal(res.Changes, []string{"created"}) || v1.VersionNumber != 1 || v1.JobID == "" {
			t.Errorf("apply: created %v changes %q version %d job_id %q; want a new job, version 1", res.Created, res.Changes, v1.VersionNumber, v1.JobID)
		}
		checkPosted(t, "apply", res.Posted, a.name()+" INSERT", b.name()+" INSERT")
		for _, r := range f.waitAllApplied(t, res.Posted) {
			if r.Operation != schemas.OpInsert || r.ObjectID != v1.JobID || r.ObjectName != name || r.ObjectType != "job" {
				t.Errorf("download-list row %+v, want an INSERT of job %s", r, v1.JobID)
			}
		}
		f.waitHolds(t, a, v1)
		f.waitHolds(t, b, v1)
		for _, js := range f.m.JobServers(v1) {
			if js.LastRunOutcome != jobs.OutcomeUnknown || js.Runs != 0 {
				t.Errorf("before any run: %+v, want last_run_outcome 5", js)
			}
		}

		p, err := f.m.StartJob(t.Context(), name, "", false)
		if err != nil {
			t.Fatal(err)
		}
		checkPosted(t, "start", p, a.name()+" START", b.name()+" START")
		f.waitAllApplied(t, p)
		for _, s := range both {
			js := f.waitOutcome(t, name, s, 1)
			if js.LastRunOutcome != jobs.OutcomeSucceeded || js.Failures != 0 || js.LastRunDate == 0 ||
				!strings.HasPrefix(js.LastOutcomeMessage, "The job succeeded.") ||
				!strings.Contains(js.LastOutcomeMessage, "invoked by User "+masterName) {
				t.Errorf("%s after the run: %+v", s, js)
			}
			run := f.waitHistory(t, name, s, 1)[0]
			checkRun(t, run, s, jobs.RunSucceeded, jobs.RunSucceeded, jobs.RunSucceeded)
			if len(run) == 3 {
				if r := run[1]; r.StepID != 1 || r.StepName != "say" || r.Output != "hi\n" || r.Message != "Process Exit Code 0.  The step succeeded." {
					t.Errorf("CmdExec step row: %+v", r)
				}
				if r := run[2]; r.StepID != 2 || r.Output != "n\n-\n1\n\n(1 row affected)\n" {
					t.Errorf("T-SQL step row: step %d output %q, want the first run counted", r.StepID, r.Output)
				}
			}
		}
		all := f.waitHistory(t, name, "", 2)
		if s := []string{all[0][0].Server, all[1][0].Server}; !slices.Contains(s, a.name()) || !slices.Contains(s, b.name()) {
			t.Errorf("history of all servers comes from %v, want %v", s, both)
		}
	}) {
		return
	}

	if !t.Run("change a step", func(t *testing.T) {
		rows := len(f.m.Ledger.List(ledger.Filter{}))
		res := f.apply(t, twoStepJob(t, name, "echo v2", 10, servers...))
		v2 = res.Job
		if res.Created || v2.VersionNumber != 2 || v2.JobID != v1.JobID {
			t.Errorf("apply: created %v version %d job_id %s; want version 2 of %s", res.Created, v2.VersionNumber, v2.JobID, v1.JobID)
		}
		if want := `steps[0].command: "echo hi" -> "echo v2"`; !slices.Equal(res.Changes, []string{want}) {
			t.Errorf("changes %q, want [%s]", res.Changes, want)
		}
		checkPosted(t, "apply", res.Posted, a.name()+" INSERT", b.name()+" INSERT")
		f.waitAllApplied(t, res.Posted)
		f.waitHolds(t, a, v2)
		f.waitHolds(t, b, v2)
		if n := len(f.m.Ledger.List(ledger.Filter{})); n != rows+2 {
			t.Errorf("download list grew by %d rows, want 2", n-rows)
		}

		p, err := f.m.StartJob(t.Context(), name, "", false)
		if err != nil {
			t.Fatal(err)
		}
		f.waitAllApplied(t, p)
		for _, s := range both {
			f.waitOutcome(t, name, s, 2)
			run := f.waitHistory(t, name, s, 2)[0] // newest first
			checkRun(t, run, s, jobs.RunSucceeded, jobs.RunSucceeded, jobs.RunSucceeded)
			if len(run) == 3 && (run[1].Output != "v2\n" || run[2].Output != "n\n-\n2\n\n(1 row affected)\n") {
				t.Errorf("%s ran the old definition: outputs %q, %q; want v2 and the second run counted", s, run[1].Output, run[2].Output)
			}
		}
	}) {
		return
	}

	if !t.Run("change only a schedule", func(t *testing.T) {
		res := f.apply(t, twoStepJob(t, name, "echo v2", 20, servers...))
		v3 = res.Job
		if want := `schedule "every few seconds".freq_subday_interval: 10 -> 20`; v3.VersionNumber != 3 || !slices.Equal(res.Changes, []string{want}) {
			t.Errorf("apply: version %d changes %q; want version 3 and [%s]", v3.VersionNumber, res.Changes, want)
		}
		// No MSX 14547 gap: a schedule edit reaches the targets like any other change.
		checkPosted(t, "apply", res.Posted, a.name()+" INSERT", b.name()+" INSERT")
		f.waitAllApplied(t, res.Posted)
		f.waitHolds(t, a, v3)
		f.waitHolds(t, b, v3)
	}) {
		return
	}

	if !t.Run("apply the same document again", func(t *testing.T) {
		rows := describeRows(f.m.Ledger.List(ledger.Filter{}))
		res := f.apply(t, twoStepJob(t, name, "echo v2", 20, servers...))
		if res.Created || len(res.Changes) != 0 || len(res.Posted) != 0 || res.Job.VersionNumber != 3 {
			t.Errorf("apply unchanged: created %v changes %q posted %v version %d; want nothing done, version 3",
				res.Created, res.Changes, res.Posted, res.Job.VersionNumber)
		}
		if after := describeRows(f.m.Ledger.List(ledger.Filter{})); !slices.Equal(after, rows) {
			t.Errorf("download list changed:\n got %q\nwant %q", after, rows)
		}
	}) {
		return
	}

	t.Run("untarget one server", func(t *testing.T) {
		res, err := f.m.RetargetJob(t.Context(), name, []string{"SQLJ1"}, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := "targets.servers: SQLJ1 removed"; res.Job.VersionNumber != 3 || !slices.Equal(res.Changes, []string{want}) {
			t.Errorf("retarget: version %d changes %q; want version 3 (targets are not the definition) and [%s]", res.Job.VersionNumber, res.Changes, want)
		}
		checkPosted(t, "retarget", res.Posted, a.name()+" DELETE")
		if r := f.waitAllApplied(t, res.Posted)[0]; r.ObjectID != v1.JobID {
			t.Errorf("DELETE row %+v, want job %s", r, v1.JobID)
		}
		f.waitHolds(t, a)
		f.waitHolds(t, b, v3)
		if js := f.m.JobServers(res.Job); len(js) != 1 || js[0].ServerName != b.name() {
			t.Errorf("job servers after untargeting %s: %+v", a.name(), js)
		}
		if _, err := f.m.StartJob(t.Context(), name, "sqlj1", false); master.CodeOf(err) != master.CodeUnknown {
			t.Errorf("START on the untargeted server: %v (code %d), want 14262", err, master.CodeOf(err))
		}
	})
}

// TestIntegrationJobsValidation applies a job to a server and a group that do not exist.
func TestIntegrationJobsValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startTarget(t, "sqlv1")
	f.waitOnline(t, a)
	if _, err := f.m.Reg.AddGroup(t.Context(), "Known"); err != nil {
		t.Fatal(err)
	}
	j := cmdJob(t, "Misdirected", "echo hi", "sqlv1", "nosuch")
	j.Targets.Groups = []string{"Known", "Nogroup"}
	_, err := f.m.ApplyJob(t.Context(), j)
	if err == nil {
		t.Fatal("job applied to an unknown server and group")
	}
	if code := master.CodeOf(err); code != 14262 {
		t.Errorf("CodeOf(%v) = %d, want 14262", err, code)
	}
	var pe *problem.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) carries no problems", err, err)
	}
	type found struct {
		path string
		code int
	}
	var got []found
	for _, p := range pe.Problems {
		got = append(got, found{p.Path, p.Code})
	}
	if want := []found{{"targets.servers[1]", 14262}, {"targets.groups[1]", 14262}}; !slices.Equal(got, want) {
		t.Errorf("problems %+v, want %+v", pe.Problems, want)
	}
	if !strings.Contains(err.Error(), "NOSUCH") || !strings.Contains(err.Error(), "Nogroup") {
		t.Errorf("error %q does not name the unknown server and group", err)
	}
	// Nothing stored, nothing posted.
	if _, ok := f.m.Catalog.ByName("Misdirected"); ok || len(f.m.Catalog.All()) != 0 {
		t.Errorf("catalog after a refused apply: %+v", f.m.Catalog.All())
	}
	if rows := f.m.Ledger.List(ledger.Filter{}); len(rows) != 0 {
		t.Errorf("download list after a refused apply: %q", describeRows(rows))
	}
	if js := f.m.JobsFor("sqlv1"); len(js) != 0 {
		t.Errorf("jobs for SQLV1: %+v", js)
	}

	// The first problem's position counts: a single unknown server is targets.servers[0].
	_, err = f.m.ApplyJob(t.Context(), cmdJob(t, "Misdirected", "echo hi", "nosuch"))
	if pe = nil; !errors.As(err, &pe) || len(pe.Problems) != 1 || pe.Problems[0].Path != "targets.servers[0]" || pe.Problems[0].Code != 14262 {
		t.Errorf("unknown server only: %v, want one problem at targets.servers[0] with code 14262", err)
	}
	j = cmdJob(t, "Misdirected", "echo hi")
	j.Targets.Groups = []string{"nogroup"}
	_, err = f.m.ApplyJob(t.Context(), j)
	if pe = nil; !errors.As(err, &pe) || len(pe.Problems) != 1 || pe.Problems[0].Path != "targets.groups[0]" || pe.Problems[0].Code != 14262 {
		t.Errorf("unknown group only: %v, want one problem at targets.groups[0] with code 14262", err)
	}
	if len(f.m.Catalog.All()) != 0 {
		t.Errorf("catalog after refused applies: %+v", f.m.Catalog.All())
	}
}

// TestIntegrationJobsScheduled lets a target's scheduler fire a job on a 10-second schedule.
func TestIntegrationJobsScheduled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startTarget(t, "sqls1")
	f.waitOnline(t, a)
	j := cmdJob(t, "Every ten seconds", "echo tick", "sqls1")
	j.Schedules = parseJob(t, `
name: x
steps: []
schedules:
  - name: ten seconds
    freq_type: 4
    freq_interval: 1
    freq_subday_type: 2
    freq_subday_interval: 10
`).Schedules
	res := f.apply(t, j)
	f.waitAllApplied(t, res.Posted)
	// At most ten seconds until the first firing; a slow machine may see a second one.
	var runs [][]jobs.HistoryRow
	waitFor(t, patience, func() bool {
		rows, err := f.m.History(t.Context(), j.Name, "sqls1", 0)
		if err != nil {
			t.Fatal(err)
		}
		runs = runsOf(rows)
		return len(runs) > 0
	}, "a scheduled run")
	run := runs[len(runs)-1] // the oldest
	checkRun(t, run, a.name(), jobs.RunSucceeded, jobs.RunSucceeded)
	if msg := run[0].Message; !strings.Contains(msg, "invoked by Schedule 1 (ten seconds)") {
		t.Errorf("job outcome message %q, want a run invoked by the schedule", msg)
	}
	if len(run) == 2 && run[1].Output != "tick\n" {
		t.Errorf("step output %q", run[1].Output)
	}
	// The history is read from the stream, the job server from the master's follower of it,
	// which may not have taken the finished report yet.
	var js master.JobServer
	waitFor(t, patience, func() bool {
		js, _ = f.jobServer(t, j.Name, "sqls1")
		return js.Runs >= 1
	}, "the job server counts the scheduled run (%+v)", &js)
	if js.LastRunOutcome == jobs.OutcomeFailed {
		t.Errorf("job server after a scheduled run: %+v", js)
	}
}
