package api_test

import (
	"net/http"
	"testing"
)

// TestQueryValuesChecked: a query parameter whose value is not of its type is refused with a
// message naming it, never read as its zero value (a mistyped ?dry_run must not apply a job).
func TestQueryValuesChecked(t *testing.T) {
	f := newFixture(t)
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)
	for _, tt := range []struct {
		name, token, method, path, body, param string
	}{
		{"dry run misspelt", f.admin, "POST", "/api/v1/jobs?dry_run=ture", validJob, "dry_run"},
		{"limit a word", f.viewer, "GET", "/api/v1/downloadlist?limit=ten", "", "limit"},
		{"limit negative", f.viewer, "GET", "/api/v1/downloadlist?limit=-1", "", "limit"},
		{"pending yes", f.viewer, "GET", "/api/v1/downloadlist?pending=yes", "", "pending"},
		{"errors 2", f.viewer, "GET", "/api/v1/downloadlist?errors=2", "", "errors"},
		{"history limit", f.viewer, "GET", "/api/v1/jobs/Nightly/history?limit=1e3", "", "limit"},
		{"events since", f.viewer, "GET", "/api/v1/events?since=-5", "", "since"},
		{"events severity", f.viewer, "GET", "/api/v1/events?min_severity=high", "", "min_severity"},
		{"events limit", f.viewer, "GET", "/api/v1/events?limit=%00", "", "limit"},
		{"audit limit", f.viewer, "GET", "/api/v1/audit?limit=all", "", "limit"},
		{"audit unverified", f.viewer, "GET", "/api/v1/audit?unverified=maybe", "", "unverified"},
		{"delete target", f.admin, "DELETE", "/api/v1/targetservers/SQL01?no_post_defection=sure", "", "no_post_defection"},
		{"undeploy plan", f.viewer, "GET", "/api/v1/plans/undeploy?server=SQL01&no_post_defection=1.0", "", "no_post_defection"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, tt.token, tt.method, tt.path, tt.body)
			wantErr(t, r, http.StatusBadRequest, 0, tt.param)
		})
	}
	// Nothing was applied by the misspelt dry run.
	var jobs []map[string]any
	f.must(t, f.viewer, "GET", "/api/v1/jobs", "", &jobs)
	if len(jobs) != 0 {
		t.Errorf("a refused dry run applied the job: %v", jobs)
	}
}

// TestBodyKeysExact: a body key that matches a field only when case is ignored is refused,
// naming the field to write (encoding/json alone accepts it, and of two such keys keeps the
// last: {"name":"a","NAME":"b"} would create group b).
func TestBodyKeysExact(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name, method, path, body, want string
	}{
		{"upper case", "POST", "/api/v1/groups", `{"NAME":"Web"}`, `write "name"`},
		{"twice", "POST", "/api/v1/groups", `{"name":"a","Name":"b"}`, `"Name"`},
		{"nested", "POST", "/api/v1/alerts", `{"name":"A","severity":17,"notifications":[{"Operator_Name":"x","notification_method":1}]}`, "notifications[0]"},
		{"token", "POST", "/api/v1/tokens", `{"Role":"viewer"}`, `write "role"`},
		{"patch", "PATCH", "/api/v1/operators/DBA", `{"Email_Address":"x@example.com"}`, `write "email_address"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.method == "PATCH" {
				f.must(t, f.admin, "POST", "/api/v1/operators", `{"name":"DBA"}`, nil)
				defer f.do(t, f.admin, "DELETE", "/api/v1/operators/DBA", "")
			}
			r := f.do(t, f.admin, tt.method, tt.path, tt.body)
			wantErr(t, r, http.StatusBadRequest, 0, "case-sensitive", tt.want)
		})
	}
	var groups []map[string]any
	f.must(t, f.viewer, "GET", "/api/v1/groups", "", &groups)
	if len(groups) != 0 {
		t.Errorf("a refused body created a group: %v", groups)
	}
}
