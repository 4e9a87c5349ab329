package master_test

import (
	"testing"

	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// A job with delete_level 3 runs once and is deleted from the target, as SQL Server Agent does.
// The master must then stop expecting it there: no drift repair that posts it again (which
// would run it again), and a new version of the job is delivered again.
func TestIntegrationJobsDeleteLevel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startTarget(t, "sql91")
	f.waitOnline(t, a)
	j := cmdJob(t, "Run once", "echo once", "SQL91")
	j.DeleteLevel = jobs.LevelAlways
	f.waitAllApplied(t, f.apply(t, j).Posted)

	if _, err := f.m.StartJob(t.Context(), "Run once", "SQL91", false); err != nil {
		t.Fatal(err)
	}
	js := f.waitOutcome(t, "Run once", "SQL91", 1)
	if js.LastRunOutcome != jobs.OutcomeSucceeded {
		t.Fatalf("outcome %+v", js)
	}
	// The target holds no job now, and that is what the master expects.
	f.waitHolds(t, a)
	if got := f.m.JobsFor("SQL91"); len(got) != 0 {
		t.Fatalf("master still expects %d job(s) on SQL91", len(got))
	}
	// Several heartbeats later nothing was posted to repair it.
	f.waitHolds(t, a)
	f.waitHolds(t, a)
	for _, r := range f.m.Ledger.List(ledger.Filter{Token: f.reg(t, "sql91").Token}) {
		if r.Operation == schemas.OpDelete && r.ObjectID == "" {
			t.Fatalf("drift repair posted to SQL91 after a delete_level deletion: %+v", r)
		}
	}
	if js, ok := f.jobServer(t, "Run once", "SQL91"); !ok || js.Runs != 1 {
		t.Fatalf("the last outcome on SQL91 is no longer shown: %+v %v", js, ok)
	}

	// A changed definition is delivered again.
	j.Steps[0].Command = "echo twice"
	res := f.apply(t, j)
	t.Logf("second apply: version %d changes %v posted %v", res.Job.VersionNumber, res.Changes, describePosted(res.Posted))
	f.waitAllApplied(t, res.Posted)
	updated, _ := f.m.Catalog.Get("Run once")
	f.waitHolds(t, a, updated)
}
