package api_test

// Tests of the OpenAPI document (openapi.yaml): that it describes every route the API serves
// and nothing else, that the master serves it self-contained, and that the validating
// handlers catch each kind of drift between the document and the handlers. Every other test
// of this package runs its exchanges through api.ValidateHandler (helpers_test.go).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// notAPI are patterns the API's mux serves that are not part of the API, with why.
var notAPI = map[string]string{
	"GET /": "the web console's pages and files",
}

// documented lists the document's operations as mux patterns ("GET /api/v1/jobs/{name}"),
// each with its x-msx-role.
func documented(tb testing.TB) (*openapi3.T, map[string]string) {
	tb.Helper()
	doc, err := api.OpenAPI()
	if err != nil {
		tb.Fatal(err)
	}
	ops := map[string]string{}
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			role, _ := op.Extensions["x-msx-role"].(string)
			ops[method+" "+p] = role
		}
	}
	return doc, ops
}

// TestOpenAPIDocumentsEveryRoute fails when a route is served that the document does not
// describe, when the document describes an operation that is not served, or when the role an
// operation needs differs from the document's x-msx-role.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	f := newFixture(t)
	doc, ops := documented(t)
	served := map[string]bool{}
	for _, r := range f.h.Routes() {
		if _, skip := notAPI[r.Pattern]; skip {
			continue
		}
		served[r.Pattern] = true
		role, ok := ops[r.Pattern]
		want := r.Role
		if want == "" {
			want = "none"
		}
		switch {
		case !ok:
			t.Errorf("%s is served but master/api/openapi.yaml has no such operation: add it (with x-msx-role: %s)", r.Pattern, want)
		case role != want:
			t.Errorf("%s needs role %s, but the document's x-msx-role says %q", r.Pattern, want, role)
		}
	}
	for op := range ops {
		if !served[op] {
			t.Errorf("the document describes %s, which the API does not serve", op)
		}
	}
	// Each operation says what it answers to a caller without the role it needs.
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			role, _ := op.Extensions["x-msx-role"].(string)
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s %s has no operationId or summary", method, p)
			}
			if role != "none" && op.Responses.Status(http.StatusUnauthorized) == nil {
				t.Errorf("%s %s needs a token but documents no 401", method, p)
			}
			if role != "none" && role != auth.RoleViewer && op.Responses.Status(http.StatusForbidden) == nil {
				t.Errorf("%s %s needs role %s but documents no 403", method, p, role)
			}
			if role == "none" && (op.Security == nil || len(*op.Security) != 0) {
				t.Errorf("%s %s needs no token but does not say security: []", method, p)
			}
		}
	}
}

// TestOpenAPIServed: the master serves the document to anyone, as one JSON file an OpenAPI
// viewer reads without fetching anything else.
func TestOpenAPIServed(t *testing.T) {
	f := newFixture(t)
	for _, token := range []string{"", "not-a-token", f.viewer} {
		r := f.do(t, token, "GET", "/api/v1/openapi.json", "")
		if r.status != http.StatusOK {
			t.Fatalf("token %q: %s", token, r)
		}
		l := openapi3.NewLoader() // external refs not allowed: the served file must hold them
		doc, err := l.LoadFromData(r.body)
		if err != nil {
			t.Fatalf("load the served document: %v", err)
		}
		if err := doc.Validate(t.Context()); err != nil {
			t.Fatalf("the served document is not valid: %v", err)
		}
		_, ops := documented(t)
		n := 0
		for _, item := range doc.Paths.Map() {
			n += len(item.Operations())
		}
		if n != len(ops) {
			t.Errorf("served %d operations, the source document has %d", n, len(ops))
		}
		for _, word := range []string{`"$ref": "../`, `"$id"`, `"$defs"`, "job.schema.json#"} {
			if strings.Contains(string(r.body), word) {
				t.Errorf("the served document holds %s: it must resolve within itself", word)
			}
		}
		// The job schema came along whole: it still refuses what jobs.Parse's schema refuses.
		router, err := legacy.NewRouter(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			job string
			ok  bool
		}{
			{validJob, true},
			{`{"name":"X","steps":[{"step_id":0,"step_name":"a","command":"SELECT 1"}]}`, false},
			{`{"name":"X","steps":[{"step_name":"a","command":"SELECT 1","subsystem":"TSQL","on_fail_action":9}]}`, false},
			{`{"name":"X","steps":[],"colour":"red"}`, false},
		} {
			req := httptest.NewRequest("POST", "/api/v1/jobs", strings.NewReader(tt.job))
			req.Header.Set("Content-Type", "application/json")
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatal(err)
			}
			err = openapi3filter.ValidateRequest(t.Context(), &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}})
			if (err == nil) != tt.ok {
				t.Errorf("served document on %s: err %v, want ok %v", tt.job, err, tt.ok)
			}
		}
	}
}

