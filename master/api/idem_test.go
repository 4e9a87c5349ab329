package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// startKeyed POSTs path on the API at base with one Idempotency-Key header per key and reads
// the answer.
func startKeyed(tb testing.TB, base, token, path string, keys ...string) reply {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodPost, base+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for _, k := range keys {
		req.Header.Add("Idempotency-Key", k)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode}
	if r.body, err = io.ReadAll(resp.Body); err != nil {
		tb.Fatal(err)
	}
	if r.status >= 300 {
		if err := json.Unmarshal(r.body, &r.e); err != nil {
			tb.Fatalf("POST %s: %s without a JSON error body", path, r)
		}
	}
	return r
}

// posted decodes an answer of posted instructions, failing the test on an error status.
func (r reply) posted(tb testing.TB) []master.Posted {
	tb.Helper()
	var p []master.Posted
	if r.status != http.StatusOK {
		tb.Fatalf("want 200: %s", r)
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
	return p
}

// putTargets registers targets (no agents) and applies job Nightly to them.
func putTargets(tb testing.TB, m *master.Master, do func(method, path, body string), names ...string) {
	tb.Helper()
	for i, name := range names {
		if err := m.Reg.PutTarget(tb.Context(), registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), PollInterval: 60}); err != nil {
			tb.Fatal(err)
		}
	}
	do("POST", "/api/v1/jobs", `{"name":"Nightly","steps":[{"step_name":"one","command":"SELECT 1"}],"targets":{"servers":["`+strings.Join(names, `","`)+`"]}}`)
}

// sameRows fails the test unless retry answers first's rows, each marked duplicate.
func sameRows(tb testing.TB, first, retry []master.Posted) {
	tb.Helper()
	if len(first) == 0 || len(retry) != len(first) {
		tb.Fatalf("retry answered %+v after %+v", retry, first)
	}
	for i := range first {
		if first[i].Duplicate || !retry[i].Duplicate || retry[i].InstanceID != first[i].InstanceID || retry[i].TargetServer != first[i].TargetServer {
			tb.Errorf("row %d: first %+v, retry %+v: want the same row, the retry's marked duplicate", i, first[i], retry[i])
		}
	}
}

// The Idempotency-Key header of a start or stop: a retry answers the first try's rows, marked
// duplicate; a key that is not 1 to 64 of [A-Za-z0-9_-], or two keys, are refused with 400.
func TestStartIdempotencyKeyHeader(t *testing.T) {
	f := newFixture(t)
	putTargets(t, f.m, func(method, path, body string) { f.must(t, f.admin, method, path, body, nil) }, "SQL01", "SQL02")
	op, _ := f.token(t, auth.RoleOperator, 0)

	for _, tt := range []struct{ path, key string }{
		{"/api/v1/jobs/Nightly/start", "retry-start"},
		{"/api/v1/jobs/Nightly/stop?server=SQL02", "retry-stop"},
	} {
		first := startKeyed(t, f.srv.URL, op, tt.path, tt.key).posted(t)
		sameRows(t, first, startKeyed(t, f.srv.URL, op, tt.path, tt.key).posted(t))
	}
	if p := startKeyed(t, f.srv.URL, op, "/api/v1/jobs/Nightly/start").posted(t); len(p) != 2 || p[0].Duplicate || p[1].Duplicate {
		t.Errorf("start without a key: %+v, want two new rows", p)
	}

	for _, tt := range []struct {
		name     string
		keys     []string
		mentions []string
	}{
		{"empty", []string{""}, []string{"1 to 64"}},
		{"too long", []string{strings.Repeat("k", 65)}, []string{"1 to 64"}},
		{"bad character", []string{"a.b"}, []string{"1 to 64", `"."`}},
		{"two keys", []string{"a", "b"}, []string{"Idempotency-Key", "one"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, startKeyed(t, f.srv.URL, op, "/api/v1/jobs/Nightly/start", tt.keys...), http.StatusBadRequest, master.CodeBadRequest, tt.mentions...)
		})
	}
}

// A start sent to a follower with an Idempotency-Key is forwarded to the leader with its key:
// a retry sent to the follower posts nothing new.
func TestStartIdempotencyKeyForwarded(t *testing.T) {
	s := bustest.RunServer(t, "")
	f1 := startAPIMaster(t, s.ClientURL(), "MSX1")
	f2 := startAPIMaster(t, s.ClientURL(), "MSX2")
	admin, _, err := f1.m.Tokens.Create(t.Context(), auth.RoleAdmin, time.Hour, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	waitForCond(t, func() bool { r, ok := f2.m.Lease(); return ok && r.Master == "MSX1" && f1.m.Leading() })
	putTargets(t, f1.m, func(method, path, body string) {
		if r := f1.do(t, admin, method, path, body); r.status >= 300 {
			t.Fatalf("%s %s: %s", method, path, r)
		}
	}, "SQL01", "SQL02", "SQL03")

	first := startKeyed(t, f2.srv.URL, admin, "/api/v1/jobs/Nightly/start", "via-follower").posted(t)
	sameRows(t, first, startKeyed(t, f2.srv.URL, admin, "/api/v1/jobs/Nightly/start", "via-follower").posted(t))
}
