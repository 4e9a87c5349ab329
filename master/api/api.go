// Package api is the master's HTTP API, used by the msx CLI and the web UI. Every request needs
// a bearer token: viewer tokens may read, operator tokens may also start and stop jobs, admin
// tokens may change everything (auth.Allows). Errors are JSON
// {"error": {"code": N, "message": "..."}} where code is the SQL Server message number for the
// same condition when MSX has one (14262 unknown object, 14261 duplicate, ...).
//
// openapi.yaml describes the API (OpenAPI 3.1): it is embedded, served at
// GET /api/v1/openapi.json without a token, self-contained, and returned by OpenAPI. Each route
// registered with route or handle is listed by Server.Routes, and openapi_test.go fails when
// the document and the routes differ, in paths, methods or the role (x-msx-role) each needs:
// a new route needs its operation in openapi.yaml. ValidateHandler checks every exchange
// against the document (the package's tests and the client's run through it); StrictHandler
// does the same in a running master (MSX_API_VALIDATE=1) and answers 500 to a mismatch.
// A stream (text/event-stream) is passed on as written: document it with that media type.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/master/web"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/problem"
)

// maxBody bounds request bodies.
const maxBody = 1 << 20

// Server serves the API of one master.
type Server struct {
	m      *master.Master
	log    *slog.Logger
	mux    *http.ServeMux
	hub    *hub    // live streams (stream.go)
	out    streams // the live output streams (output.go)
	routes []Route
}

// Route is one pattern registered with the API's mux and the least role it needs ("" for
// none): what the OpenAPI document must describe.
type Route struct {
	Pattern string // as http.ServeMux takes it: "GET /api/v1/jobs/{name}"
	Role    string
}

// Routes returns the patterns the API serves, in the order they were registered.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// handle registers h for pattern and records it in Routes.
func (s *Server) handle(pattern, role string, h http.HandlerFunc) {
	s.routes = append(s.routes, Route{Pattern: pattern, Role: role})
	s.mux.HandleFunc(pattern, h)
}

