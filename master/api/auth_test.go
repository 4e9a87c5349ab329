package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/ledger"
)

func TestUnauthenticated(t *testing.T) {
	f := newFixture(t)
	enlist, _ := f.token(t, auth.RoleEnlist, time.Hour)
	changed := f.admin[:len(f.admin)-1] + "x"
	if changed == f.admin {
		changed = f.admin[:len(f.admin)-1] + "y"
	}
	tests := []struct {
		name   string
		header string // whole Authorization header; "" for none
		words  []string
	}{
		{"no token", "", []string{"Authorization: Bearer"}},
		{"empty bearer", "Bearer ", []string{"Authorization: Bearer"}},
		{"basic scheme", "Basic " + f.admin, []string{"Authorization: Bearer"}},
		{"garbage", "Bearer not-a-token", []string{"unknown token"}},
		{"admin token with one changed letter", "Bearer " + changed, []string{"unknown token"}},
		{"enlist token", "Bearer " + enlist, []string{"enlistment token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, route := range [][2]string{{"GET", "/api/v1/targetservers"}, {"POST", "/api/v1/groups"}} {
				req, _ := http.NewRequestWithContext(t.Context(), route[0], f.srv.URL+route[1], strings.NewReader(`{"name":"Sneaky"}`))
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				resp, err := f.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var e api.ErrorBody
				err = json.NewDecoder(resp.Body).Decode(&e)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("%s %s: error body: %v", route[0], route[1], err)
				}
				wantErr(t, reply{status: resp.StatusCode, e: e}, http.StatusUnauthorized, master.CodeBadToken, tt.words...)
			}
			if _, ok := f.m.Reg.Group("Sneaky"); ok {
				t.Error("a request without a valid token added a group")
			}
		})
	}
}

// mutations are every change a viewer may not make, with a body that an admin could send.
var mutations = []struct{ method, path, body string }{
	{"POST", "/api/v1/groups", `{"name":"ByViewer"}`},
	{"DELETE", "/api/v1/groups/Web", ""},
	{"POST", "/api/v1/groups/Web/members", `{"server":"SQL01"}`},
	{"DELETE", "/api/v1/groups/Web/members/SQL01", ""},
	{"POST", "/api/v1/downloadlist/1/clear", ""},
	{"POST", "/api/v1/jobs", strings.Replace(validJob, "Nightly", "ByViewer", 1)},
	{"DELETE", "/api/v1/jobs/Nightly", ""},
	{"POST", "/api/v1/jobs/Nightly/targets", `{"groups":["Web"],"remove":true}`},
	{"POST", "/api/v1/jobs/Nightly/start", ""},
	{"POST", "/api/v1/jobs/Nightly/stop", ""},
	{"DELETE", "/api/v1/targetservers/SQL01", ""},
	{"POST", "/api/v1/targetservers/actions/setpoll", `{"all":true,"seconds":30}`},
	{"POST", "/api/v1/targetservers/actions/resync", `{"all":true}`},
	{"POST", "/api/v1/tokens", `{"role":"admin"}`},
	{"DELETE", "/api/v1/tokens/{admin}", ""},
	{"GET", "/api/v1/tokens", ""}, // token records are for admins
}

