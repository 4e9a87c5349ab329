package api_test

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
)

func TestAudit(t *testing.T) {
	f := newFixture(t)
	_, otherRec := f.token(t, auth.RoleViewer, 0)
	whoAdmin := "token " + f.adminRec.ID + " (admin)"
	tests := []struct {
		name         string
		method, path string
		body         string
		status       int // of the answer and of the record
		detail       string
	}{
		{name: "group add", method: "POST", path: "/api/v1/groups", body: `{"name":"Web"}`, status: 200},
		{name: "job apply", method: "POST", path: "/api/v1/jobs", body: validJob, status: 200},
		{name: "token create", method: "POST", path: "/api/v1/tokens", body: `{"role":"viewer"}`, status: 200},
		{name: "token revoke", method: "DELETE", path: "/api/v1/tokens/" + otherRec.ID, status: 200},
		{name: "target delete of an unknown server", method: "DELETE", path: "/api/v1/targetservers/NOSUCH", status: 404, detail: "NOSUCH"},
		{name: "duplicate group", method: "POST", path: "/api/v1/groups", body: `{"name":"web"}`, status: 409, detail: "already exists"},
		{name: "invalid job", method: "POST", path: "/api/v1/jobs", body: invalidJob, status: 400, detail: "problems"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.auditCount(t)
			start := time.Now().UTC().Add(-time.Second) // the stream's clock and ours may differ a little
			r := f.do(t, f.admin, tt.method, tt.path, tt.body)
			end := time.Now().UTC().Add(time.Second)
			if r.status != tt.status {
				t.Fatalf("%s %s: %s, want %d", tt.method, tt.path, r, tt.status)
			}
			if got := f.auditCount(t); got != before+1 {
				t.Fatalf("audit stream went from %d to %d records, want one more", before, got)
			}
			recs := f.auditLog(t)
			if uint64(len(recs)) != before+1 {
				t.Fatalf("GET /api/v1/audit returned %d records, want %d", len(recs), before+1)
			}
			a := recs[len(recs)-1]
			if a.Who != whoAdmin {
				t.Errorf("who %q, want %q", a.Who, whoAdmin)
			}
			if want := tt.method + " " + tt.path; a.Action != want {
				t.Errorf("action %q, want %q", a.Action, want)
			}
			if a.Time.Before(start) || a.Time.After(end) {
				t.Errorf("time %s, want between %s and %s", a.Time, start, end)
			}
			if host, _, err := net.SplitHostPort(a.From); err != nil || host != "127.0.0.1" {
				t.Errorf("from %q, want the client's address 127.0.0.1:port", a.From)
			}
			if a.Status != tt.status {
				t.Errorf("status %d, want %d", a.Status, tt.status)
			}
			if !strings.Contains(a.Detail, tt.detail) {
				t.Errorf("detail %q does not mention %q", a.Detail, tt.detail)
			}
			var created api.TokenReply
			if json.Unmarshal(r.body, &created) == nil && created.Token != "" {
				if b, _ := json.Marshal(a); strings.Contains(string(b), created.Token[5:]) {
					t.Errorf("the record of a token creation carries the token: %s", b)
				}
			}
		})
	}

	t.Run("reads are not audited", func(t *testing.T) {
		before := f.auditCount(t)
		for _, p := range []string{"/api/v1/groups", "/api/v1/jobs", "/api/v1/tokens", "/api/v1/audit"} {
			f.must(t, f.admin, "GET", p, "", nil)
		}
		if got := f.auditCount(t); got != before {
			t.Errorf("GET requests added %d audit records", got-before)
		}
	})

	t.Run("limit", func(t *testing.T) {
		var recs []json.RawMessage
		f.must(t, f.viewer, "GET", "/api/v1/audit?limit=2", "", &recs)
		if len(recs) != 2 {
			t.Errorf("limit=2 returned %d records", len(recs))
		}
	})

	t.Run("stream refuses deletes and purges", func(t *testing.T) {
		s, err := f.js.Stream(t.Context(), bus.StreamAudit)
		if err != nil {
			t.Fatal(err)
		}
		n := s.CachedInfo().State.Msgs
		if n == 0 {
			t.Fatal("the audit stream is empty")
		}
		first := s.CachedInfo().State.FirstSeq
		tries := []struct {
			name string
			do   func() error
		}{
			{"DeleteMsg", func() error { return s.DeleteMsg(t.Context(), first) }},
			{"SecureDeleteMsg", func() error { return s.SecureDeleteMsg(t.Context(), first) }},
			{"Purge", func() error { return s.Purge(t.Context()) }},
			{"Purge subject", func() error { return s.Purge(t.Context(), jetstream.WithPurgeSubject(bus.SubjectAudit)) }},
			{"Purge keep 1", func() error { return s.Purge(t.Context(), jetstream.WithPurgeKeep(1)) }},
		}
		for _, try := range tries {
			if err := try.do(); err == nil {
				t.Errorf("%s on %s succeeded", try.name, bus.StreamAudit)
			}
		}
		// Relaxing the stream's configuration is refused too (nats-server: deny delete and
		// deny purge cannot be turned off).
		cfg := s.CachedInfo().Config
		cfg.DenyDelete, cfg.DenyPurge = false, false
		if _, err := f.js.UpdateStream(t.Context(), cfg); err == nil {
			t.Errorf("turning off deny delete/purge on %s succeeded", bus.StreamAudit)
		}
		info, err := s.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != n || info.State.FirstSeq != first {
			t.Errorf("audit stream changed from %d records (first %d) to %d (first %d)", n, first, info.State.Msgs, info.State.FirstSeq)
		}
	})
}

// TestAuditWho checks that the record names the token that made the change, not another one.
func TestAuditWho(t *testing.T) {
	f := newFixture(t)
	second, rec := f.token(t, auth.RoleAdmin, 0)
	f.must(t, second, "POST", "/api/v1/groups", `{"name":"BySecond"}`, nil)
	recs := f.auditLog(t)
	if len(recs) != 1 {
		t.Fatalf("%d audit records, want 1", len(recs))
	}
	if want := "token " + rec.ID + " (admin)"; recs[0].Who != want {
		t.Errorf("who %q, want %q", recs[0].Who, want)
	}
	if recs[0].Status != http.StatusOK {
		t.Errorf("status %d", recs[0].Status)
	}
}
