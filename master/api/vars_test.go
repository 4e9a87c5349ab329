package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas"
)

// TestVarRequests: admins set and unset values, viewers read them; a secret value is "***" in
// every answer and in no audit record, refused requests included.
func TestVarRequests(t *testing.T) {
	f := newFixture(t)
	const secret = "hunter2-xyz"
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)

	var c master.VarChange
	f.must(t, f.admin, "PUT", "/api/v1/vars/PW", `{"value":"`+secret+`","group":"Web","secret":true}`, &c)
	if c.Var.Value != "***" || c.Var.Group != "Web" || !slices.Equal(c.Changes, []string{"set PW for group Web to *** (secret)"}) {
		t.Errorf("set answered %+v", c)
	}
	f.must(t, f.admin, "PUT", "/api/v1/vars/dir", `{"value":"D:\\b","group":"Web"}`, nil)
	r := f.do(t, f.viewer, "GET", "/api/v1/vars", "")
	var rows []master.VarRow
	if err := json.Unmarshal(r.body, &rows); err != nil || r.status != http.StatusOK {
		t.Fatalf("list: %s", r)
	}
	if len(rows) != 2 || rows[0].Name != "DIR" || rows[0].Value != `D:\b` || rows[1].Name != "PW" || rows[1].Value != "***" {
		t.Errorf("list %+v", rows)
	}
	// A viewer cannot change; a bad value is refused saying why, without echoing it.
	if r := f.do(t, f.viewer, "PUT", "/api/v1/vars/PW", `{"value":"`+secret+`","group":"Web"}`); r.status != http.StatusForbidden {
		t.Errorf("a viewer's set: %s, want 403", r)
	}
	wantErr(t, f.do(t, f.admin, "PUT", "/api/v1/vars/PW", `{"value":"$(SRVR)`+secret+`","group":"Web"}`), 400, master.CodeBadRequest, "read as a token")
	wantErr(t, f.do(t, f.admin, "PUT", "/api/v1/vars/PW", `{"value":"x","server":"SQL01","group":"Web"}`), 400, master.CodeBadRequest, "--server S", "--group G")
	wantErr(t, f.do(t, f.admin, "PUT", "/api/v1/vars/PW", `{"value":"x","group":"Nope"}`), 404, 14262, "Nope")
	f.must(t, f.admin, "DELETE", "/api/v1/vars/PW?group=Web", "", &c)
	if !slices.Equal(c.Changes, []string{"unset PW for group Web"}) {
		t.Errorf("unset answered %+v", c)
	}
	wantErr(t, f.do(t, f.admin, "DELETE", "/api/v1/vars/PW?group=Web", ""), 404, 14262, "nothing to unset")

	waitFor(t, patience, func() bool {
		return slices.ContainsFunc(f.auditLog(t), func(a schemas.Audit) bool {
			return a.Object == "variable PW" && slices.Equal(a.Changes, []string{"unset PW for group Web"})
		})
	}, "the unset's audit record")
	log := f.auditLog(t)
	if !slices.ContainsFunc(log, func(a schemas.Audit) bool {
		return a.Object == "variable PW" && slices.Equal(a.Changes, []string{"set PW for group Web to *** (secret)"})
	}) {
		t.Errorf("no audit record of the set: %+v", log)
	}
	b, _ := json.Marshal(log)
	if strings.Contains(string(b), secret) {
		t.Errorf("the audit log shows the secret: %s", b)
	}
}