// exchange is one request to a hostile handler behind a validating one, and what must
// become of it.
type exchange struct {
	name           string
	method, path   string
	body           string
	answer         func(w http.ResponseWriter, r *http.Request)
	wantMismatch   string // "" for none; else a word the mismatch names
	wantStatusSent int    // in strict mode
}

func jsonAnswer(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

var hostile = []exchange{
	{name: "documented answer", method: "GET", path: "/api/v1/groups",
		answer: jsonAnswer(200, `[{"name":"WEB","members":["SQL01"]}]`), wantStatusSent: 200},
	{name: "field the document does not have", method: "GET", path: "/api/v1/groups",
		answer: jsonAnswer(200, `[{"name":"WEB","members":[],"owner":"x"}]`), wantMismatch: "owner", wantStatusSent: 500},
	{name: "required field missing", method: "GET", path: "/api/v1/groups/WEB",
		answer: jsonAnswer(200, `{"name":"WEB"}`), wantMismatch: "members", wantStatusSent: 500},
	{name: "null for a list", method: "GET", path: "/api/v1/targetservers",
		answer: jsonAnswer(200, `null`), wantMismatch: "null", wantStatusSent: 500},
	{name: "undocumented status", method: "GET", path: "/api/v1/groups",
		answer: jsonAnswer(http.StatusTeapot, `{"error":{"code":1,"message":"tea"}}`), wantMismatch: "418", wantStatusSent: 500},
	{name: "error not in the error shape", method: "GET", path: "/api/v1/groups/NOPE",
		answer: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "not found", 404) }, wantMismatch: "Content-Type", wantStatusSent: 500},
	{name: "documented error", method: "GET", path: "/api/v1/groups/NOPE",
		answer: jsonAnswer(404, `{"error":{"code":14262,"message":"The specified target server group ('NOPE') does not exist."}}`), wantStatusSent: 404},
	{name: "bad request refused", method: "POST", path: "/api/v1/groups", body: `{"nom":"WEB"}`,
		answer: jsonAnswer(400, `{"error":{"code":50004,"message":"unknown field nom"}}`), wantStatusSent: 400},
	{name: "bad request accepted", method: "POST", path: "/api/v1/groups", body: `{"nom":"WEB"}`,
		answer: jsonAnswer(200, `{"name":"WEB","members":[]}`), wantMismatch: "rejects", wantStatusSent: 500},
	{name: "bad query accepted", method: "GET", path: "/api/v1/downloadlist?limit=ten",
		answer: jsonAnswer(200, `[]`), wantMismatch: "limit", wantStatusSent: 500},
	{name: "request body not JSON accepted", method: "PUT", path: "/api/v1/vars/X", body: `value=1`,
		answer: jsonAnswer(200, `{"variable":{"name":"X","value":"1"},"changes":[],"posted":[]}`), wantMismatch: "rejects", wantStatusSent: 500},
	{name: "API path not in the document", method: "GET", path: "/api/v1/secrets",
		answer: jsonAnswer(200, `[]`), wantMismatch: "no operation", wantStatusSent: 500},
	{name: "console file not checked", method: "GET", path: "/app.js",
		answer: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "console.log(1)") }, wantStatusSent: 200},
	{name: "HEAD not checked", method: "HEAD", path: "/api/v1/groups",
		answer: func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Content-Type", "application/json") }, wantStatusSent: 200},
	{name: "no content", method: "DELETE", path: "/api/v1/silences/abc",
		answer: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }, wantStatusSent: 204},
}

