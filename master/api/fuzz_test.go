package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
)

// fuzzRoutes are the API's mutating routes; {} is replaced by the fuzzed name.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/groups"},
	{"DELETE", "/api/v1/groups/{}"},
	{"POST", "/api/v1/groups/{}/members"},
	{"DELETE", "/api/v1/groups/Web/members/{}"},
	{"POST", "/api/v1/downloadlist/{}/clear"},
	{"POST", "/api/v1/jobs"},
	{"DELETE", "/api/v1/jobs/{}"},
	{"POST", "/api/v1/jobs/{}/targets"},
	{"POST", "/api/v1/jobs/{}/start"},
	{"POST", "/api/v1/jobs/{}/stop"},
	{"DELETE", "/api/v1/targetservers/{}"},
	{"POST", "/api/v1/targetservers/actions/{}"},
	{"POST", "/api/v1/tokens"},
	{"DELETE", "/api/v1/tokens/{}"},
}

// FuzzAPIRequests sends random bodies and names to every mutating route with an admin token.
// The API must never panic, and must answer with a success (no body, or JSON) or a JSON error;
// a 5xx only as the master's internal error (50000).
func FuzzAPIRequests(f *testing.F) {
	fx := newFixtureLog(f, slog.DiscardHandler)
	fx.must(f, fx.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)
	fx.must(f, fx.admin, "POST", "/api/v1/jobs", validJob, nil)
	// Each answer must also match the OpenAPI document, whatever the request.
	var mismatch atomic.Pointer[api.Mismatch]
	checked, err := api.ValidateHandler(fx.h, func(m *api.Mismatch) { mismatch.Store(m) })
	if err != nil {
		f.Fatal(err)
	}

	seeds := []struct {
		route int
		name  string
		body  string
	}{
		{0, "", `{"name":"Db"}`}, {0, "", `{"name":""}`}, {0, "", `{"name":"a,b"}`}, {0, "", `{"name":"has space*>"}`},
		{0, "", `{"name":"x","extra":1}`}, {0, "", `{"name":`}, {0, "", `null`}, {0, "", `[]`}, {0, "", ``},
		{1, "Db", ``}, {1, "Nope", ``},
		{2, "Web", `{"server":"SQL01"}`}, {2, "Web", `{"server":"bad name\\x"}`}, {2, "Nope", `{}`},
		{3, "SQL01", ``},
		{4, "1", ``}, {4, "18446744073709551615", ``}, {4, "-1", ``},
		{5, "", validJob}, {5, "", invalidJob}, {5, "", `name: Y
steps:
  - step_name: a
    command: SELECT 1`}, {5, "", `{"name":"J","steps":[{"step_name":"a","command":"x"}],"schedules":[{"name":"s","freq_type":4,"freq_interval":0}]}`},
		{5, "", `{"name":"J","steps":[{"step_name":"a","command":"x","on_success_action":4,"on_success_step_id":1}]}`},
		{5, "", `---
name: A
---
name: B`}, {5, "", `{}`}, {5, "", `"`},
		{6, "Nightly", ``}, {6, "Nope", ``},
		{7, "Nightly", `{"groups":["Web"],"remove":true}`}, {7, "Nightly", `{"servers":["SQL01"]}`}, {7, "Nightly", `{"groups":[""]}`},
		{8, "Nightly", ``}, {9, "Nightly", ``},
		{10, "NOSUCH", ``}, {10, `HOST\INST`, ``},
		{11, "setpoll", `{"all":true,"seconds":30}`}, {11, "setpoll", `{"servers":["SQL01"],"seconds":99999}`},
		{11, "resync", `{"all":true}`}, {11, "synctime", `{}`}, {11, "reenlist", `{"servers":[]}`}, {11, "nuke", `{"all":true}`},
		{12, "", `{}`}, {12, "", `{"role":"viewer","ttl":"1h"}`}, {12, "", `{"role":"root"}`}, {12, "", `{"ttl":"-5m"}`},
		{12, "", `{"ttl":"9223372036854775807ns"}`}, {12, "", `{"ttl":"99999999h"}`},
		{13, "abc", ``}, {13, "ffffffffffff", ``},
	}
	for _, s := range seeds {
		f.Add(uint8(s.route), s.name, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, route uint8, name string, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		if strings.Contains(rt.path, "{}") && (name == "" || name == "." || name == "..") {
			t.Skip("the mux redirects such paths to their clean form")
		}
		if rt.path == "/api/v1/tokens/{}" && len(name) >= 6 && strings.HasPrefix(fx.adminRec.ID, strings.ToLower(name)) {
			t.Skip("would revoke the fuzzer's own token")
		}
		path := strings.ReplaceAll(rt.path, "{}", url.PathEscape(name))
		req := httptest.NewRequest(rt.method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+fx.admin)
		rec := httptest.NewRecorder()
		before := fx.panics.Load()
		began := time.Now()
		mismatch.Store(nil)
		checked.ServeHTTP(rec, req)
		if m := mismatch.Load(); m != nil {
			t.Fatalf("%s %s %q: %v", rt.method, path, body, m)
		}
		if d := time.Since(began); d > 2*time.Second {
			t.Fatalf("%s %s %q: took %s", rt.method, path, body, d)
		}
		if fx.panics.Load() != before {
			t.Fatalf("%s %s %q: the handler panicked", rt.method, path, body)
		}
		status, out := rec.Code, rec.Body.Bytes()
		if status < 300 {
			if len(out) > 0 && !json.Valid(out) {
				t.Fatalf("%s %s %q: %d with a body that is not JSON: %q", rt.method, path, body, status, out)
			}
			return
		}
		var e api.ErrorBody
		if err := json.Unmarshal(out, &e); err != nil || e.Error.Message == "" || e.Error.Code == 0 {
			t.Fatalf("%s %s %q: %d without a JSON error: %q", rt.method, path, body, status, out)
		}
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			t.Fatalf("%s %s %q: admin refused: %s", rt.method, path, body, out)
		case status >= 500 && e.Error.Code != master.CodeInternal:
			t.Fatalf("%s %s %q: %d with code %d", rt.method, path, body, status, e.Error.Code)
		case status >= 500:
			t.Logf("%s %s %q: internal error: %s", rt.method, path, body, e.Error.Message)
		}
	})
}
