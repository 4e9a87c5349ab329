package master_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// rowJobs returns "OPERATION job-name" of download-list rows, sorted.
func rowJobs(rows []ledger.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.OperationName + " " + r.ObjectName
	}
	slices.Sort(out)
	return out
}

// TestIntegrationJobsGroupMembership targets jobs at a group whose membership changes: members
// gain and lose the group's jobs as they join and leave (membership is live, unlike MSX).
func TestIntegrationJobsGroupMembership(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startTarget(t, "sqlg1")
	b := f.startTarget(t, "sqlg2")
	f.waitOnline(t, a)
	f.waitOnline(t, b)
	ctx := t.Context()
	if _, err := f.m.Reg.AddGroup(ctx, "Web"); err != nil {
		t.Fatal(err)
	}
	gj := cmdJob(t, "Group job", "echo group")
	gj.Targets.Groups = []string{"Web"}
	res := f.apply(t, gj)
	g := res.Job
	checkPosted(t, "apply to an empty group", res.Posted)
	if js := f.m.JobServers(g); len(js) != 0 {
		t.Errorf("job servers of a job on an empty group: %+v", js)
	}
	// A second job on the group and, directly, on SQLG1.
	kj := cmdJob(t, "Server and group job", "echo both", "sqlg1")
	kj.Targets.Groups = []string{"web"}
	res = f.apply(t, kj)
	k := res.Job
	checkPosted(t, "apply", res.Posted, "SQLG1 INSERT")
	f.waitAllApplied(t, res.Posted)
	f.waitHolds(t, a, k)

	step := func(what string, posted []master.Posted, err error, want ...string) []ledger.Row {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		rows := f.waitAllApplied(t, posted)
		if got := rowJobs(rows); !slices.Equal(got, want) {
			t.Fatalf("%s posted %q (%q), want %q", what, got, describePosted(posted), want)
		}
		return rows
	}

	_, p, err := f.m.AddMember(ctx, "web", "sqlg1")
	for _, r := range step("add SQLG1 to Web", p, err, "INSERT Group job") {
		if r.TargetServer != "SQLG1" || r.ObjectID != g.JobID {
			t.Errorf("row %+v", r)
		}
	}
	f.waitHolds(t, a, g, k)

	_, p, err = f.m.AddMember(ctx, "Web", "sqlg2")
	for _, r := range step("add SQLG2 to Web", p, err, "INSERT Group job", "INSERT Server and group job") {
		if r.TargetServer != "SQLG2" {
			t.Errorf("row %+v", r)
		}
	}
	f.waitHolds(t, b, g, k)
	var servers []string
	for _, js := range f.m.JobServers(g) {
		servers = append(servers, js.ServerName)
	}
	if !slices.Equal(servers, []string{"SQLG1", "SQLG2"}) {
		t.Errorf("job servers of the group job: %v", servers)
	}
	// The new member runs the group's job.
	p, err = f.m.StartJob(ctx, g.Name, "sqlg2", false)
	if err != nil {
		t.Fatal(err)
	}
	f.waitAllApplied(t, p)
	if js := f.waitOutcome(t, g.Name, "sqlg2", 1); js.LastRunOutcome != jobs.OutcomeSucceeded {
		t.Errorf("run on the new member: %+v", js)
	}

	// SQLG1 leaves: it loses the group's job, and keeps the one applied to it by name.
	p, err = f.m.RemoveMember(ctx, "WEB", "sqlg1")
	for _, r := range step("remove SQLG1 from Web", p, err, "DELETE Group job") {
		if r.TargetServer != "SQLG1" {
			t.Errorf("row %+v", r)
		}
	}
	f.waitHolds(t, a, k)
	f.waitHolds(t, b, g, k)

	// Deleting the group takes its jobs from its members.
	p, err = f.m.DeleteGroup(ctx, "Web")
	for _, r := range step("delete Web", p, err, "DELETE Group job", "DELETE Server and group job") {
		if r.TargetServer != "SQLG2" {
			t.Errorf("row %+v", r)
		}
	}
	f.waitHolds(t, b)
	f.waitHolds(t, a, k)
	for _, name := range []string{g.Name, k.Name} {
		j, err := f.m.Catalog.Get(name)
		if err != nil || len(j.Targets.Groups) != 0 || j.VersionNumber != 1 {
			t.Errorf("job %q after its group was deleted: %+v (%v)", name, j, err)
		}
	}
}

