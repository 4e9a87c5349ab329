package api

import (
	"net/http"
	"time"

	"github.com/msx-project/msx/master/auth"
)

// WhoAmI answers GET /api/v1/whoami: the calling token's record (never the token) and what its
// role may do, so that a client (the console) shows only the actions it may take.
type WhoAmI struct {
	ID          string    `json:"id"`
	Role        string    `json:"role"`
	Description string    `json:"description,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	Master      string    `json:"master"` // the master that answered
	// Read: everything GET; StartStop: start and stop jobs (operator, admin); Change:
	// everything else (admin).
	Read      bool `json:"read"`
	StartStop bool `json:"start_stop"`
	Change    bool `json:"change"`
}

func (s *Server) whoami(_ http.ResponseWriter, r *http.Request) (any, error) {
	c, _ := r.Context().Value(ctxKey{}).(caller)
	rec := c.rec
	return WhoAmI{ID: rec.ID, Role: rec.Role, Description: rec.Description, Expires: rec.Expires, Master: s.m.Name(),
		Read: auth.Allows(rec.Role, auth.RoleViewer), StartStop: auth.Allows(rec.Role, auth.RoleOperator),
		Change: auth.Allows(rec.Role, auth.RoleAdmin)}, nil
}
