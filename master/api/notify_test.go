package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	model "github.com/msx-project/msx/schemas/notify"
)

// TestNotifyRoutes: operators, alerts and silences through the API with admin and viewer
// tokens; bad input gets SQL Server's codes and says what to fix; webhook secrets never leave.
func TestNotifyRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	op := `{"name":"DBA","email_address":"dba@example.com","webhook_url":"https://hooks.example.com/T000/secret","pager_days":62}`
	if r := f.do(t, f.viewer, http.MethodPost, "/api/v1/operators", op); r.status != http.StatusForbidden {
		t.Errorf("viewer adds an operator: %s", r)
	}
	r := f.do(t, f.admin, http.MethodPost, "/api/v1/operators", op)
	if r.status != http.StatusOK || strings.Contains(string(r.body), "secret") {
		t.Fatalf("add operator: %s", r)
	}
	if r := f.do(t, f.admin, http.MethodPost, "/api/v1/operators", op); r.status != http.StatusConflict || r.e.Error.Code != 14261 {
		t.Errorf("add it again: %s", r)
	}
	r = f.do(t, f.viewer, http.MethodGet, "/api/v1/operators/dba", "")
	var got model.Operator
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK || got.WeekdayPagerStartTime == nil || *got.WeekdayPagerStartTime != 90000 ||
		strings.Contains(got.WebhookURL, "secret") {
		t.Errorf("show operator: %s", r)
	}
	// A PATCH keeps what it does not send, the webhook URL included.
	if r := f.do(t, f.admin, http.MethodPatch, "/api/v1/operators/DBA", `{"email_address":"ops@example.com"}`); r.status != http.StatusOK {
		t.Errorf("update: %s", r)
	}
	stored, err := f.m.Notify.Operator(t.Context(), "DBA")
	if err != nil || stored.EmailAddress != "ops@example.com" || stored.WebhookURL != "https://hooks.example.com/T000/secret" {
		t.Errorf("after update: %+v, %v", stored, err)
	}
	for _, c := range []struct{ method, path, body, want string }{
		{http.MethodPost, "/api/v1/operators", `{"name":"X","email_address":"not an address"}`, "not an e-mail address"},
		{http.MethodPost, "/api/v1/operators", `{"name":"X","pager_days":200}`, "pager_days"},
		{http.MethodPost, "/api/v1/operators", `{"name":"X","weekday_pager_start_time":246000}`, "hhmmss"},
		{http.MethodPost, "/api/v1/operators", `{"name":"X","webhook_url":"ftp://x"}`, "http:// or https://"},
		{http.MethodPatch, "/api/v1/operators/DBA", `{"name":"Other"}`, "cannot be renamed"},
		{http.MethodPost, "/api/v1/alerts", `{"name":"A","notifications":[{"operator_name":"DBA","notification_method":1}]}`, "non-zero message_id"},
		{http.MethodPost, "/api/v1/alerts", `{"name":"A","severity":16,"notifications":[{"operator_name":"Nobody","notification_method":1}]}`, "does not exist"},
		{http.MethodPost, "/api/v1/silences", `{"for":"2h"}`, "a server"},
		{http.MethodPost, "/api/v1/silences", `{"server":"SQL01","for":"soon"}`, "duration"},
		{http.MethodGet, "/api/v1/notifications?last=0", ``, "1 to 10000"},
	} {
		r := f.do(t, f.admin, c.method, c.path, c.body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%s %s %s: %s, want 400 saying %q", c.method, c.path, c.body, r, c.want)
		}
	}
	if r := f.do(t, f.admin, http.MethodPost, "/api/v1/alerts", `{"name":"Sev16","severity":16,"notifications":[{"operator_name":"DBA","notification_method":5}]}`); r.status != http.StatusOK {
		t.Errorf("add alert: %s", r)
	}
	if r := f.do(t, f.admin, http.MethodPost, "/api/v1/silences", `{"server":"SQL01","for":"2h","reason":"patching"}`); r.status != http.StatusOK {
		t.Errorf("add silence: %s", r)
	}
	var sil []model.Silence
	r = f.do(t, f.viewer, http.MethodGet, "/api/v1/silences", "")
	if err := json.Unmarshal(r.body, &sil); err != nil || len(sil) != 1 || sil[0].Server != "SQL01" {
		t.Fatalf("silences: %s", r)
	}
	if r := f.do(t, f.admin, http.MethodDelete, "/api/v1/silences/"+sil[0].ID, ""); r.status != http.StatusNoContent {
		t.Errorf("end silence: %s", r)
	}
	if r := f.do(t, f.admin, http.MethodDelete, "/api/v1/operators/nobody", ""); r.status != http.StatusNotFound || r.e.Error.Code != 14262 {
		t.Errorf("delete unknown operator: %s", r)
	}
	if r := f.do(t, f.admin, http.MethodPatch, "/api/v1/operators/DBA", `{"webhook_url":""}`); r.status != http.StatusOK {
		t.Errorf("clear the webhook: %s", r)
	}
	r = f.do(t, f.admin, http.MethodPost, "/api/v1/operators/DBA/test", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"result": "failed"`) || !strings.Contains(string(r.body), "--smtp URL") {
		t.Errorf("test without an SMTP server: %s", r)
	}
	if r := f.do(t, f.viewer, http.MethodGet, "/api/v1/notifications", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"kind": "test"`) {
		t.Errorf("delivery log: %s", r)
	}
}
