package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
)

// routeMetrics serves the master's Prometheus metrics at GET /metrics to any API token (a
// viewer token is enough). Prometheus passes it with `authorization: {credentials_file: ...}`;
// `msx master --metrics-listen` serves the same metrics without a token on another address.
func (s *Server) routeMetrics() {
	metrics := MetricsHandler(s.m, s.log)
	s.handle("GET /metrics", auth.RoleViewer, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		if _, ok := s.checkToken(ctx, w, r, "no API token: pass a viewer token as `Authorization: Bearer TOKEN` (in Prometheus: authorization.credentials_file), or scrape the master's --metrics-listen address, which needs none"); ok {
			metrics.ServeHTTP(w, r)
		}
	})
}

// MetricsHandler serves m's Prometheus registry (master.Master.Metrics) without any token
// check: for a listener of its own. A failure to collect is logged on log and answered 500,
// never a partial page; more than four scrapes at once are answered 503.
func MetricsHandler(m *master.Master, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.Metrics(), promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError), MaxRequestsInFlight: 4})
}