// TestValidateHandlerCatchesDrift runs hostile handlers behind ValidateHandler, which must
// report each mismatch and pass each answer on unchanged.
func TestValidateHandlerCatchesDrift(t *testing.T) {
	for _, tt := range hostile {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu  sync.Mutex
				got []*api.Mismatch
			)
			h, err := api.ValidateHandler(http.HandlerFunc(tt.answer), func(m *api.Mismatch) { mu.Lock(); got = append(got, m); mu.Unlock() })
			if err != nil {
				t.Fatal(err)
			}
			want := httptest.NewRecorder()
			tt.answer(want, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			if rec.Code != want.Code || rec.Body.String() != want.Body.String() {
				t.Errorf("answer changed: got %d %q, the handler wrote %d %q", rec.Code, rec.Body, want.Code, want.Body)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case tt.wantMismatch == "" && len(got) > 0:
				t.Errorf("unexpected mismatch: %v", got[0])
			case tt.wantMismatch != "" && len(got) != 1:
				t.Errorf("got %d mismatches, want one naming %q", len(got), tt.wantMismatch)
			case tt.wantMismatch != "" && !strings.Contains(got[0].Error(), tt.wantMismatch):
				t.Errorf("mismatch %q does not name %q", got[0], tt.wantMismatch)
			}
		})
	}
}

