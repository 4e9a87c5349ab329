package api

import (
	notifymodel "github.com/msx-project/msx/schemas/notify"

	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
)

// record writes a change (or a refused change) to the audit stream: who, the request as sent
// (its raw, still-escaped path, bounded), the object it is about and what changed. Refused
// requests go through the master's per-source aggregation, so a flood of them cannot hide
// real records.
func (s *Server) record(r *http.Request, v any, err error, status ...int) {
	a := schemas.Audit{Who: who(r.Context()), From: r.RemoteAddr, Action: r.Method + " " + master.Truncate(r.URL.EscapedPath(), 256),
		Status: http.StatusOK, Object: objectOf(r, v)}
	if err != nil {
		a.Status = statusOf(err)
		a.Detail = err.Error()
	}
	if len(status) > 0 {
		a.Status = status[0]
	}
	if a.Status < 400 {
		a.Changes = changesOf(r, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	write := s.m.Audit
	if a.Status >= 400 {
		write = s.m.AuditRefused
	}
	if aerr := write(ctx, a); aerr != nil {
		s.log.Error("audit record lost", "action", a.Action, "err", aerr)
	}
}

// kinds maps the first path segment of an API route to the kind of object it changes.
var kinds = map[string]string{"jobs": "job", "groups": "group", "targetservers": "server", "tokens": "token", "downloadlist": "instruction",
	"operators": "operator", "alerts": "alert", "silences": "silence",
	"vars": "variable"}

// objectOf names the object a request is about: "job Nightly", "group Web", "server SQL01",
// "token 8c745a872536" (a token's id, never its secret).
func objectOf(r *http.Request, v any) string {
	switch x := v.(type) {
	case master.ApplyResult:
		return "job " + x.Job.Name
	case registry.Group:
		return "group " + x.Name
	case TokenReply:
		return "token " + x.ID
	case auth.Record:
		return "token " + x.ID
	case ReplaceReply:
		return "server " + x.ServerName
	case notifymodel.Operator:
		return "operator " + x.Name
	case notifymodel.Alert:
		return "alert " + x.Name
	case notifymodel.Silence:
		return "silence " + x.ID
	}
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/"), "/")
	kind := kinds[seg[0]]
	if kind == "" {
		return ""
	}
	for _, p := range []string{"name", "id"} {
		if n := r.PathValue(p); n != "" {
			return kind + " " + n
		}
	}
	if a := r.PathValue("action"); a != "" {
		return "servers (" + a + ")"
	}
	return ""
}

// changesOf says what a successful change changed, from the handler's answer.
func changesOf(r *http.Request, v any) []string {
	var out []string
	switch x := v.(type) {
	case master.ApplyResult:
		if x.DryRun {
			return []string{"dry run, nothing changed"}
		}
		out = append(out, x.Changes...)
		out = append(out, postedTo(x.Posted)...)
	case []master.Posted:
		if r.Method == http.MethodDelete {
			out = append(out, "deleted")
		}
		if m := r.PathValue("server"); m != "" {
			out = append(out, "member removed: "+strings.ToUpper(m))
		}
		out = append(out, postedTo(x)...)
	case map[string]any: // add member, delete target
		if m := r.PathValue("name"); r.Method == http.MethodPost && m != "" {
			if p, ok := x["posted"].([]master.Posted); ok {
				if a, ok := x["added"].(string); ok {
					out = append(out, "member added: "+a)
				}
				if g, ok := x["group"].(registry.Group); ok {
					out = append(out, "members now: "+strings.Join(g.Members, ", "))
				}
				out = append(out, postedTo(p)...)
			}
		}
		if d, ok := x["deleted"].(string); ok {
			out = append(out, fmt.Sprintf("deleted %s (post DEFECT: %v)", d, x["post_defection"]))
		}
	case registry.Group:
		out = append(out, "created")
	case master.VarChange:
		out = append(out, varChanges(x)...)
	case TokenReply:
		c := "created, role " + x.Role
		if x.Server != "" {
			c += ", enlists only " + x.Server
		}
		if !x.Expires.IsZero() {
			c += ", expires " + x.Expires.Format(time.RFC3339)
		}
		out = append(out, c)
	case auth.Record:
		if x.Revoked {
			out = append(out, "revoked")
		}
	case ReplaceReply:
		out = append(out, "the next token enlistment of "+x.ServerName+" replaces its agent")
	}
	return out
}

// postedTo summarises posted instructions as one line per operation with the servers.
func postedTo(ps []master.Posted) []string {
	by := map[string][]string{}
	for _, p := range ps {
		by[p.Operation] = append(by[p.Operation], p.TargetServer)
	}
	ops := make([]string, 0, len(by))
	for op := range by {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	out := make([]string, 0, len(ops))
	for _, op := range ops {
		s := slices.Compact(slices.Sorted(slices.Values(by[op])))
		out = append(out, fmt.Sprintf("posted %s to %s", op, strings.Join(s, ", ")))
	}
	return out
}