// New returns the API handler for m.
func New(m *master.Master, log *slog.Logger) *Server {
	s := &Server{m: m, log: log.With("component", "master.api"), mux: http.NewServeMux()}
	s.route("GET /api/v1/targetservers", auth.RoleViewer, s.listTargets)
	s.route("GET /api/v1/targetservers/{name}", auth.RoleViewer, s.getTarget)
	s.route("DELETE /api/v1/targetservers/{name}", auth.RoleAdmin, s.deleteTarget)
	s.route("GET /api/v1/quarantine", auth.RoleAdmin, s.quarantined)
	s.route("POST /api/v1/targetservers/{name}/enlistment/replace", auth.RoleAdmin, s.replaceTarget)
	s.route("POST /api/v1/targetservers/actions/{action}", auth.RoleAdmin, s.action)
	s.route("GET /api/v1/groups", auth.RoleViewer, s.listGroups)
	s.route("POST /api/v1/groups", auth.RoleAdmin, s.addGroup)
	s.route("GET /api/v1/groups/{name}", auth.RoleViewer, s.getGroup)
	s.route("DELETE /api/v1/groups/{name}", auth.RoleAdmin, s.deleteGroup)
	s.route("POST /api/v1/groups/{name}/members", auth.RoleAdmin, s.addMember)
	s.route("DELETE /api/v1/groups/{name}/members/{server}", auth.RoleAdmin, s.removeMember)
	s.route("GET /api/v1/downloadlist", auth.RoleViewer, s.downloadList)
	s.route("POST /api/v1/downloadlist/{id}/clear", auth.RoleAdmin, s.clearError)
	s.route("GET /api/v1/jobs", auth.RoleViewer, s.listJobs)
	s.route("POST /api/v1/jobs", auth.RoleAdmin, s.applyJob)
	s.route("GET /api/v1/jobs/summary", auth.RoleViewer, s.listJobs)
	s.route("GET /api/v1/jobs/{name}", auth.RoleViewer, s.getJob)
	s.route("DELETE /api/v1/jobs/{name}", auth.RoleAdmin, s.deleteJob)
	s.route("POST /api/v1/jobs/{name}/targets", auth.RoleAdmin, s.targetJob)
	s.route("POST /api/v1/jobs/{name}/start", auth.RoleOperator, s.startJob)
	s.route("POST /api/v1/jobs/{name}/stop", auth.RoleOperator, s.startJob)
	s.route("POST /api/v1/jobs/{name}/enable", auth.RoleAdmin, s.enableJob)
	s.route("POST /api/v1/jobs/{name}/disable", auth.RoleAdmin, s.enableJob)
	s.route("GET /api/v1/jobs/{name}/history", auth.RoleViewer, s.jobHistory)
	s.routeOutput() // GET /api/v1/jobs/{name}/output: live output, Server-Sent Events (output.go)
	s.route("GET /api/v1/whoami", auth.RoleViewer, s.whoami)
	s.route("GET /api/v1/events", auth.RoleViewer, s.events)
	s.route("GET /api/v1/audit", auth.RoleViewer, s.audit)
	s.route("GET /api/v1/dashboard", auth.RoleViewer, s.dashboard)
	s.route("GET /api/v1/tokens", auth.RoleAdmin, s.listTokens)
	s.route("POST /api/v1/tokens", auth.RoleAdmin, s.createToken)
	s.route("DELETE /api/v1/tokens/{id}", auth.RoleAdmin, s.revokeToken)
	s.routeOps()
	s.routeNotify()
	s.routeVars()
	s.route("GET /api/v1/cluster", auth.RoleViewer, s.cluster)
	s.routeMetrics()
	s.routeConsole()
	s.routeStream()
	s.handle("GET /api/v1/openapi.json", "", serveOpenAPI)
	s.handle("GET /healthz", "", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	s.handle("GET /", "", web.Handler().ServeHTTP)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.forward(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

type caller struct{ rec auth.Record }

type ctxKey struct{}

func who(ctx context.Context) string {
	if c, ok := ctx.Value(ctxKey{}).(caller); ok {
		return "token " + c.rec.ID + " (" + c.rec.Role + ")"
	}
	return "unknown"
}

// route registers h behind a token check for role.
func (s *Server) route(pattern, role string, h func(w http.ResponseWriter, r *http.Request) (any, error)) {
	s.handle(pattern, role, func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in API handler", "pattern", pattern, "panic", p)
				writeErrText(w, http.StatusInternalServerError, master.CodeInternal, "internal error: see the master's log")
			}
		}()
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		rec, ok := s.checkToken(ctx, w, r, "no API token: pass one as `Authorization: Bearer TOKEN` (the CLI reads MSX_TOKEN or the admin token in the master's data directory)")
		if !ok {
			return
		}
		if !s.allowed(w, r.WithContext(ctx), rec, role) {
			return
		}
		r = r.WithContext(context.WithValue(ctx, ctxKey{}, caller{rec}))
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		v, err := h(w, r)
		if r.Method != http.MethodGet {
			s.record(r, v, err)
		}
		if err != nil {
			writeErr(w, statusOf(err), master.CodeOf(err), err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if v == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	})
}

// allowed reports whether a token of rec's role may call a route that needs role (viewer <
// operator < admin, auth.Allows); when not, it audits the refusal and answers 403.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, rec auth.Record, role string) bool {
	if auth.Allows(rec.Role, role) {
		return true
	}
	// A refused request by a known token is audited too (unknown tokens are not: anyone could
	// fill a stream that cannot be purged).
	s.record(r.WithContext(context.WithValue(r.Context(), ctxKey{}, caller{rec})), nil, fmt.Errorf("refused: token %s has role %s", rec.ID, rec.Role), http.StatusForbidden)
	writeErrText(w, http.StatusForbidden, master.CodeBadToken, fmt.Sprintf("token %s has role %s: this needs an %s token", rec.ID, rec.Role, needs(role)))
	return false
}

// needs names the roles that may call a route that needs role.
func needs(role string) string {
	switch role {
	case auth.RoleOperator:
		return "operator or admin"
	case auth.RoleViewer:
		return "API"
	}
	return role
}

// checkToken checks the request's bearer token, an API token of any role; when it is missing
// (noToken says what to pass) or not valid, it answers 401 and returns false.
func (s *Server) checkToken(ctx context.Context, w http.ResponseWriter, r *http.Request, noToken string) (auth.Record, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		writeErrText(w, http.StatusUnauthorized, master.CodeBadToken, noToken)
		return auth.Record{}, false
	}
	rec, err := s.m.Tokens.Check(ctx, tok)
	if err != nil {
		writeErr(w, http.StatusUnauthorized, master.CodeBadToken, err)
		return auth.Record{}, false
	}
	return rec, true
}

// statusOf returns the HTTP status of an error. An invalid document is a bad request whatever
// the code of its first problem (14262 for an unknown target would otherwise read as 404, 14261
// for a duplicate step name as 409).
func statusOf(err error) int {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return http.StatusBadRequest
	}
	return httpStatus(master.CodeOf(err))
}

