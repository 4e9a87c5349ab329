package api_test

// Tests of the master's HTTP API: a real in-process JetStream server, a real master and the API
// on an httptest.Server, called with real tokens.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/schemas"
)

// patience bounds every wait; generous because the race detector on shared cores is slow.
const patience = 20 * time.Second

// Documents used by several tests. validJob targets the group "Web", which fixtures create.
const (
	validJob   = `{"name":"Nightly","steps":[{"step_name":"one","subsystem":"TSQL","command":"SELECT 1"}],"targets":{"groups":["Web"]}}`
	invalidJob = `{"name":"Bad","steps":[{"step_id":1,"step_name":"a","command":"SELECT 1"},{"step_id":3,"step_name":"b","command":"SELECT 2"}],"targets":{"servers":["NOSUCH"]}}`
)

// fixture is one JetStream server, a master, its API on an httptest.Server, and an admin and a
// viewer token.
type fixture struct {
	m      *master.Master
	js     jetstream.JetStream
	h      *api.Server
	srv    *httptest.Server
	panics *atomic.Int64 // "panic in API handler" records logged

	admin, viewer       string
	adminRec, viewerRec auth.Record
}

// newFixture starts everything and stops it, in reverse order, when the test ends.
func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	return newFixtureLog(tb, bustest.Logger(tb).Handler())
}

// newFixtureLog is newFixture with the master and the API logging to h.
func newFixtureLog(tb testing.TB, h slog.Handler) *fixture {
	tb.Helper()
	s := bustest.RunServer(tb, "")
	nc, js := bustest.Connect(tb, s.ClientURL())
	f := &fixture{js: js, panics: new(atomic.Int64)}
	log := slog.New(panicWatch{Handler: h, n: f.panics})
	ctx, cancel := context.WithTimeout(tb.Context(), patience)
	defer cancel()
	m, err := master.Start(ctx, nc, master.Config{Name: "MSXMASTER", Logger: log})
	if err != nil {
		tb.Fatalf("start master: %v", err)
	}
	f.m = m
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			tb.Errorf("master shutdown: %v", err)
		}
	})
	f.h = api.New(m, log)
	f.srv = httptest.NewServer(validated(tb, f.h))
	tb.Cleanup(f.srv.Close)
	f.admin, f.adminRec = f.token(tb, auth.RoleAdmin, 0)
	f.viewer, f.viewerRec = f.token(tb, auth.RoleViewer, 0)
	tb.Cleanup(func() {
		if n := f.panics.Load(); n > 0 {
			tb.Errorf("the API recovered from %d handler panics", n)
		}
	})
	return f
}

// token creates a token directly in the store.
func (f *fixture) token(tb testing.TB, role string, ttl time.Duration) (string, auth.Record) {
	tb.Helper()
	plain, rec, err := f.m.Tokens.Create(tb.Context(), role, ttl, "test", "")
	if err != nil {
		tb.Fatalf("create %s token: %v", role, err)
	}
	return plain, rec
}

// reply is an API answer; e is decoded when the status is an error.
type reply struct {
	status int
	body   []byte
	e      api.ErrorBody
}

func (r reply) String() string { return http.StatusText(r.status) + ": " + string(r.body) }

// do sends body (raw JSON, or "" for none) with token ("" for none) and reads the answer. An
// error status must come with a JSON error body.
func (f *fixture) do(tb testing.TB, token, method, path, body string) reply {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(tb.Context(), method, f.srv.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	r := reply{status: resp.StatusCode, body: b}
	if r.status >= 300 {
		if err := json.Unmarshal(b, &r.e); err != nil || r.e.Error.Message == "" {
			tb.Fatalf("%s %s: status %d without a JSON error body: %q", method, path, r.status, b)
		}
	}
	return r
}

// must sends a request that has to succeed and decodes its answer into out (when non-nil).
func (f *fixture) must(tb testing.TB, token, method, path, body string, out any) {
	tb.Helper()
	r := f.do(tb, token, method, path, body)
	if r.status >= 300 {
		tb.Fatalf("%s %s: %s", method, path, r)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			tb.Fatalf("%s %s: decode %q: %v", method, path, r.body, err)
		}
	}
}

// wantErr checks an error answer's status, code and that its message mentions each of words.
func wantErr(tb testing.TB, r reply, status, code int, words ...string) {
	tb.Helper()
	if r.status != status || (code != 0 && r.e.Error.Code != code) {
		tb.Fatalf("got %d code %d (%s), want %d code %d", r.status, r.e.Error.Code, r.e.Error.Message, status, code)
	}
	for _, w := range words {
		if !strings.Contains(r.e.Error.Message, w) {
			tb.Errorf("message %q does not mention %q", r.e.Error.Message, w)
		}
	}
}

// auditCount returns how many records the audit stream holds.
func (f *fixture) auditCount(tb testing.TB) uint64 {
	tb.Helper()
	s, err := f.js.Stream(tb.Context(), bus.StreamAudit)
	if err != nil {
		tb.Fatal(err)
	}
	// Records only: the stream also holds the leaders' fence markers.
	info, err := s.Info(tb.Context(), jetstream.WithSubjectFilter(bus.SubjectAudit))
	if err != nil {
		tb.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// auditLog returns the audit records through the API.
func (f *fixture) auditLog(tb testing.TB) []schemas.Audit {
	tb.Helper()
	var recs []schemas.Audit
	f.must(tb, f.viewer, "GET", "/api/v1/audit?limit=1000", "", &recs)
	return recs
}

// waitFor polls cond until it holds, failing the test when timeout passes first.
func waitFor(tb testing.TB, timeout time.Duration, cond func() bool, what string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// panicWatch counts the API's "panic in API handler" records and passes every record on.
type panicWatch struct {
	slog.Handler
	n *atomic.Int64
}

func (p panicWatch) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "panic in API handler" {
		p.n.Add(1)
	}
	return p.Handler.Handle(ctx, r)
}

func (p panicWatch) WithAttrs(as []slog.Attr) slog.Handler {
	return panicWatch{Handler: p.Handler.WithAttrs(as), n: p.n}
}

func (p panicWatch) WithGroup(name string) slog.Handler {
	return panicWatch{Handler: p.Handler.WithGroup(name), n: p.n}
}