func TestViewer(t *testing.T) {
	f := newFixture(t)
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)
	f.must(t, f.admin, "POST", "/api/v1/jobs", validJob, nil)

	t.Run("reads", func(t *testing.T) {
		for _, path := range []string{
			"/api/v1/targetservers", "/api/v1/groups", "/api/v1/groups/Web", "/api/v1/downloadlist",
			"/api/v1/downloadlist?pending=true&limit=5", "/api/v1/jobs", "/api/v1/jobs/summary",
			"/api/v1/jobs/Nightly", "/api/v1/jobs/Nightly/history", "/api/v1/events", "/api/v1/audit",
		} {
			t.Run(path, func(t *testing.T) {
				r := f.do(t, f.viewer, "GET", path, "")
				if r.status != http.StatusOK || !json.Valid(r.body) {
					t.Fatalf("GET %s as viewer: %s", path, r)
				}
			})
		}
	})

	state := func(t *testing.T) string {
		t.Helper()
		toks, err := f.m.Tokens.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"groups": f.m.Reg.Groups(), "jobs": f.m.Catalog.All(),
			"tokens": toks, "targets": f.m.TargetServers(), "rows": f.m.Ledger.List(ledgerAll)})
		return string(b)
	}
	before := state(t)
	for _, mu := range mutations {
		path := strings.ReplaceAll(mu.path, "{admin}", f.adminRec.ID)
		t.Run(mu.method+" "+path, func(t *testing.T) {
			r := f.do(t, f.viewer, mu.method, path, mu.body)
			wantErr(t, r, http.StatusForbidden, master.CodeBadToken, "admin")
			// The same request with an admin token is allowed past the role check (it may
			// still fail on its merits); this keeps the table honest.
			if mu.method == "GET" {
				if r := f.do(t, f.admin, mu.method, path, mu.body); r.status == http.StatusForbidden {
					t.Errorf("admin refused too: %s", r)
				}
			}
		})
	}
	if after := state(t); after != before {
		t.Errorf("viewer requests changed the master's state:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := f.m.Tokens.Check(t.Context(), f.admin); err != nil {
		t.Errorf("admin token after viewer's revoke attempt: %v", err)
	}
}

// TestAdminPassesRoleCheck sends every mutation as an admin: none is refused for its role.
func TestAdminPassesRoleCheck(t *testing.T) {
	f := newFixture(t)
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)
	f.must(t, f.admin, "POST", "/api/v1/jobs", validJob, nil)
	other, rec := f.token(t, auth.RoleAdmin, 0)
	for _, mu := range mutations {
		path := strings.ReplaceAll(mu.path, "{admin}", rec.ID)
		r := f.do(t, f.admin, mu.method, path, mu.body)
		if r.status == http.StatusForbidden || r.status == http.StatusUnauthorized || r.status >= 500 {
			t.Errorf("%s %s as admin: %s", mu.method, path, r)
		}
	}
	if _, err := f.m.Tokens.Check(t.Context(), other); !errors.Is(err, auth.ErrBadToken) {
		t.Errorf("revoked admin token: got %v, want %v", err, auth.ErrBadToken)
	}
	if _, ok := f.m.Reg.Group("ByViewer"); !ok {
		t.Error("the admin's POST /groups did not add the group")
	}
}

