package api

import (
	"net/http"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
)

// routeVars registers the per-target variables (master/vars.go): viewers read them, admins
// change them. A secret value is never answered: it shows as "***".
//
//	GET    /api/v1/vars[?server=S]            values set, or the values S resolves to
//	PUT    /api/v1/vars/{name}                {"value", "server" | "group", "secret"}
//	DELETE /api/v1/vars/{name}?server=S | ?group=G
func (s *Server) routeVars() {
	s.route("GET /api/v1/vars", auth.RoleViewer, s.listVars)
	s.route("PUT /api/v1/vars/{name}", auth.RoleAdmin, s.setVar)
	s.route("DELETE /api/v1/vars/{name}", auth.RoleAdmin, s.unsetVar)
}

// VarSet is the body of PUT /api/v1/vars/{name}.
type VarSet struct {
	Value  string `json:"value"`
	Server string `json:"server,omitempty"`
	Group  string `json:"group,omitempty"`
	Secret bool   `json:"secret,omitempty"`
}

func (s *Server) listVars(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.m.Vars(r.URL.Query().Get("server"))
}

func (s *Server) setVar(_ http.ResponseWriter, r *http.Request) (any, error) {
	var b VarSet
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	return s.m.SetVar(r.Context(), r.PathValue("name"), b.Value, b.Server, b.Group, b.Secret, who(r.Context()))
}

func (s *Server) unsetVar(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	return s.m.UnsetVar(r.Context(), r.PathValue("name"), q.Get("server"), q.Get("group"))
}

// varChanges says what a set or unset changed, for its audit record: never a secret value.
func varChanges(c master.VarChange) []string {
	return append(c.Changes, postedTo(c.Posted)...)
}
