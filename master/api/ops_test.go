package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/msx-project/msx/master"
)

// TestOpsErrors: the bulk clear and the un-deploy plan refuse what they cannot do with a message
// that says how to ask; size limits name the limit and, for a field, the field.
func TestOpsErrors(t *testing.T) {
	f := newFixture(t)
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)
	hugeCommand := strings.Replace(validJob, `"SELECT 1"`, `"`+strings.Repeat("x", 600<<10)+`"`, 1)
	for _, tt := range []struct {
		name         string
		method, path string
		body         string
		status, code int
		mentions     []string
	}{
		{"clear without a filter", "POST", "/api/v1/downloadlist/clear", `{}`, 400, master.CodeBadRequest, []string{"--all", "--server", "--job"}},
		{"clear all and a server", "POST", "/api/v1/downloadlist/clear", `{"all":true,"server":"X"}`, 400, master.CodeBadRequest, []string{"--all"}},
		{"clear unknown server", "POST", "/api/v1/downloadlist/clear", `{"server":"NOSUCH"}`, 404, 14262, []string{"NOSUCH"}},
		{"clear unknown job", "POST", "/api/v1/downloadlist/clear", `{"job":"Nope"}`, 404, 14262, nil},
		{"plan without a change", "GET", "/api/v1/plans/undeploy", "", 400, master.CodeBadRequest, []string{"?group=G"}},
		{"plan of unknown group", "GET", "/api/v1/plans/undeploy?group=Nope", "", 404, 14262, []string{"Nope"}},
		{"plan of unknown job", "GET", "/api/v1/plans/undeploy?job=Nope", "", 404, 14262, nil},
		{"oversized job body", "POST", "/api/v1/jobs", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, 400, master.CodeBadRequest, []string{"1048576 bytes", "command", "524288"}},
		{"oversized command", "POST", "/api/v1/jobs", hugeCommand, 400, 0, []string{"steps[0].command", "614400 bytes", "524288 bytes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, f.admin, tt.method, tt.path, tt.body)
			if r.status == http.StatusRequestEntityTooLarge {
				t.Fatalf("oversized body answered 413 without the API's explanation: %s", r)
			}
			wantErr(t, r, tt.status, tt.code, tt.mentions...)
		})
	}
	var clear struct{ Cleared []uint64 }
	f.must(t, f.admin, "POST", "/api/v1/downloadlist/clear", `{"all":true}`, &clear)
	if len(clear.Cleared) != 0 {
		t.Errorf("clear --all on an empty download list cleared %v", clear.Cleared)
	}
	var plan master.UndeployPlan
	f.must(t, f.viewer, "GET", "/api/v1/plans/undeploy?group=web", "", &plan)
	if plan.Change != "delete group Web" || plan.Undeploy == nil || len(plan.Undeploy) != 0 {
		t.Errorf("plan of an empty group: %+v", plan)
	}
}
