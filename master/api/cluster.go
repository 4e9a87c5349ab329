package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/msx-project/msx/master"
)

// forwardedBy marks a request a follower forwarded to the leader; a master that does not lead
// answers such a request 503 instead of forwarding it again (no loops while the lease moves).
const forwardedBy = "X-Msx-Forwarded-By"

// forward sends a change (any method but GET and HEAD under /api/) that reached a master that
// does not lead to the leader's API, named in the lease, and reports whether it did or
// answered. Reads are always answered locally, from the live view.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || !strings.HasPrefix(r.URL.Path, "/api/") || s.m.Leading() {
		return false
	}
	lease, ok := s.m.Lease()
	target, err := url.Parse(lease.API)
	switch {
	case !ok:
		writeErrText(w, http.StatusServiceUnavailable, master.CodeNotLeader, "no master leads at the moment (a takeover is under way): retry in a few seconds")
		return true
	case r.Header.Get(forwardedBy) != "" || lease.Master == s.m.Name():
		writeErrText(w, http.StatusServiceUnavailable, master.CodeNotLeader, fmt.Sprintf("master %s does not lead (the lease names %s): retry in a few seconds", s.m.Name(), lease.Master))
		return true
	case lease.API == "" || err != nil || target.Host == "":
		w.Header().Set("X-Msx-Leader", lease.Master)
		writeErrText(w, http.StatusServiceUnavailable, master.CodeNotLeader, fmt.Sprintf("changes go to the leading master %s, which publishes no API address: send this request there", lease.Master))
		return true
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set(forwardedBy, s.m.Name())
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			s.log.Warn("forward to the leader", "leader", lease.Master, "api", lease.API, "err", err)
			writeErrText(w, http.StatusServiceUnavailable, master.CodeNotLeader, fmt.Sprintf("the leading master %s (%s) did not answer: retry in a few seconds", lease.Master, lease.API))
		},
	}
	s.log.Debug("forwarding a change to the leader", "method", r.Method, "path", r.URL.Path, "leader", lease.Master)
	proxy.ServeHTTP(w, r)
	return true
}

// cluster answers GET /api/v1/cluster: the masters, the lease, the replica counts.
func (s *Server) cluster(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	return s.m.Cluster(ctx)
}
