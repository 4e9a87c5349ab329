package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
)

// metricsFlags are the Prometheus flags of `msx master` and `msx up`.
type metricsFlags struct {
	listen        string
	noServerLabel bool
	missedGrace   time.Duration
}

func (f *metricsFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.listen, "metrics-listen", "", "also serve Prometheus /metrics on this host:port, without a token (the API's /metrics needs a viewer token)")
	cmd.Flags().BoolVar(&f.noServerLabel, "metrics-no-server-label", false, "drop the per-target label from the job series (aggregate over targets) and the per-target series: for very large fleets")
	cmd.Flags().DurationVar(&f.missedGrace, "metrics-missed-grace", master.DefaultMissedGrace, "how long after a scheduled time a run that has not started counts as missed")
}

func (f *metricsFlags) options() master.MetricsOptions {
	return master.MetricsOptions{NoServerLabel: f.noServerLabel, MissedGrace: f.missedGrace}
}

// serve starts the --metrics-listen server, if asked for; it returns nil without the flag.
func (f *metricsFlags) serve(m *master.Master, log *slog.Logger) (*http.Server, error) {
	if f.missedGrace <= 0 {
		return nil, fmt.Errorf("--metrics-missed-grace %s: give a positive duration, e.g. 5m", f.missedGrace)
	}
	if f.listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w (use --metrics-listen to choose another address)", f.listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", api.MetricsHandler(m, log))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving Prometheus metrics without a token", "url", "http://"+ln.Addr().String()+"/metrics")
	return srv, nil
}
