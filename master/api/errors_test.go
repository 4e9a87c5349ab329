package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/schemas/problem"
)

func TestErrorShapes(t *testing.T) {
	f := newFixture(t)
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)
	big := `{"name":"` + strings.Repeat("a", 2<<20) + `"}`
	tests := []struct {
		name         string
		method, path string
		body         string
		status       int
		code         int
		mentions     []string
	}{
		{"unknown group", "GET", "/api/v1/groups/Nope", "", 404, 14262, []string{"Nope", "does not exist"}},
		{"delete unknown group", "DELETE", "/api/v1/groups/Nope", "", 404, 14262, []string{"Nope"}},
		{"member of unknown group", "POST", "/api/v1/groups/Nope/members", `{"server":"SQL01"}`, 404, 14262, nil},
		{"unknown target", "GET", "/api/v1/targetservers/NOSUCH", "", 404, 14262, []string{"NOSUCH"}},
		{"download list of unknown target", "GET", "/api/v1/downloadlist?server=NOSUCH", "", 404, 14262, []string{"NOSUCH"}},
		{"unknown job", "GET", "/api/v1/jobs/Nope", "", 404, 14262, nil},
		{"start unknown job", "POST", "/api/v1/jobs/Nope/start", "", 404, 14262, nil},
		{"duplicate group", "POST", "/api/v1/groups", `{"name":"Web"}`, 409, 14261, []string{"Web", "already exists"}},
		{"duplicate group other case", "POST", "/api/v1/groups", `{"name":"WEB"}`, 409, 14261, nil},
		{"group name with comma", "POST", "/api/v1/groups", `{"name":"a,b"}`, 400, 14289, []string{"commas"}},
		{"unknown field in group", "POST", "/api/v1/groups", `{"name":"X","colour":"red"}`, 400, master.CodeBadRequest, []string{`"colour"`}},
		{"unknown field in action", "POST", "/api/v1/targetservers/actions/setpoll", `{"all":true,"secs":30}`, 400, master.CodeBadRequest, []string{`"secs"`}},
		{"unknown field in targets", "POST", "/api/v1/jobs/Nope/targets", `{"server":["A"]}`, 400, master.CodeBadRequest, []string{`"server"`}},
		{"unknown field in job", "POST", "/api/v1/jobs", strings.Replace(validJob, `"name"`, `"nmae"`, 1), 400, master.CodeBadRequest, []string{"nmae"}},
		{"syntax error", "POST", "/api/v1/groups", `{"name":`, 400, master.CodeBadRequest, nil},
		{"wrong type", "POST", "/api/v1/groups", `{"name":7}`, 400, master.CodeBadRequest, []string{"name"}},
		{"unknown action", "POST", "/api/v1/targetservers/actions/explode", `{"all":true}`, 400, master.CodeBadRequest, []string{"explode", "resync"}},
		{"poll interval out of range", "POST", "/api/v1/targetservers/actions/setpoll", `{"all":true,"seconds":5}`, 400, 14266, []string{"10 to 28800"}},
		{"action without servers", "POST", "/api/v1/targetservers/actions/resync", `{}`, 400, master.CodeBadRequest, []string{"--all"}},
		{"instance id not a number", "POST", "/api/v1/downloadlist/x/clear", "", 400, master.CodeBadRequest, []string{"x"}},
		{"oversized group body", "POST", "/api/v1/groups", big, 400, 0, nil},
		{"oversized job body", "POST", "/api/v1/jobs", big, 400, 0, nil},
		{"oversized token body", "POST", "/api/v1/tokens", `{"description":"` + strings.Repeat("d", 2<<20) + `"}`, 400, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, f.admin, tt.method, tt.path, tt.body)
			if len(tt.body) > 1<<20 && r.status == http.StatusRequestEntityTooLarge {
				r.status = http.StatusBadRequest // either answer is right for an oversized body
			}
			wantErr(t, r, tt.status, tt.code, tt.mentions...)
		})
	}
	// The master still answers, and nothing was added.
	var groups []struct{ Name string }
	f.must(t, f.viewer, "GET", "/api/v1/groups", "", &groups)
	if len(groups) != 1 {
		t.Errorf("groups after the failed requests: %+v, want only Web", groups)
	}
}

