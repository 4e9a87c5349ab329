package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// postedJob reads the job snapshot the master posted at seq.
func (f *fixture) postedJob(tb testing.TB, seq uint64) jobs.Job {
	tb.Helper()
	s, err := f.js.Stream(tb.Context(), bus.StreamInstr)
	if err != nil {
		tb.Fatal(err)
	}
	msg, err := s.GetMsg(tb.Context(), seq)
	if err != nil {
		tb.Fatalf("instruction %d: %v", seq, err)
	}
	var in schemas.Instruction
	if err := schemas.Decode(msg.Data, &in); err != nil {
		tb.Fatal(err)
	}
	var j jobs.Job
	if err := json.Unmarshal(in.Job, &j); err != nil {
		tb.Fatalf("instruction %d carries no job: %v", seq, err)
	}
	return j
}

// onlineTargets starts targets and waits until each is online.
func (f *fixture) onlineTargets(tb testing.TB, names ...string) []*agent {
	tb.Helper()
	out := make([]*agent, len(names))
	for i, n := range names {
		out[i] = f.startTarget(tb, n)
	}
	for _, a := range out {
		f.waitOnline(tb, a)
	}
	return out
}

// TestIntegrationJobsDryRun: a dry run says what an apply would change and post, per target,
// and changes nothing: not the catalog, not the download list.
func TestIntegrationJobsDryRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.onlineTargets(t, "sqld1", "sqld2")
	rows := func() int { return len(f.m.Ledger.List(ledger.Filter{})) }

	j := cmdJob(t, "Dry", "echo hi", "sqld1", "sqld2")
	plan, err := f.m.PlanJob(t.Context(), j)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.DryRun || !plan.Created || plan.Job.VersionNumber != 1 {
		t.Errorf("plan of a new job: %+v", plan)
	}
	checkPosted(t, "dry run", plan.Posted, "SQLD1 INSERT", "SQLD2 INSERT")
	for _, p := range plan.Posted {
		if p.InstanceID != 0 {
			t.Errorf("a dry run shows instance_id %d: it posted", p.InstanceID)
		}
	}
	if _, ok := f.m.Catalog.ByName("Dry"); ok || rows() != 0 {
		t.Fatalf("a dry run of a new job changed something: in catalog %v, %d download-list rows", ok, rows())
	}

	res := f.apply(t, j)
	f.waitAllApplied(t, res.Posted)
	before := rows()
	changed := j.Clone()
	changed.Description = "now with a description"
	changed.Targets.Servers = []string{"sqld1"}
	plan, err = f.m.PlanJob(t.Context(), changed)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Created || plan.Job.VersionNumber != 2 || !slices.Contains(plan.Changes, "targets.servers: SQLD2 removed") ||
		!slices.ContainsFunc(plan.Changes, func(c string) bool { return strings.HasPrefix(c, "description:") }) {
		t.Errorf("plan of a change: %+v", plan)
	}
	checkPosted(t, "dry run of a change", plan.Posted, "SQLD1 INSERT", "SQLD2 DELETE")
	if cur, _ := f.m.Catalog.ByName("Dry"); cur.VersionNumber != 1 || cur.Description != "" || rows() != before {
		t.Errorf("a dry run changed the job (version %d, %q) or posted (%d rows, was %d)", cur.VersionNumber, cur.Description, rows(), before)
	}
	// An invalid job fails a dry run as it fails an apply.
	bad := j.Clone()
	bad.Overlap = "sometimes"
	if _, err := f.m.PlanJob(t.Context(), bad); err == nil || !strings.Contains(err.Error(), "valid values are: skip, queue, replace") {
		t.Errorf("dry run of an invalid job: %v", err)
	}
}

