package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// TestOperator: an operator token (SQLAgentOperatorRole) reads, starts and stops jobs, and is
// refused every other change (job definitions, enable/disable, groups, targets, tokens); both
// what it did and what it was refused are in the audit, under its token.
func TestOperator(t *testing.T) {
	f := newFixture(t)
	if err := f.m.Reg.PutTarget(t.Context(), registry.Target{ServerID: 1, ServerName: "SQL01", Token: jobs.ServerToken("SQL01"), PollInterval: 60}); err != nil {
		t.Fatal(err)
	}
	f.must(t, f.admin, "POST", "/api/v1/jobs", `{"name":"Nightly","steps":[{"step_name":"one","command":"SELECT 1"}],"targets":{"servers":["SQL01"]}}`, nil)
	op, opRec := f.token(t, auth.RoleOperator, 0)
	if !strings.HasPrefix(op, "msxo_") {
		t.Errorf("operator token %q: want the msxo_ prefix", op)
	}

	for _, path := range []string{"/api/v1/jobs", "/api/v1/jobs/Nightly", "/api/v1/targetservers", "/api/v1/audit"} {
		if r := f.do(t, op, "GET", path, ""); r.status != http.StatusOK {
			t.Errorf("GET %s as operator: %s", path, r)
		}
	}
	for _, path := range []string{"/api/v1/jobs/Nightly/start?server=SQL01", "/api/v1/jobs/Nightly/stop?server=SQL01"} {
		var posted []master.Posted
		f.must(t, op, "POST", path, "", &posted)
		if len(posted) != 1 {
			t.Errorf("POST %s as operator posted %+v, want one instruction", path, posted)
		}
	}
	before := f.m.Catalog.All()
	for _, mu := range append(mutations[:len(mutations):len(mutations)], []struct{ method, path, body string }{
		{"POST", "/api/v1/jobs/Nightly/enable", ""},
		{"POST", "/api/v1/jobs/Nightly/disable", ""},
		{"POST", "/api/v1/tokens", `{"role":"operator"}`},
	}...) {
		if strings.HasSuffix(mu.path, "/start") || strings.HasSuffix(mu.path, "/stop") {
			continue
		}
		path := strings.ReplaceAll(mu.path, "{admin}", f.adminRec.ID)
		r := f.do(t, op, mu.method, path, mu.body)
		wantErr(t, r, http.StatusForbidden, master.CodeBadToken, "operator", "admin")
	}
	if after := f.m.Catalog.All(); len(after) != len(before) || after[0].VersionNumber != before[0].VersionNumber {
		t.Errorf("operator requests changed the jobs: %+v -> %+v", before, after)
	}
	if toks, _ := f.m.Tokens.List(t.Context()); len(toks) != 3 {
		t.Errorf("%d tokens after the operator's attempts, want 3 (admin, viewer, operator)", len(toks))
	}

	var started, refused bool
	waitFor(t, patience, func() bool {
		for _, a := range f.auditLog(t) {
			if !strings.Contains(a.Who, opRec.ID) || !strings.Contains(a.Who, "operator") {
				continue
			}
			switch {
			case strings.HasPrefix(a.Action, "POST /api/v1/jobs/Nightly/start") && a.Status == http.StatusOK:
				started = true
			case a.Status == http.StatusForbidden: // the first refusals; later ones are counted (flood bound)
				refused = true
			}
		}
		return started && refused
	}, "the operator's start and a refused change in the audit")
}

// TestWhoAmI: each role is told what it may do, and never its token.
func TestWhoAmI(t *testing.T) {
	f := newFixture(t)
	op, opRec := f.token(t, auth.RoleOperator, 0)
	for _, tc := range []struct {
		token, id, role   string
		startStop, change bool
	}{
		{f.viewer, f.viewerRec.ID, auth.RoleViewer, false, false},
		{op, opRec.ID, auth.RoleOperator, true, false},
		{f.admin, f.adminRec.ID, auth.RoleAdmin, true, true},
	} {
		r := f.do(t, tc.token, "GET", "/api/v1/whoami", "")
		var w api.WhoAmI
		if err := json.Unmarshal(r.body, &w); err != nil || r.status != http.StatusOK {
			t.Fatalf("whoami as %s: %s", tc.role, r)
		}
		if w.ID != tc.id || w.Role != tc.role || !w.Read || w.StartStop != tc.startStop || w.Change != tc.change {
			t.Errorf("whoami as %s: %+v", tc.role, w)
		}
		if strings.Contains(string(r.body), tc.token) {
			t.Errorf("whoami as %s shows the token", tc.role)
		}
	}
	wantErr(t, f.do(t, "", "GET", "/api/v1/whoami", ""), http.StatusUnauthorized, master.CodeBadToken)
}

// TestRoleOrder checks auth.Allows against the whole table of roles.
func TestRoleOrder(t *testing.T) {
	roles := []string{auth.RoleViewer, auth.RoleOperator, auth.RoleAdmin}
	for i, have := range roles {
		for j, need := range roles {
			if got := auth.Allows(have, need); got != (i >= j) {
				t.Errorf("Allows(%s, %s) = %v", have, need, got)
			}
		}
		if auth.Allows(auth.RoleEnlist, have) || auth.Allows("root", have) || auth.Allows(have, "") {
			t.Errorf("an enlistment or unknown role passes as %s", have)
		}
	}
}
