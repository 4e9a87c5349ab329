package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/notify"
	model "github.com/msx-project/msx/schemas/notify"
)

// routeNotify registers operators, alerts, silences and the delivery log (issue 12):
//
//	GET    /api/v1/operators                 viewer  list (webhook URLs redacted)
//	POST   /api/v1/operators                 admin   add (sp_add_operator's fields)
//	GET    /api/v1/operators/{name}          viewer  show
//	PATCH  /api/v1/operators/{name}          admin   change the fields sent, keep the others
//	DELETE /api/v1/operators/{name}          admin   delete
//	POST   /api/v1/operators/{name}/test     admin   send a test on each of its channels now
//	GET    /api/v1/alerts, POST, GET/PATCH/DELETE /api/v1/alerts/{name}   the same for alerts
//	GET    /api/v1/silences                  viewer  silences in force
//	POST   /api/v1/silences                  admin   {"server","job","for":"2h","reason"}
//	DELETE /api/v1/silences/{id}             admin   end a silence
//	GET    /api/v1/notifications?last=N      viewer  the delivery log, newest last (default 100)
func (s *Server) routeNotify() {
	s.route("GET /api/v1/operators", auth.RoleViewer, s.listOperators)
	s.route("POST /api/v1/operators", auth.RoleAdmin, s.addOperator)
	s.route("GET /api/v1/operators/{name}", auth.RoleViewer, s.getOperator)
	s.route("PATCH /api/v1/operators/{name}", auth.RoleAdmin, s.updateOperator)
	s.route("DELETE /api/v1/operators/{name}", auth.RoleAdmin, s.deleteOperator)
	s.route("POST /api/v1/operators/{name}/test", auth.RoleAdmin, s.testOperator)
	s.route("GET /api/v1/alerts", auth.RoleViewer, s.listAlerts)
	s.route("POST /api/v1/alerts", auth.RoleAdmin, s.addAlert)
	s.route("GET /api/v1/alerts/{name}", auth.RoleViewer, s.getAlert)
	s.route("PATCH /api/v1/alerts/{name}", auth.RoleAdmin, s.updateAlert)
	s.route("DELETE /api/v1/alerts/{name}", auth.RoleAdmin, s.deleteAlert)
	s.route("GET /api/v1/silences", auth.RoleViewer, s.listSilences)
	s.route("POST /api/v1/silences", auth.RoleAdmin, s.addSilence)
	s.route("DELETE /api/v1/silences/{id}", auth.RoleAdmin, s.deleteSilence)
	s.route("GET /api/v1/notifications", auth.RoleViewer, s.notifications)
}

// notifyErr gives the notification store's errors SQL Server's codes.
func notifyErr(err error) error {
	switch {
	case errors.Is(err, notify.ErrUnknown):
		return &master.Coded{Code: master.CodeUnknown, Err: err}
	case errors.Is(err, notify.ErrExists):
		return &master.Coded{Code: 14261, Err: err}
	}
	return err
}

// nonNil makes an empty list answer [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func redactAll(ops []model.Operator) []model.Operator {
	for i := range ops {
		ops[i] = ops[i].Redacted()
	}
	return nonNil(ops)
}

func (s *Server) listOperators(_ http.ResponseWriter, r *http.Request) (any, error) {
	ops, err := s.m.Notify.Operators(r.Context())
	return redactAll(ops), err
}

func (s *Server) getOperator(_ http.ResponseWriter, r *http.Request) (any, error) {
	o, err := s.m.Notify.Operator(r.Context(), r.PathValue("name"))
	return o.Redacted(), notifyErr(err)
}

func (s *Server) addOperator(_ http.ResponseWriter, r *http.Request) (any, error) {
	var o model.Operator
	if err := decode(r, &o); err != nil {
		return nil, err
	}
	o, err := s.m.Notify.PutOperator(r.Context(), o, true)
	return o.Redacted(), notifyErr(err)
}