// TestIntegrationJobsEnableDisable disables a job on one target, then everywhere, and enables
// it again: each target receives the job as it must run it.
func TestIntegrationJobsEnableDisable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.onlineTargets(t, "sqle1", "sqle2")
	res := f.apply(t, cmdJob(t, "Toggle", "echo hi", "sqle1", "sqle2"))
	f.waitAllApplied(t, res.Posted)

	enabledOn := func(res master.ApplyResult) map[string]bool {
		t.Helper()
		f.waitAllApplied(t, res.Posted)
		out := map[string]bool{}
		for _, p := range res.Posted {
			out[p.TargetServer] = f.postedJob(t, p.InstanceID).IsEnabled()
		}
		return out
	}
	res, err := f.m.SetJobEnabled(t.Context(), "toggle", false, []string{"sqle2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := enabledOn(res); !got["SQLE1"] || got["SQLE2"] || len(got) != 2 {
		t.Errorf("disabled on SQLE2 only: enabled per target %v", got)
	}
	if !slices.Equal(res.Job.DisabledOn, []string{"SQLE2"}) || !res.Job.IsEnabled() {
		t.Errorf("job after disable --server: %+v", res.Job.RunPolicy)
	}
	// Disabling again changes nothing and posts nothing.
	if again, err := f.m.SetJobEnabled(t.Context(), "Toggle", false, []string{"SQLE2"}); err != nil || len(again.Posted) != 0 {
		t.Errorf("second disable: %v, posted %v", err, again.Posted)
	}
	res, err = f.m.SetJobEnabled(t.Context(), "Toggle", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := enabledOn(res); got["SQLE1"] || got["SQLE2"] {
		t.Errorf("disabled everywhere: enabled per target %v", got)
	}
	if _, err := f.m.SetJobEnabled(t.Context(), "Toggle", true, []string{"sqle1"}); !errors.Is(err, master.ErrInvalid) ||
		!strings.Contains(err.Error(), "msx job enable") {
		t.Errorf("enable on one server of a job disabled everywhere: %v", err)
	}
	res, err = f.m.SetJobEnabled(t.Context(), "Toggle", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := enabledOn(res); !got["SQLE1"] || !got["SQLE2"] || res.Job.DisabledOn != nil {
		t.Errorf("enabled everywhere: enabled per target %v, disabled_on %v", got, res.Job.DisabledOn)
	}
	if _, err := f.m.SetJobEnabled(t.Context(), "Toggle", false, []string{"NOSUCH"}); master.CodeOf(err) != master.CodeUnknown {
		t.Errorf("disable on a server the job is not applied to: %v", err)
	}
}

// TestIntegrationJobsStartWait starts a job on three targets: one runs it already (refused,
// 22022), one starts it, one is stopped (unreachable).
func TestIntegrationJobsStartWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	down := f.onlineTargets(t, "sqlw1", "sqlw2", "sqlw3")[2]
	if _, err := f.m.Reg.AddGroup(t.Context(), "WaitGroup"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"sqlw2", "sqlw3"} {
		if _, _, err := f.m.AddMember(t.Context(), "WaitGroup", s); err != nil {
			t.Fatal(err)
		}
	}
	res := f.apply(t, cmdJob(t, "Waited", "sleep 30", "sqlw1", "sqlw2", "sqlw3"))
	f.waitAllApplied(t, res.Posted)
	p, err := f.m.StartJobOn(t.Context(), "Waited", []string{"sqlw1"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	f.waitAllApplied(t, p)
	down.stopClean(t)

	p, err = f.m.StartJobOn(t.Context(), "Waited", []string{"sqlw1"}, []string{"WaitGroup"}, false)
	if err != nil {
		t.Fatal(err)
	}
	checkPosted(t, "start on a server and a group", p, "SQLW1 START", "SQLW2 START", "SQLW3 START")
	// The wait ends when the two live targets answered and the deadline passed for the third.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got := map[string]master.StartReport{}
	for _, r := range f.m.WaitStarted(ctx, p) {
		got[r.TargetServer] = r
	}
	if r := got["SQLW1"]; r.Outcome != master.StartRefused || r.ErrorCode != 22022 || !strings.Contains(r.Message, "already running") {
		t.Errorf("busy target: %+v, want refused 22022", r)
	}
	if r := got["SQLW2"]; r.Outcome != master.StartStarted || r.ErrorCode != 0 {
		t.Errorf("free target: %+v, want started", r)
	}
	if r := got["SQLW3"]; r.Outcome != master.StartUnreachable || !strings.Contains(r.Message, "last heartbeat") {
		t.Errorf("stopped target: %+v, want unreachable", r)
	}
	p, err = f.m.StartJobOn(t.Context(), "Waited", []string{"sqlw1", "sqlw2"}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	stopCtx, stopCancel := context.WithTimeout(t.Context(), patience)
	defer stopCancel()
	for _, r := range f.m.WaitStarted(stopCtx, p) {
		if r.Outcome != master.StartStopped {
			t.Errorf("STOP of a running job: %+v, want stopped", r)
		}
	}
	if _, err := f.m.StartJobOn(t.Context(), "Waited", []string{"sqlother"}, nil, false); master.CodeOf(err) != master.CodeUnknown {
		t.Errorf("start on a server the job is not applied to: %v", err)
	}
	if _, err := f.m.StartJobOn(t.Context(), "Waited", nil, []string{"NoSuchGroup"}, false); master.CodeOf(err) != master.CodeUnknown {
		t.Errorf("start on an unknown group: %v", err)
	}
}

// TestIntegrationJobsChainCycle: a chain that would close a cycle is refused at apply, naming
// the cycle; a chain to a job that does not exist yet or is not on the same targets is a warning.
func TestIntegrationJobsChainCycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.onlineTargets(t, "sqlc1")
	chained := func(name, success, failure string, servers ...string) jobs.Job {
		j := cmdJob(t, name, "echo "+name, servers...)
		j.OnSuccessStart, j.OnFailureStart = success, failure
		return j
	}
	res := f.apply(t, chained("Load", "Report", "", "sqlc1"))
	if !slices.ContainsFunc(res.Warnings, func(w string) bool {
		return strings.Contains(w, "on_success_start: job 'Report' does not exist")
	}) {
		t.Errorf("warnings %q, want one for the missing chained job", res.Warnings)
	}
	res = f.apply(t, chained("Report", "", "Cleanup"))
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "job 'Cleanup' does not exist") {
		t.Errorf("warnings %q", res.Warnings)
	}
	// Load runs on SQLC1, Report nowhere: Load's chain starts nothing there.
	res = f.apply(t, chained("Load", "Report", "", "sqlc1"))
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "job 'Report' is not applied to SQLC1") {
		t.Errorf("warnings %q, want Report not applied to SQLC1", res.Warnings)
	}
	_, err := f.m.ApplyJob(t.Context(), chained("Cleanup", "", "load"))
	if !errors.Is(err, jobs.ErrChainCycle) || !errors.Is(err, master.ErrInvalid) || master.CodeOf(err) != master.CodeInvalidValue ||
		!strings.Contains(err.Error(), "Cleanup -> Load -> Report -> Cleanup") {
		t.Fatalf("apply closing a cycle: %v", err)
	}
	if _, ok := f.m.Catalog.ByName("Cleanup"); ok {
		t.Error("the job closing a cycle was stored")
	}
	if _, err := f.m.PlanJob(t.Context(), chained("Cleanup", "", "load")); !errors.Is(err, jobs.ErrChainCycle) {
		t.Errorf("dry run closing a cycle: %v", err)
	}
	if _, err := f.m.ApplyJob(t.Context(), chained("Self", "self", "")); err == nil || !strings.Contains(err.Error(), "cannot start itself") {
		t.Errorf("a job chained to itself: %v", err)
	}
	f.apply(t, chained("Cleanup", "", ""))
}

// TestIntegrationJobsOverlapSkipped: a firing skipped while the job runs reaches the master as
// a history row and an event, and changes neither the last outcome nor the run count.
func TestIntegrationJobsOverlapSkipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.onlineTargets(t, "sqlo1")
	release := filepath.Join(t.TempDir(), "release")
	j := cmdJob(t, "Busy", "while [ ! -f '"+release+"' ]; do sleep 0.05; done", "sqlo1")
	j.Schedules = []schedule.Schedule{{Name: "every second", Cron: "* * * * * *"}}
	res := f.apply(t, j)
	f.waitAllApplied(t, res.Posted)

	var skipped jobs.HistoryRow
	waitFor(t, patience, func() bool {
		rows, err := f.m.History(t.Context(), "Busy", "sqlo1", 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.StepID == 0 && strings.HasPrefix(r.Message, "The job was skipped.") {
				skipped = r
				return true
			}
		}
		return false
	}, "a skipped firing in the master's history")
	if skipped.RunStatus != jobs.RunCanceled || skipped.Server != "SQLO1" || !strings.Contains(skipped.Message, "(overlap: skip)") {
		t.Errorf("skipped row %+v", skipped)
	}
	if js, _ := f.jobServer(t, "Busy", "sqlo1"); js.LastRunOutcome != jobs.OutcomeInProgress || js.Runs != 0 {
		t.Errorf("after a skipped firing the job shows %+v, want still in progress and no finished run", js)
	}
	f.waitEvents(t, "sqlo1", schemas.SeverityInfo, "the skip event", func(e master.EventRecord) bool {
		return e.JobName == "Busy" && strings.Contains(e.Message, "The job was skipped.")
	})
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The schedule keeps firing: count at least one finished run, never the skipped ones.
	var js master.JobServer
	waitFor(t, patience, func() bool {
		js, _ = f.jobServer(t, "Busy", "sqlo1")
		return js.Runs >= 1 && js.LastRunOutcome == jobs.OutcomeSucceeded
	}, "the released run to succeed (last %+v)", &js)
}