func TestRevokedAndExpired(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		role string
	}{
		{"admin", auth.RoleAdmin},
		{"viewer", auth.RoleViewer},
	}
	for _, tt := range tests {
		t.Run("revoked "+tt.name, func(t *testing.T) {
			var created api.TokenReply
			f.must(t, f.admin, "POST", "/api/v1/tokens", `{"role":"`+tt.role+`"}`, &created)
			f.must(t, created.Token, "GET", "/api/v1/groups", "", nil)
			var revoked auth.Record
			f.must(t, f.admin, "DELETE", "/api/v1/tokens/"+created.ID, "", &revoked)
			if !revoked.Revoked || revoked.ID != created.ID {
				t.Fatalf("revoke answered %+v", revoked)
			}
			// Right after: no wait, no cache.
			wantErr(t, f.do(t, created.Token, "GET", "/api/v1/groups", ""), http.StatusUnauthorized, master.CodeBadToken, "revoked")
			wantErr(t, f.do(t, created.Token, "POST", "/api/v1/groups", `{"name":"Late"}`), http.StatusUnauthorized, master.CodeBadToken, "revoked")
		})
		t.Run("expired "+tt.name, func(t *testing.T) {
			var created api.TokenReply
			f.must(t, f.admin, "POST", "/api/v1/tokens", `{"role":"`+tt.role+`","ttl":"1ms"}`, &created)
			if got := created.Expires.Sub(created.Created); got != time.Millisecond {
				t.Errorf("expiry %s after creation, want 1ms", got)
			}
			waitFor(t, patience, func() bool { return time.Now().After(created.Expires) }, "the token to expire")
			wantErr(t, f.do(t, created.Token, "GET", "/api/v1/groups", ""), http.StatusUnauthorized, master.CodeBadToken, "expired")
			wantErr(t, f.do(t, created.Token, "POST", "/api/v1/groups", `{"name":"Late"}`), http.StatusUnauthorized, master.CodeBadToken, "expired")
		})
	}
	if _, ok := f.m.Reg.Group("Late"); ok {
		t.Error("a revoked or expired token added a group")
	}

	t.Run("revoke needs 6 digits", func(t *testing.T) {
		wantErr(t, f.do(t, f.admin, "DELETE", "/api/v1/tokens/"+f.viewerRec.ID[:5], ""), http.StatusBadRequest, master.CodeBadToken, "6 digits")
		f.must(t, f.viewer, "GET", "/api/v1/groups", "", nil)
	})
	t.Run("revoke unknown id", func(t *testing.T) {
		wantErr(t, f.do(t, f.admin, "DELETE", "/api/v1/tokens/ffffffffffff", ""), http.StatusBadRequest, master.CodeBadToken, "no token")
	})
}

func TestTokensStoredHashed(t *testing.T) {
	f := newFixture(t)
	plains := []string{f.admin, f.viewer}
	for _, body := range []string{`{}`, `{"role":"viewer"}`, `{"role":"admin","description":"ci"}`} {
		var created api.TokenReply
		f.must(t, f.admin, "POST", "/api/v1/tokens", body, &created)
		plains = append(plains, created.Token)
	}
	// Revoking rewrites a record: it must stay free of the secret too.
	f.must(t, f.admin, "DELETE", "/api/v1/tokens/"+f.viewerRec.ID, "", nil)

	// Every message of the bucket's stream, keys (subjects) and values.
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	stream := "KV_" + bus.BucketTokens
	s, err := f.js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	total := s.CachedInfo().State.Msgs
	if total < uint64(len(plains)) {
		t.Fatalf("bucket %s holds %d values, want at least %d", bus.BucketTokens, total, len(plains))
	}
	cons, err := f.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range total {
		msg, err := cons.Next(jetstream.FetchMaxWait(patience))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range plains {
			secret := p[strings.IndexByte(p, '_')+1:]
			for what, text := range map[string]string{"key": msg.Subject(), "value": string(msg.Data())} {
				if strings.Contains(strings.ToLower(text), strings.ToLower(secret)) {
					t.Errorf("token %s… appears in plaintext in the %s of %s", p[:8], what, msg.Subject())
				}
			}
		}
	}
}

