package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/schemas/jobs"
)

// routeOps registers the operator verbs of issue 10: clearing download errors in bulk and the
// un-deploy plan that destructive verbs show before they act.
func (s *Server) routeOps() {
	s.route("POST /api/v1/downloadlist/clear", auth.RoleAdmin, s.clearErrors)
	s.route("GET /api/v1/plans/undeploy", auth.RoleViewer, s.undeployPlan)
}

// ClearReply answers POST /api/v1/downloadlist/clear.
type ClearReply struct {
	Cleared []uint64 `json:"cleared"`
}

func (s *Server) clearErrors(_ http.ResponseWriter, r *http.Request) (any, error) {
	var f master.ClearFilter
	if err := decode(r, &f); err != nil {
		return nil, err
	}
	ids, err := s.m.ClearErrors(r.Context(), f, who(r.Context()))
	if err != nil {
		return nil, err
	}
	s.log.Info("download errors cleared", "count", len(ids), "all", f.All, "server", f.Server, "job", f.Job, "by", who(r.Context()))
	return ClearReply{Cleared: ids}, nil
}

// undeployPlan answers GET /api/v1/plans/undeploy with what a destructive change would take
// away from which servers, without changing anything:
//
//	?group=G               delete group G
//	?group=G&member=S      remove S from group G
//	?server=S              delete target server S (&no_post_defection=true: records only)
//	?job=J                 delete job J
func (s *Server) undeployPlan(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	group, member, server, job := q.Get("group"), q.Get("member"), q.Get("server"), q.Get("job")
	switch {
	case group != "" && server == "" && job == "":
		if member != "" {
			return s.m.PlanRemoveMember(group, member)
		}
		return s.m.PlanDeleteGroup(group)
	case server != "" && group == "" && job == "" && member == "":
		noPost, err := queryBool(r, "no_post_defection")
		if err != nil {
			return nil, err
		}
		return s.m.PlanDeleteTarget(server, noPost)
	case job != "" && group == "" && server == "" && member == "":
		return s.m.PlanDeleteJob(job)
	}
	return nil, fmt.Errorf("%w: name one change: ?group=G (delete), ?group=G&member=S (removemember), ?server=S (targetserver delete) or ?job=J (job delete)", master.ErrInvalid)
}

// bodyError explains a request body that could not be read: above all one larger than the
// API's limit, which it names, with the field limits of a job document.
func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &master.Coded{Code: master.CodeBadRequest, Err: fmt.Errorf(
			"%w: request body too large: the limit is %d bytes (1 MiB) per request; in a job document a step's command may be at most %d bytes and the description %d characters",
			master.ErrInvalid, tooBig.Limit, jobs.MaxCommandBytes, jobs.MaxDescriptionLen)}
	}
	return fmt.Errorf("%w: request body: %w", master.ErrInvalid, err)
}