func TestJobProblems(t *testing.T) {
	f := newFixture(t)
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)
	type want struct {
		path string
		code int
	}
	tests := []struct {
		name     string
		doc      string
		problems []want
	}{
		{"steps not contiguous and unknown target", invalidJob, []want{{"steps[1].step_id", 14266}, {"targets.servers[0]", 14262}}},
		{"unknown target only", `{"name":"J","steps":[{"step_name":"a","command":"SELECT 1"}],"targets":{"servers":["NOSUCH"],"groups":["Web","Gone"]}}`,
			[]want{{"targets.servers[0]", 14262}, {"targets.groups[1]", 14262}}},
		{"duplicate step names", `{"name":"J","steps":[{"step_name":"a","command":"SELECT 1"},{"step_name":"A","command":"SELECT 2"}]}`,
			[]want{{"steps[1].step_name", 14261}}},
		{"no steps", `{"name":"J","steps":[]}`, []want{{"steps", 0}}},
		{"bad retry and on-fail step", `{"name":"J","steps":[{"step_name":"a","command":"SELECT 1","retry_attempts":-1,"on_fail_action":4,"on_fail_step_id":9}]}`,
			[]want{{"steps[0].retry_attempts", 14266}, {"steps[0].on_fail_step_id", 14262}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, f.admin, "POST", "/api/v1/jobs", tt.doc)
			if r.status != http.StatusBadRequest {
				t.Fatalf("got %s, want 400 (an invalid document is a bad request, whatever its first problem's code)", r)
			}
			got := r.e.Error.Problems
			if len(got) < len(tt.problems) {
				t.Fatalf("problems %+v, want at least %+v", got, tt.problems)
			}
			for _, w := range tt.problems {
				if !slices.ContainsFunc(got, func(p problem.Problem) bool { return p.Path == w.path && p.Code == w.code && p.Message != "" }) {
					t.Errorf("problems %+v lack %s (%d)", got, w.path, w.code)
				}
			}
			if r.e.Error.Code == 0 {
				t.Error("error code is 0")
			}
		})
	}
	var jobs []json.RawMessage
	f.must(t, f.viewer, "GET", "/api/v1/jobs", "", &jobs)
	if len(jobs) != 0 {
		t.Errorf("invalid documents created %d jobs", len(jobs))
	}
}

func TestClientError(t *testing.T) {
	f := newFixture(t)
	c := &client.Client{Base: f.srv.URL, Token: f.admin, HTTP: f.srv.Client()}
	tests := []struct {
		name     string
		c        *client.Client
		method   string
		path     string
		body     any
		status   int
		code     int
		problems int
	}{
		{"invalid job", c, "POST", "/api/v1/jobs", json.RawMessage(invalidJob), 400, 14266, 2},
		{"unknown group", c, "GET", "/api/v1/groups/" + client.Path(`HOST\INST`), nil, 404, 14262, 0},
		{"no token", &client.Client{Base: f.srv.URL, HTTP: f.srv.Client()}, "GET", "/api/v1/groups", nil, 401, master.CodeBadToken, 0},
		{"viewer changes", &client.Client{Base: f.srv.URL, Token: f.viewer, HTTP: f.srv.Client()}, "POST", "/api/v1/groups", map[string]string{"name": "G"}, 403, master.CodeBadToken, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Do(t.Context(), tt.method, tt.path, tt.body, nil)
			var ce *client.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %T %v, want *client.Error", err, err)
			}
			if ce.Status != tt.status || ce.Code != tt.code || len(ce.Problems) != tt.problems || ce.Message == "" {
				t.Errorf("got status %d code %d %d problems %q, want %d %d %d", ce.Status, ce.Code, len(ce.Problems), ce.Message, tt.status, tt.code, tt.problems)
			}
			if !strings.Contains(ce.Error(), ce.Message) {
				t.Errorf("Error() %q lacks the message", ce.Error())
			}
		})
	}
	t.Run("success decodes", func(t *testing.T) {
		var g struct{ Name string }
		if err := c.Do(t.Context(), "POST", "/api/v1/groups", map[string]string{"name": "Web"}, &g); err != nil || g.Name != "Web" {
			t.Fatalf("got %+v, %v", g, err)
		}
	})
}