// TestStrictHandlerAnswers500: in strict mode a mismatched answer is replaced by a 500 in the
// API's error shape that names the mismatch; matching answers pass unchanged.
func TestStrictHandlerAnswers500(t *testing.T) {
	for _, tt := range hostile {
		t.Run(tt.name, func(t *testing.T) {
			h, err := api.StrictHandler(http.HandlerFunc(tt.answer), bustest.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			if rec.Code != tt.wantStatusSent {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tt.wantStatusSent)
			}
			if tt.wantMismatch == "" {
				return
			}
			var e api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("500 not in the error shape: %q", rec.Body)
			}
			if e.Error.Code != 50000 || !strings.Contains(e.Error.Message, "OpenAPI") || !strings.Contains(e.Error.Message, tt.wantMismatch) {
				t.Errorf("error %d %q does not name the mismatch (%q)", e.Error.Code, e.Error.Message, tt.wantMismatch)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// TestValidateHandlerPassesBodies: the handler behind a validating one reads the request body
// whole, whatever its size: one larger than the API takes is not checked but still reaches
// the handler, which refuses it.
func TestValidateHandlerPassesBodies(t *testing.T) {
	f := newFixture(t)
	for _, size := range []int{0, 100, 1 << 20, 1<<20 + 1, 3 << 20} {
		body := `{"name":"` + strings.Repeat("G", max(size-11, 1)) + `"}`
		r := f.do(t, f.admin, "POST", "/api/v1/groups", body)
		switch {
		case len(body) > 1<<20:
			wantErr(t, r, http.StatusBadRequest, 50004, "too large")
		case r.status >= 500:
			t.Errorf("size %d: %s", len(body), r)
		}
	}
}

// TestStrictRealAPI: the real API behind StrictHandler answers reads and refusals as it does
// unchecked.
func TestStrictRealAPI(t *testing.T) {
	f := newFixture(t)
	h, err := api.StrictHandler(f.h, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, tt := range []struct{ method, path, body, token string }{
		{"GET", "/api/v1/targetservers", "", f.viewer},
		{"GET", "/api/v1/dashboard", "", f.viewer},
		{"POST", "/api/v1/groups", `{"name":"Web"}`, f.admin},
		{"POST", "/api/v1/groups", `{"name":"Web"}`, f.admin}, // 14261
		{"POST", "/api/v1/groups", `{"name":"x"}`, f.viewer},  // 403
		{"GET", "/api/v1/groups/NOPE", "", f.viewer},          // 14262
		{"GET", "/api/v1/jobs", "", ""},                       // 401
		{"GET", "/api/v1/openapi.json", "", ""},
		{"GET", "/healthz", "", ""},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusInternalServerError {
			t.Errorf("%s %s: strict mode refused the API's own answer: %s", tt.method, tt.path, b)
		}
	}
}

// TestValidateHandlerStreams: an answer sent as a stream (server-sent events) reaches the
// client as it is written, not when the handler returns.
func TestValidateHandlerStreams(t *testing.T) {
	read := make(chan struct{})
	stream := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "data: one\n\n")
		http.NewResponseController(w).Flush() //nolint:errcheck // the read below tells
		select {
		case <-read:
		case <-time.After(patience):
		}
		_, _ = io.WriteString(w, "data: two\n\n")
	})
	for _, strict := range []bool{false, true} {
		var h http.Handler
		var err error
		if strict {
			h, err = api.StrictHandler(stream, bustest.Logger(t))
		} else {
			h, err = api.ValidateHandler(stream, func(*api.Mismatch) {})
		}
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		resp, err := srv.Client().Get(srv.URL + "/api/v1/events")
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || line != "data: one\n" {
			t.Errorf("strict %v: first event %q, %v", strict, line, err)
		}
		read <- struct{}{}
		resp.Body.Close()
		srv.Close()
	}
}

// TestOpenAPIRolesKnown: x-msx-role names a role the API knows.
func TestOpenAPIRolesKnown(t *testing.T) {
	_, ops := documented(t)
	known := []string{"none", auth.RoleViewer, auth.RoleOperator, auth.RoleAdmin}
	for op, role := range ops {
		if !slices.Contains(known, role) {
			t.Errorf("%s: x-msx-role %q is none of %v", op, role, known)
		}
	}
}

// BenchmarkValidateHandler measures what checking an exchange against the document costs: the
// target server list with n targets, served plain, through ValidateHandler (tests) and through
// StrictHandler (MSX_API_VALIDATE=1).
func BenchmarkValidateHandler(b *testing.B) {
	for _, n := range []int{10, 1000} {
		f := newFixture(b)
		for i := range n {
			name := fmt.Sprintf("BENCH%04d", i+1)
			if err := f.m.Reg.PutTarget(b.Context(), registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name),
				EnlistDate: time.Now().UTC(), PollInterval: 60}); err != nil {
				b.Fatal(err)
			}
		}
		waitFor(b, patience, func() bool { return len(f.m.TargetServers()) == n }, "targets in the view")
		validate, err := api.ValidateHandler(f.h, func(m *api.Mismatch) { b.Error(m) })
		if err != nil {
			b.Fatal(err)
		}
		strict, err := api.StrictHandler(f.h, bustest.Logger(b))
		if err != nil {
			b.Fatal(err)
		}
		for _, h := range []struct {
			name string
			h    http.Handler
		}{{"plain", f.h}, {"validate", validate}, {"strict", strict}} {
			b.Run(fmt.Sprintf("targets=%d/%s", n, h.name), func(b *testing.B) {
				req := httptest.NewRequest("GET", "/api/v1/targetservers", nil)
				req.Header.Set("Authorization", "Bearer "+f.viewer)
				var size int
				for b.Loop() {
					rec := httptest.NewRecorder()
					h.h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
					size = rec.Body.Len()
				}
				b.ReportMetric(float64(size), "bytes/answer")
			})
		}
	}
}
