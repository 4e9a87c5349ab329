//go:build adversary

package api_test

// Adversary probes of the API and the audit: a flood of refused requests, forged rows, forged
// records, two JSON values in one body. Each asserts the refusal and that nothing changed.

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
)

// auditRecords reads the audit through the API (unverified ones too when asked).
func (f *fixture) auditRecords(tb testing.TB, query string) []master.AuditRecord {
	tb.Helper()
	var recs []master.AuditRecord
	f.must(tb, f.viewer, "GET", "/api/v1/audit?"+query, "", &recs)
	return recs
}

// TestAdversaryAuditFlood: 300 refused requests of 100 KB each, then one real change. The
// stream grows by a bounded number of bounded records, and the newest rows of the audit still
// show the real change.
func TestAdversaryAuditFlood(t *testing.T) {
	f := newFixture(t)
	before := f.auditCount(t)
	big := `{"name":"` + strings.Repeat("A", 100<<10) + `"}`
	for i := range 300 {
		r := f.do(t, f.viewer, "POST", "/api/v1/groups", big) // a viewer may not change: 403
		if r.status != http.StatusForbidden {
			t.Fatalf("request %d: %s, want 403", i, r)
		}
	}
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"RealChange"}`, nil)
	added := f.auditCount(t) - before
	t.Logf("300 refused requests of 100 KB added %d audit records", added)
	// 5 refused records per source per window are written at once; the rest are counted into
	// one record per window (written when the window ends, not yet here).
	if added > 12 {
		t.Errorf("300 refused requests added %d audit records, want a handful", added)
	}
	s, err := f.js.Stream(t.Context(), bus.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("audit stream: %d bytes", s.CachedInfo().State.Bytes)
	if b := s.CachedInfo().State.Bytes; b > 64<<10 {
		t.Errorf("audit stream holds %d bytes after the flood: records are not bounded", b)
	}
	recs := f.auditRecords(t, "limit=5")
	if len(recs) == 0 {
		t.Fatal("the audit shows no rows after the flood")
	}
	last := recs[len(recs)-1]
	if last.Object != "group RealChange" || last.Status != 200 {
		t.Errorf("newest audit row is %+v, want the real change to group RealChange", last.Audit)
	}
	if _, ok := f.m.Reg.Group("RealChange"); !ok {
		t.Error("the real change did not happen")
	}
	if _, ok := f.m.Reg.Group(strings.Repeat("A", 100)); ok {
		t.Error("a refused request created a group")
	}
	// Nothing is lost: when the window ends, the counted requests are one record with a count,
	// and every refused request is accounted for.
	waitFor(t, 3*patience, func() bool {
		n := 0
		for _, r := range f.auditRecords(t, "limit=100") {
			if r.Status == http.StatusForbidden {
				n += max(r.Count, 1)
			}
		}
		return n == 300
	}, "records of the 300 refused requests, aggregated")
}

// TestAdversaryAuditForgedRows: a path with %0A and ESC sequences is recorded raw (still
// escaped), so it cannot put a fake row or a terminal escape in `msx audit`'s table.
func TestAdversaryAuditForgedRows(t *testing.T) {
	f := newFixture(t)
	path := "/api/v1/targetservers/X%0A2026-12-01%2000:00:00%20token%20admin%20POST%20%2Fapi%2Fv1%2Fjobs%20200%1B%5B2J"
	r := f.do(t, f.admin, "DELETE", path, "")
	if r.status != http.StatusNotFound {
		t.Fatalf("DELETE of an unknown target: %s", r)
	}
	recs := f.auditRecords(t, "limit=1")
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	a := recs[0]
	if strings.ContainsAny(a.Action, "\n\x1b") {
		t.Errorf("action carries a decoded newline or ESC: %q", a.Action)
	}
	if !strings.Contains(a.Action, "%0A") || !strings.Contains(a.Action, "%1B") {
		t.Errorf("action %q is not the raw path", a.Action)
	}
}

// TestAdversaryAuditNamesObjectAndChange: a record says which object changed and how.
func TestAdversaryAuditNamesObjectAndChange(t *testing.T) {
	f := newFixture(t)
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)
	f.must(t, f.admin, "POST", "/api/v1/jobs", validJob, nil)
	f.must(t, f.admin, "POST", "/api/v1/jobs", strings.Replace(validJob, "SELECT 1", "SELECT 2", 1), nil)
	var tok api.TokenReply
	f.must(t, f.admin, "POST", "/api/v1/tokens", `{"role":"enlist","server":"sql09"}`, &tok)
	recs := f.auditRecords(t, "limit=10")
	byObject := map[string]master.AuditRecord{}
	for _, r := range recs {
		byObject[r.Object] = r
		if b, _ := json.Marshal(r); strings.Contains(string(b), tok.Token) {
			t.Errorf("an audit record carries a token's secret: %s", b)
		}
	}
	if _, ok := byObject["group Web"]; !ok {
		t.Errorf("no record names group Web: %+v", recs)
	}
	job, ok := byObject["job Nightly"]
	if !ok || !strings.Contains(strings.Join(job.Changes, "\n"), "SELECT 2") {
		t.Errorf("the job update's record does not carry the diff: %+v", job)
	}
	tr, ok := byObject["token "+tok.ID]
	if !ok || !strings.Contains(strings.Join(tr.Changes, " "), "SQL09") {
		t.Errorf("the token's record does not name its id and server: %+v", tr)
	}
}

// TestAdversaryAuditForgedRecord: a record published on msx.audit by anything but a master
// (here with the master's own connection, as a breach would) is not shown as genuine.
func TestAdversaryAuditForgedRecord(t *testing.T) {
	f := newFixture(t)
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Real"}`, nil)
	forged, _ := schemas.Encode(&schemas.Audit{Who: "token " + f.adminRec.ID + " (admin)", From: "127.0.0.1:1", Action: "DELETE /api/v1/jobs/Payroll",
		Object: "job Payroll", Status: 200, Signer: "ABADSIGNER", Signature: "AAAA"})
	for _, b := range [][]byte{forged, []byte("not json at all")} {
		if _, err := f.js.Publish(t.Context(), bus.SubjectAudit, b); err != nil {
			t.Fatal(err)
		}
	}
	recs := f.auditRecords(t, "limit=10")
	if len(recs) != 1 || recs[0].Object != "group Real" {
		t.Fatalf("audit shows %+v, want only the real record", recs)
	}
	all := f.auditRecords(t, "limit=10&unverified=true")
	if len(all) != 3 {
		t.Fatalf("with unverified: %d records, want 3", len(all))
	}
	for _, r := range all[1:] {
		if !r.Unverified {
			t.Errorf("forged record shown as genuine: %+v", r.Audit)
		}
	}
}

