package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas"
)

// TestSafeChangeRequests: the dry run answers and is audited as changing nothing; bad input to
// start, enable and disable is refused with what to give instead.
func TestSafeChangeRequests(t *testing.T) {
	f := newFixture(t)
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)

	var plan master.ApplyResult
	f.must(t, f.admin, "POST", "/api/v1/jobs?dry_run=true", validJob, &plan)
	if !plan.DryRun || !plan.Created || plan.Job.Name != "Nightly" {
		t.Errorf("dry run %+v", plan)
	}
	if r := f.do(t, f.viewer, "GET", "/api/v1/jobs/Nightly", ""); r.status != http.StatusNotFound {
		t.Fatalf("the dry run created the job: %s", r)
	}
	waitFor(t, patience, func() bool {
		return slices.ContainsFunc(f.auditLog(t), func(a schemas.Audit) bool {
			return a.Object == "job Nightly" && slices.Equal(a.Changes, []string{"dry run, nothing changed"})
		})
	}, "the dry run's audit record")
	if r := f.do(t, f.viewer, "POST", "/api/v1/jobs?dry_run=true", validJob); r.status != http.StatusForbidden {
		t.Errorf("a viewer's dry run: %s, want 403", r)
	}

	f.must(t, f.admin, "POST", "/api/v1/jobs", validJob, nil)
	for _, tt := range []struct {
		name, path, body string
		status, code     int
		mentions         []string
	}{
		{"wait not a duration", "/api/v1/jobs/Nightly/start?wait=soon", "", 400, master.CodeBadRequest, []string{`"soon"`, "20s"}},
		{"wait too long", "/api/v1/jobs/Nightly/start?wait=10m", "", 400, master.CodeBadRequest, []string{"25s"}},
		{"start on an unknown group", "/api/v1/jobs/Nightly/start?group=Nope", "", 404, 14262, []string{"Nope"}},
		{"start on a server not targeted", "/api/v1/jobs/Nightly/start?server=SQL99", "", 404, 14262, []string{"SQL99"}},
		{"disable on a bad name", "/api/v1/jobs/Nightly/disable", `{"servers":["a.b"]}`, 400, master.CodeInvalidName, []string{"a.b"}},
		{"disable an unknown job", "/api/v1/jobs/Nope/disable", "", 404, 14262, nil},
		{"enable with a bad body", "/api/v1/jobs/Nightly/enable", `{"servers":"SQL01"}`, 400, master.CodeBadRequest, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, f.do(t, f.admin, "POST", tt.path, tt.body), tt.status, tt.code, tt.mentions...)
		})
	}
	var res master.ApplyResult
	f.must(t, f.admin, "POST", "/api/v1/jobs/Nightly/disable", "", &res)
	if res.Job.IsEnabled() || res.Job.VersionNumber != 2 {
		t.Errorf("disable: %+v", res.Job)
	}
}