// TestIntegrationJobsMasterRestart restarts the master right after it posted a changed job to
// five targets: the new master sees every row downloaded, and keeps the earlier outcomes.
func TestIntegrationJobsMasterRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var agents []*agent
	var names []string
	for i := range 5 {
		n := fmt.Sprintf("sqlm%d", i+1)
		agents = append(agents, f.startTarget(t, n))
		names = append(names, n)
	}
	for _, a := range agents {
		f.waitOnline(t, a)
	}
	const name = "Fleet job"
	res := f.apply(t, cmdJob(t, name, "echo v1", names...))
	if len(res.Posted) != 5 {
		t.Fatalf("posted %q, want an INSERT to each of 5 targets", describePosted(res.Posted))
	}
	f.waitAllApplied(t, res.Posted)
	p, err := f.m.StartJob(t.Context(), name, "", false)
	if err != nil {
		t.Fatal(err)
	}
	f.waitAllApplied(t, p)
	for _, n := range names {
		f.waitOutcome(t, name, n, 1)
	}
	before := f.m.JobServers(res.Job)

	res = f.apply(t, cmdJob(t, name, "echo v2", names...))
	shutdownMaster(t, f.m)
	f.m = f.startMaster(t)

	if res.Job.VersionNumber != 2 || len(res.Posted) != 5 {
		t.Fatalf("apply: version %d posted %q, want version 2 to 5 targets", res.Job.VersionNumber, describePosted(res.Posted))
	}
	j, err := f.m.Catalog.Get(name)
	if err != nil || j.VersionNumber != 2 || j.Steps[0].Command != "echo v2" {
		t.Fatalf("restarted master's catalog: %+v (%v)", j, err)
	}
	// The outcomes come back from the results stream before Start returns.
	after := f.m.JobServers(j)
	if len(after) != len(before) {
		t.Fatalf("job servers after restart: %+v, before %+v", after, before)
	}
	for i, want := range before {
		got := after[i]
		if got.ServerName != want.ServerName || got.LastRunOutcome != jobs.OutcomeSucceeded || got.LastRunID != want.LastRunID ||
			got.Runs != 1 || got.LastOutcomeMessage != want.LastOutcomeMessage || got.LastRunDate != want.LastRunDate ||
			got.LastRunTime != want.LastRunTime || !got.Finished.Equal(want.Finished) {
			t.Errorf("job server after restart:\n got %+v\nwant %+v", got, want)
		}
	}
	f.waitAllApplied(t, res.Posted)
	for _, a := range agents {
		f.waitHolds(t, a, j)
	}
	if n := f.m.Rejected.Load(); n != 0 {
		t.Errorf("restarted master rejected %d messages", n)
	}
	if rows := f.m.Ledger.List(ledger.Filter{Pending: true}); len(rows) != 0 {
		t.Errorf("pending rows: %q", describeRows(rows))
	}
	if rows := f.m.Ledger.List(ledger.Filter{}); len(rows) != 15 {
		t.Errorf("download list has %d rows, want 15 (INSERT, START, INSERT to each target): %q", len(rows), describeRows(rows))
	}
	if runs := f.waitHistory(t, name, "", 5); len(runs) != 5 {
		t.Errorf("history after restart: %d runs", len(runs))
	}
}

// TestIntegrationJobsDriftRepair deletes a job from a stopped target's database behind the
// master's back: when the target is back, the master sees the digest mismatch and posts an
// INSERT of the missing job alone (no DELETE of all jobs), with one audit record.
func TestIntegrationJobsDriftRepair(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startTarget(t, "sqld1")
	b := f.startTarget(t, "sqld2")
	f.waitOnline(t, a)
	f.waitOnline(t, b)
	res := f.apply(t, cmdJob(t, "Drifting", "echo hi", "sqld1", "sqld2"))
	j := res.Job
	f.waitAllApplied(t, res.Posted)
	f.waitHolds(t, a, j)
	f.waitHolds(t, b, j)

	a.stopClean(t)
	st := a.openStore(t)
	if _, err := st.DB().ExecContext(t.Context(), `DELETE FROM jobs`); err != nil {
		t.Fatal(err)
	}
	if _, n, err := st.JobDigest(t.Context()); err != nil || n != 0 {
		t.Fatalf("after DELETE FROM jobs the target holds %d jobs (%v)", n, err)
	}
	st.Close()
	tokA, tokB := f.reg(t, "sqld1").Token, f.reg(t, "sqld2").Token
	rowsA, rowsB := f.m.Ledger.List(ledger.Filter{Token: tokA}), describeRows(f.m.Ledger.List(ledger.Filter{Token: tokB}))

	a.start(t)
	var repair []ledger.Row
	waitFor(t, patience, func() bool {
		all := f.m.Ledger.List(ledger.Filter{Token: tokA})
		repair = all[len(rowsA):]
		return len(repair) >= 1 && repair[0].Status == 1
	}, "the repair rows downloaded (%+v)", &repair)
	if len(repair) != 1 || repair[0].Operation != schemas.OpInsert || repair[0].ObjectID != j.JobID {
		t.Errorf("repair rows %q, want one INSERT of %s", describeRows(repair), j.JobID)
	}
	if n := f.m.Repairs("sqld1"); n != 1 {
		t.Errorf("%d repairs of sqld1, want 1", n)
	}
	recs, err := f.m.AuditLog(t.Context(), master.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Action == "repair" && r.Object == "server SQLD1" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d audit records of the repair, want 1: %+v", n, recs)
	}
	for _, r := range repair {
		if r.Status != 1 || r.ErrorMessage != "" {
			t.Errorf("repair row %q", describeRows([]ledger.Row{r}))
		}
	}
	f.waitHolds(t, a, j)
	if got := describeRows(f.m.Ledger.List(ledger.Filter{Token: tokB})); !slices.Equal(got, rowsB) {
		t.Errorf("the target without drift got rows:\n got %q\nwant %q", got, rowsB)
	}
	// Repaired, it runs the job again.
	p, err := f.m.StartJob(t.Context(), j.Name, "sqld1", false)
	if err != nil {
		t.Fatal(err)
	}
	f.waitAllApplied(t, p)
	if js := f.waitOutcome(t, j.Name, "sqld1", 1); js.LastRunOutcome != jobs.OutcomeSucceeded {
		t.Errorf("run after the repair: %+v", js)
	}
}