func TestTokenCreate(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		body     string
		role     string
		prefix   string
		expiry   time.Duration // 0 = none
		status   int
		code     int
		mentions []string
	}{
		{name: "default enlist", body: `{}`, role: auth.RoleEnlist, prefix: "msxe_", expiry: 24 * time.Hour, status: 200},
		{name: "enlist with ttl", body: `{"role":"enlist","ttl":"90m"}`, role: auth.RoleEnlist, prefix: "msxe_", expiry: 90 * time.Minute, status: 200},
		{name: "viewer", body: `{"role":"viewer","description":"grafana"}`, role: auth.RoleViewer, prefix: "msxv_", status: 200},
		{name: "operator", body: `{"role":"operator"}`, role: auth.RoleOperator, prefix: "msxo_", status: 200},
		{name: "admin", body: `{"role":"admin"}`, role: auth.RoleAdmin, prefix: "msxa_", status: 200},
		{name: "admin with ttl", body: `{"role":"admin","ttl":"1h30m"}`, role: auth.RoleAdmin, prefix: "msxa_", expiry: 90 * time.Minute, status: 200},
		{name: "bad role", body: `{"role":"root"}`, status: 400, code: master.CodeBadRequest, mentions: []string{"root", "enlist", "viewer", "admin"}},
		{name: "role in capitals", body: `{"role":"ADMIN"}`, status: 400, code: master.CodeBadRequest, mentions: []string{"enlist, viewer, operator or admin"}},
		{name: "ttl not a duration", body: `{"role":"viewer","ttl":"soon"}`, status: 400, code: master.CodeBadRequest, mentions: []string{"soon", "24h"}},
		{name: "negative ttl", body: `{"ttl":"-1h"}`, status: 400, code: master.CodeBadRequest, mentions: []string{"-1h"}},
		{name: "ttl as a number", body: `{"ttl":3600}`, status: 400, code: master.CodeBadRequest, mentions: []string{"ttl"}},
		{name: "unknown field", body: `{"role":"viewer","expires":"1h"}`, status: 400, code: master.CodeBadRequest, mentions: []string{`"expires"`}},
		{name: "no body", body: ``, status: 400, code: master.CodeBadRequest},
	}
	var secrets []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, f.admin, "POST", "/api/v1/tokens", tt.body)
			if tt.status != http.StatusOK {
				wantErr(t, r, tt.status, tt.code, tt.mentions...)
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("create: %s", r)
			}
			var got api.TokenReply
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, got.Token)
			if got.Role != tt.role || !strings.HasPrefix(got.Token, tt.prefix) || len(got.ID) != 12 {
				t.Errorf("got role %q token %q… id %q, want role %q prefix %q", got.Role, got.Token[:6], got.ID, tt.role, tt.prefix)
			}
			if tt.expiry == 0 && !got.Expires.IsZero() {
				t.Errorf("expires %s, want never", got.Expires)
			}
			if tt.expiry != 0 && got.Expires.Sub(got.Created) != tt.expiry {
				t.Errorf("expires %s after creation, want %s", got.Expires.Sub(got.Created), tt.expiry)
			}
			if want := "token " + f.adminRec.ID + " (admin)"; got.CreatedBy != want {
				t.Errorf("created_by %q, want %q", got.CreatedBy, want)
			}
			rec, err := f.m.Tokens.Check(t.Context(), got.Token)
			switch {
			case tt.role == auth.RoleEnlist && !errors.Is(err, auth.ErrBadToken):
				t.Errorf("enlist token accepted as an API token: %v", err)
			case tt.role != auth.RoleEnlist && (err != nil || rec.Role != tt.role):
				t.Errorf("check: %+v, %v", rec, err)
			}
		})
	}

	t.Run("list never shows a secret", func(t *testing.T) {
		r := f.do(t, f.admin, "GET", "/api/v1/tokens", "")
		if r.status != http.StatusOK {
			t.Fatal(r)
		}
		var recs []map[string]any
		if err := json.Unmarshal(r.body, &recs); err != nil {
			t.Fatal(err)
		}
		if want := 2 + len(secrets); len(recs) != want {
			t.Errorf("list has %d tokens, want %d", len(recs), want)
		}
		for _, rec := range recs {
			if _, ok := rec["token"]; ok {
				t.Errorf("a listed record has a token field: %v", rec)
			}
		}
		for _, s := range append(secrets, f.admin, f.viewer) {
			if strings.Contains(string(r.body), s[5:]) {
				t.Errorf("the list contains the secret of %s…", s[:6])
			}
		}
		ids := make([]string, len(recs))
		for i, rec := range recs {
			ids[i], _ = rec["id"].(string)
		}
		if !slices.Contains(ids, f.adminRec.ID) || !slices.Contains(ids, f.viewerRec.ID) {
			t.Errorf("list %v misses the fixture's tokens", ids)
		}
	})
}

// ledgerAll lists every download-list row.
var ledgerAll = ledger.Filter{}