func httpStatus(code int) int {
	switch code {
	case 14262:
		return http.StatusNotFound
	case 14261, 14263:
		return http.StatusConflict
	case master.CodeInternal:
		return http.StatusInternalServerError
	case master.CodeNotLeader, master.CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

// ErrorBody is the JSON shape of every API error. Problems lists every finding of an invalid
// job document (field path, SQL Server message number, message).
type ErrorBody struct {
	Error struct {
		Code     int               `json:"code"`
		Message  string            `json:"message"`
		Problems []problem.Problem `json:"problems,omitempty"`
	} `json:"error"`
}

func writeErr(w http.ResponseWriter, status, code int, err error) {
	var b ErrorBody
	b.Error.Code, b.Error.Message = code, err.Error()
	var pe *problem.Error
	if errors.As(err, &pe) {
		b.Error.Problems = pe.Problems
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(b)
}

func writeErrText(w http.ResponseWriter, status, code int, msg string) {
	writeErr(w, status, code, errors.New(msg))
}

// decode reads a request body strictly: exactly one JSON value, no unknown fields. Requests
// whose body is optional may send none.
func decode(r *http.Request, v any) error {
	var raw bytes.Buffer // bounded by the body's limit
	dec := json.NewDecoder(io.TeeReader(r.Body, &raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: request body is empty: send one JSON object", master.ErrInvalid)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("%w: request body: unknown field %s: remove it (see the API's request types)", master.ErrInvalid, f)
		}
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: request body holds more than one JSON value: send exactly one", master.ErrInvalid)
	}
	return exactKeys(raw.Bytes(), reflect.TypeOf(v), "")
}

func (s *Server) listTargets(_ http.ResponseWriter, _ *http.Request) (any, error) {
	ts := s.m.TargetServers()
	if ts == nil {
		ts = []master.TargetServer{}
	}
	return ts, nil
}

func (s *Server) getTarget(_ http.ResponseWriter, r *http.Request) (any, error) {
	if _, err := s.m.Target(r.PathValue("name")); err != nil {
		return nil, err
	}
	t, _ := s.m.TargetServer(r.PathValue("name"))
	return t, nil
}

func (s *Server) deleteTarget(_ http.ResponseWriter, r *http.Request) (any, error) {
	noPost, err := queryBool(r, "no_post_defection")
	if err != nil {
		return nil, err
	}
	name := r.PathValue("name")
	if err := s.m.DeleteTarget(r.Context(), name, noPost); err != nil {
		return nil, err
	}
	s.log.Info("target deleted", "server", name, "post_defection", !noPost, "by", who(r.Context()))
	return map[string]any{"deleted": strings.ToUpper(name), "post_defection": !noPost}, nil
}

func (s *Server) quarantined(_ http.ResponseWriter, _ *http.Request) (any, error) {
	q := s.m.Quarantined()
	if q == nil {
		q = []registry.Quarantined{}
	}
	return q, nil
}

// ReplaceReply answers POST /api/v1/targetservers/{name}/enlistment/replace.
type ReplaceReply struct {
	ServerName string    `json:"server_name"`
	ServerID   int       `json:"server_id"`
	AllowedBy  string    `json:"allowed_by"`
	AllowedAt  time.Time `json:"allowed_at"`
	Message    string    `json:"message"`
}

func (s *Server) replaceTarget(_ http.ResponseWriter, r *http.Request) (any, error) {
	t, err := s.m.AllowReplace(r.Context(), r.PathValue("name"), who(r.Context()))
	if err != nil {
		return nil, err
	}
	return ReplaceReply{ServerName: t.ServerName, ServerID: t.ServerID, AllowedBy: t.ReplaceAllowedBy, AllowedAt: t.ReplaceAllowedAt,
		Message: fmt.Sprintf("the next enlistment of %s with a valid token (within 24h) replaces the enlisted agent, whose key is then revoked: run `msx target --name %s --token TOKEN` on the new agent", t.ServerName, t.ServerName)}, nil
}

// ActionRequest is the body of POST /api/v1/targetservers/actions/{action}.
type ActionRequest struct {
	Servers []string `json:"servers,omitempty"`
	All     bool     `json:"all,omitempty"`
	Seconds int      `json:"seconds,omitempty"`
}

func (s *Server) action(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req ActionRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return posted(s.m.Action(r.Context(), r.PathValue("action"), req.Servers, req.All, req.Seconds))
}

func (s *Server) listGroups(_ http.ResponseWriter, _ *http.Request) (any, error) {
	return s.m.Reg.Groups(), nil
}

func (s *Server) getGroup(_ http.ResponseWriter, r *http.Request) (any, error) {
	g, ok := s.m.Reg.Group(r.PathValue("name"))
	if !ok {
		return nil, &master.Coded{Code: 14262, Err: fmt.Errorf("The specified target server group ('%s') does not exist.", r.PathValue("name"))}
	}
	return g, nil
}

func (s *Server) addGroup(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.m.Reg.AddGroup(r.Context(), req.Name)
}

func (s *Server) deleteGroup(_ http.ResponseWriter, r *http.Request) (any, error) {
	return posted(s.m.DeleteGroup(r.Context(), r.PathValue("name")))
}

func (s *Server) addMember(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Server string `json:"server"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	g, posted, err := s.m.AddMember(r.Context(), r.PathValue("name"), req.Server)
	if err != nil {
		return nil, err
	}
	return map[string]any{"group": g, "added": strings.ToUpper(strings.TrimSpace(req.Server)), "posted": nonNil(posted)}, nil
}

func (s *Server) removeMember(_ http.ResponseWriter, r *http.Request) (any, error) {
	return posted(s.m.RemoveMember(r.Context(), r.PathValue("name"), r.PathValue("server")))
}

func (s *Server) downloadList(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	f := ledger.Filter{}
	if name := q.Get("server"); name != "" {
		t, err := s.m.Target(name)
		if err != nil {
			return nil, err
		}
		f.Token = t.Token
	}
	var err error
	if f.Pending, err = queryBool(r, "pending"); err != nil {
		return nil, err
	}
	if f.Errors, err = queryBool(r, "errors"); err != nil {
		return nil, err
	}
	if f.Limit, err = queryInt(r, "limit"); err != nil {
		return nil, err
	}
	rows := s.m.Ledger.List(f)
	if rows == nil {
		rows = []ledger.Row{}
	}
	return rows, nil
}

func (s *Server) clearError(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: instance_id %q is not a number", master.ErrInvalid, r.PathValue("id"))
	}
	if err := s.m.ClearError(r.Context(), id, who(r.Context())); err != nil {
		return nil, err
	}
	row, _ := s.m.Ledger.Row(id)
	return row, nil
}

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Role        string `json:"role,omitempty"` // default enlist
	TTL         string `json:"ttl,omitempty"`  // Go duration; default 24h for enlist, none for API tokens
	Description string `json:"description,omitempty"`
	// Server binds an enlistment token to one server name (HOST or HOST\INSTANCE).
	Server string `json:"server,omitempty"`
}

// TokenReply answers POST /api/v1/tokens: the plaintext token, shown once.
type TokenReply struct {
	Token string `json:"token"`
	auth.Record
	// NATSURL is the bus URL the master is connected to, for an enlistment token: what the new
	// target passes as --nats (a loopback address works only on the master's machine).
	NATSURL string `json:"nats_url,omitempty"`
}

func (s *Server) createToken(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req TokenRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Role == "" {
		req.Role = auth.RoleEnlist
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%w: ttl %q: use a duration such as 24h or 90m", master.ErrInvalid, req.TTL)
		}
		ttl = d
	}
	if req.Server != "" {
		canon, err := jobs.CanonicalServerName(req.Server)
		if err != nil {
			return nil, &master.Coded{Code: master.CodeInvalidName, Err: fmt.Errorf("server: %w", err)}
		}
		req.Server = canon
	}
	plain, rec, err := s.m.Tokens.CreateFor(r.Context(), req.Role, ttl, who(r.Context()), req.Description, req.Server)
	if err != nil {
		return nil, err
	}
	if fp := s.m.CAFingerprint(); fp != "" && req.Role == auth.RoleEnlist {
		plain += "~" + fp // the secret, then what the new target needs to trust the bus
	}
	reply := TokenReply{Token: plain, Record: rec}
	if req.Role == auth.RoleEnlist {
		reply.NATSURL = s.m.BusURL()
	}
	return reply, nil
}

func (s *Server) listTokens(_ http.ResponseWriter, r *http.Request) (any, error) {
	recs, err := s.m.Tokens.List(r.Context())
	if recs == nil {
		recs = []auth.Record{}
	}
	return recs, err
}

func (s *Server) revokeToken(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.m.Tokens.Revoke(r.Context(), r.PathValue("id"))
}

var _ http.Handler = (*Server)(nil)

func (s *Server) audit(_ http.ResponseWriter, r *http.Request) (any, error) {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return nil, err
	}
	unverified, err := queryBool(r, "unverified")
	if err != nil {
		return nil, err
	}
	recs, err := s.m.AuditLog(r.Context(), master.AuditFilter{Limit: limit, Unverified: unverified})
	if recs == nil {
		recs = []master.AuditRecord{}
	}
	return recs, err
}
