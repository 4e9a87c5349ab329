package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// TestDashboardCountsAndOneGrid checks the dashboard's shape on 105 targets: targets counted by
// status with the one not normal listed first and the list capped at 100, each job's targets
// counted by last outcome (as the jobs list counts them), no grid unless ?job= names a job, and
// a clear 404 for a job that does not exist.
func TestDashboardCountsAndOneGrid(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	const n = 105
	var names []string
	for i := range n {
		name := fmt.Sprintf("DASH%03d", i+1)
		names = append(names, name)
		enlisted := time.Now().UTC()
		if i == n-1 {
			enlisted = enlisted.Add(-time.Hour) // never polled since: suspected offline
		}
		if err := f.m.Reg.PutTarget(ctx, registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), EnlistDate: enlisted, PollInterval: 60}); err != nil {
			t.Fatalf("put target: %v", err)
		}
	}
	j := jobs.Job{JobID: "00000000-0000-0000-0000-0000000000d1", Name: "Dashed", VersionNumber: 1, Targets: jobs.Targets{Servers: names[:3]}}
	if err := f.m.Catalog.Put(ctx, j); err != nil {
		t.Fatalf("put job: %v", err)
	}
	for i, st := range []jobs.RunStatus{jobs.RunSucceeded, jobs.RunFailed} {
		row, _ := json.Marshal(jobs.HistoryRow{JobID: j.JobID, JobName: j.Name, RunStatus: st})
		b, err := schemas.Encode(&schemas.RunResult{RunID: fmt.Sprint("r", i), Phase: schemas.PhaseFinished, JobID: j.JobID, JobName: j.Name,
			VersionNumber: 1, Server: names[i], RunStatus: int(st), Rows: []json.RawMessage{row}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.js.Publish(ctx, bus.ResultSubject(jobs.ServerToken(names[i]), j.JobID), b); err != nil {
			t.Fatal(err)
		}
	}
	want := master.OutcomeCounts{Succeeded: 1, Failed: 1, NotRun: 1}
	var d api.Dashboard
	waitFor(t, patience, func() bool {
		d = api.Dashboard{}
		f.must(t, f.viewer, http.MethodGet, "/api/v1/dashboard", "", &d)
		return len(d.Jobs) == 1 && d.Jobs[0].Outcomes == want
	}, "both results on the dashboard")
	if dj := d.Jobs[0]; dj.Name != "Dashed" || dj.Targets != 3 {
		t.Errorf("job row %+v, want Dashed on 3 targets", dj)
	}
	if d.Grid != nil {
		t.Errorf("grid %+v sent without ?job=", d.Grid)
	}
	ts := d.Targets
	if ts.Total != n || ts.SuspectedOffline != 1 || ts.Online != n-1 || len(ts.Listed) != 100 || ts.Unlisted != n-100 {
		t.Errorf("targets summary %d total, %d online, %d offline, %d listed, %d unlisted; want %d, %d, 1, 100, %d",
			ts.Total, ts.Online, ts.SuspectedOffline, len(ts.Listed), ts.Unlisted, n, n-1, n-100)
	}
	if len(ts.Listed) > 1 && (ts.Listed[0].ServerName != names[n-1] || ts.Listed[0].Status&ledger.StatusSuspectedOffline == 0 || ts.Listed[1].ServerName != names[0]) {
		t.Errorf("listed %s, %s first; want the suspected offline %s, then %s", ts.Listed[0].ServerName, ts.Listed[1].ServerName, names[n-1], names[0])
	}

	// The jobs list counts the same.
	var list []api.JobSummary
	f.must(t, f.viewer, http.MethodGet, "/api/v1/jobs", "", &list)
	if len(list) != 1 || list[0].Outcomes != want || list[0].Targets != 3 || list[0].FailedExecutions != 1 {
		t.Errorf("jobs list %+v, want Dashed with outcomes %+v", list, want)
	}

	// One job's grid on demand.
	d = api.Dashboard{}
	f.must(t, f.viewer, http.MethodGet, "/api/v1/dashboard?job=dashed", "", &d)
	if d.Grid == nil || d.Grid.Job != "Dashed" || len(d.Grid.Servers) != 3 {
		t.Fatalf("grid %+v, want Dashed's 3 servers", d.Grid)
	}
	for i, o := range []jobs.RunOutcome{jobs.OutcomeSucceeded, jobs.OutcomeFailed, jobs.OutcomeUnknown} {
		if s := d.Grid.Servers[i]; s.ServerName != names[i] || s.LastRunOutcome != o {
			t.Errorf("grid row %d: %s outcome %d, want %s %d", i, s.ServerName, s.LastRunOutcome, names[i], o)
		}
	}
	wantErr(t, f.do(t, f.viewer, http.MethodGet, "/api/v1/dashboard?job=nosuch", ""), http.StatusNotFound, 0, "nosuch")
}