// TestAdversaryStrictJSON: two JSON values, or an unknown field, are refused and change
// nothing.
func TestAdversaryStrictJSON(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, path, body string
		words            []string
	}{
		{"two objects", "/api/v1/groups", `{"name":"A"}{"name":"B"}`, []string{"more than one JSON value"}},
		{"object and garbage", "/api/v1/groups", `{"name":"A"} x`, []string{"more than one JSON value"}},
		{"unknown field", "/api/v1/groups", `{"name":"A","members":["SQL01"]}`, []string{`"members"`}},
		{"token with two objects", "/api/v1/tokens", `{"role":"enlist"}{"role":"admin"}`, []string{"more than one JSON value"}},
		{"job with two objects", "/api/v1/jobs", validJob + validJob, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, toks := len(f.m.Reg.Groups()), len(mustList(t, f))
			r := f.do(t, f.admin, "POST", tt.path, tt.body)
			wantErr(t, r, http.StatusBadRequest, 0, tt.words...)
			if len(f.m.Reg.Groups()) != groups || len(mustList(t, f)) != toks || len(f.m.Catalog.All()) != 0 {
				t.Error("a refused body changed something")
			}
		})
	}
}

func mustList(tb testing.TB, f *fixture) []auth.Record {
	tb.Helper()
	l, err := f.m.Tokens.List(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// TestAdversaryAdminTokenFileMode: the admin token file is private on creation and fixed to
// private when found readable by others.
func TestAdversaryAdminTokenFileMode(t *testing.T) {
	f := newFixture(t)
	file := filepath.Join(t.TempDir(), "master", "admin.token")
	if _, err := f.m.Tokens.EnsureAdminFile(t.Context(), file); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	fixed, err := bus.SecureFiles(nil, file, file+".missing")
	if err != nil || len(fixed) != 1 {
		t.Fatalf("SecureFiles fixed %v (%v), want the token file", fixed, err)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after the fix", st.Mode().Perm())
	}
}

// TestAdversaryReplaceIsAdminAndAudited: only an admin may allow a replacement; it is audited
// with the server named; an unknown server is 14262.
func TestAdversaryReplaceIsAdminAndAudited(t *testing.T) {
	f := newFixture(t)
	if err := f.m.Reg.PutTarget(t.Context(), registry.Target{ServerID: 1, ServerName: "SQL01", Token: "SQL01"}); err != nil {
		t.Fatal(err)
	}
	r := f.do(t, f.viewer, "POST", "/api/v1/targetservers/SQL01/enlistment/replace", "")
	wantErr(t, r, http.StatusForbidden, 0)
	if tg, _ := f.m.Reg.Target("SQL01"); !tg.ReplaceAllowedAt.IsZero() {
		t.Fatal("a viewer allowed a replacement")
	}
	wantErr(t, f.do(t, f.admin, "POST", "/api/v1/targetservers/NOSUCH/enlistment/replace", ""), http.StatusNotFound, 14262)
	f.must(t, f.admin, "POST", "/api/v1/targetservers/sql01/enlistment/replace", "", nil)
	if tg, _ := f.m.Reg.Target("SQL01"); tg.ReplaceAllowedAt.IsZero() || !strings.Contains(tg.ReplaceAllowedBy, f.adminRec.ID) {
		t.Errorf("replacement not recorded: %+v", tg)
	}
	recs := f.auditRecords(t, "limit=1")
	if len(recs) != 1 || recs[0].Object != "server SQL01" || len(recs[0].Changes) == 0 {
		t.Errorf("replacement audit record %+v", recs)
	}
	var q []registry.Quarantined
	f.must(t, f.admin, "GET", "/api/v1/quarantine", "", &q)
	if len(q) != 0 {
		t.Errorf("quarantine of a clean registry: %+v", q)
	}
}

// TestAdversaryAuditFloodManySources: refused requests from many callers at once are capped
// all together, not only per caller.
func TestAdversaryAuditFloodManySources(t *testing.T) {
	f := newFixture(t)
	before := f.auditCount(t)
	for range 40 {
		viewer, _ := f.token(t, auth.RoleViewer, 0)
		for range 8 {
			if r := f.do(t, viewer, "DELETE", "/api/v1/groups/X", ""); r.status != http.StatusForbidden {
				t.Fatalf("a viewer's change: %s", r)
			}
		}
	}
	added := f.auditCount(t) - before
	t.Logf("320 refused requests from 40 callers added %d audit records", added)
	if added > 110 {
		t.Errorf("320 refused requests from 40 callers added %d records, want at most about 100", added)
	}
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"RealChange"}`, nil)
	if recs := f.auditRecords(t, "limit=1"); len(recs) != 1 || recs[0].Object != "group RealChange" {
		t.Errorf("newest record after the flood: %+v", recs)
	}
}
