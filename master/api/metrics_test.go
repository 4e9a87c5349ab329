package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
)

// TestMetricsNeedsAPIToken: /metrics on the API listener answers a viewer or admin token, and
// refuses no token, a wrong one, a revoked one and an enlistment token with a JSON error
// saying what to pass; MetricsHandler (for --metrics-listen) needs none.
func TestMetricsNeedsAPIToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tok := range []string{f.viewer, f.admin} {
		r := f.do(t, tok, "GET", "/metrics", "")
		if r.status != http.StatusOK || !strings.Contains(string(r.body), "msx_master_leader 1") || !strings.Contains(string(r.body), "go_goroutines") {
			t.Fatalf("GET /metrics: %d\n%.400s", r.status, r.body)
		}
	}
	wantErr(t, f.do(t, "", "GET", "/metrics", ""), http.StatusUnauthorized, master.CodeBadToken, "viewer token", "--metrics-listen")
	wantErr(t, f.do(t, "not-a-token", "GET", "/metrics", ""), http.StatusUnauthorized, master.CodeBadToken)
	enlist, _ := f.token(t, auth.RoleEnlist, time.Hour)
	wantErr(t, f.do(t, enlist, "GET", "/metrics", ""), http.StatusUnauthorized, master.CodeBadToken, "enlistment token")
	gone, rec := f.token(t, auth.RoleViewer, 0)
	f.must(t, f.admin, "DELETE", "/api/v1/tokens/"+rec.ID, "", nil)
	wantErr(t, f.do(t, gone, "GET", "/metrics", ""), http.StatusUnauthorized, master.CodeBadToken)

	open := httptest.NewServer(api.MetricsHandler(f.m, bustest.Logger(t)))
	defer open.Close()
	resp, err := http.Get(open.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("MetricsHandler: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
}