// patch decodes the body of a PATCH over the stored document named by the path: fields sent
// change, the others stay (a redacted webhook URL shown by GET is never written back unless
// sent). A different name in the body is refused: renaming is add and delete.
func patch[T any](r *http.Request, what string, get func(context.Context, string) (T, error), nameOf func(T) string,
	put func(context.Context, T, bool) (T, error)) (T, error) {
	name := r.PathValue("name")
	v, err := get(r.Context(), name)
	if err != nil {
		return v, notifyErr(err)
	}
	if err := decode(r, &v); err != nil {
		return v, err
	}
	if !strings.EqualFold(strings.TrimSpace(nameOf(v)), strings.TrimSpace(name)) {
		return v, fmt.Errorf("%w: an %s cannot be renamed (%q to %q): add the new one and delete the old", master.ErrInvalid, what, name, nameOf(v))
	}
	v, err = put(r.Context(), v, false)
	return v, notifyErr(err)
}

func (s *Server) updateOperator(_ http.ResponseWriter, r *http.Request) (any, error) {
	o, err := patch(r, "operator", s.m.Notify.Operator, func(o model.Operator) string { return o.Name }, s.m.Notify.PutOperator)
	if err != nil {
		return nil, err
	}
	return o.Redacted(), nil
}

func (s *Server) deleteOperator(_ http.ResponseWriter, r *http.Request) (any, error) {
	return nil, notifyErr(s.m.Notify.DeleteOperator(r.Context(), r.PathValue("name")))
}

func (s *Server) testOperator(_ http.ResponseWriter, r *http.Request) (any, error) {
	ds, err := s.m.Notify.TestOperator(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, notifyErr(err)
	}
	return ds, nil
}

func (s *Server) listAlerts(_ http.ResponseWriter, r *http.Request) (any, error) {
	as, err := s.m.Notify.Alerts(r.Context())
	return nonNil(as), err
}

func (s *Server) getAlert(_ http.ResponseWriter, r *http.Request) (any, error) {
	a, err := s.m.Notify.Alert(r.Context(), r.PathValue("name"))
	return a, notifyErr(err)
}

func (s *Server) addAlert(_ http.ResponseWriter, r *http.Request) (any, error) {
	var a model.Alert
	if err := decode(r, &a); err != nil {
		return nil, err
	}
	a, err := s.m.Notify.PutAlert(r.Context(), a, true)
	return a, notifyErr(err)
}

func (s *Server) updateAlert(_ http.ResponseWriter, r *http.Request) (any, error) {
	a, err := patch(r, "alert", s.m.Notify.Alert, func(a model.Alert) string { return a.Name }, s.m.Notify.PutAlert)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Server) deleteAlert(_ http.ResponseWriter, r *http.Request) (any, error) {
	return nil, notifyErr(s.m.Notify.DeleteAlert(r.Context(), r.PathValue("name")))
}

func (s *Server) listSilences(_ http.ResponseWriter, r *http.Request) (any, error) {
	v, err := s.m.Notify.Silences(r.Context())
	return nonNil(v), err
}

// SilenceRequest is the body of POST /api/v1/silences.
type SilenceRequest struct {
	Server string `json:"server,omitempty"`
	Job    string `json:"job,omitempty"`
	// For is a Go duration: "2h", "30m".
	For    string `json:"for"`
	Reason string `json:"reason,omitempty"`
}

func (s *Server) addSilence(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req SilenceRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(req.For)
	if err != nil {
		return nil, fmt.Errorf("%w: for %q: give how long the silence lasts as a duration such as 2h or 30m", master.ErrInvalid, req.For)
	}
	return s.m.Notify.AddSilence(r.Context(), req.Server, req.Job, d, req.Reason, who(r.Context()))
}

func (s *Server) deleteSilence(_ http.ResponseWriter, r *http.Request) (any, error) {
	return nil, notifyErr(s.m.Notify.DeleteSilence(r.Context(), r.PathValue("id")))
}

func (s *Server) notifications(_ http.ResponseWriter, r *http.Request) (any, error) {
	n := 100
	if v := r.URL.Query().Get("last"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("%w: last=%q: give a number of records from 1 to 10000", master.ErrInvalid, v)
		}
	}
	return s.m.Notify.Deliveries(r.Context(), n)
}
