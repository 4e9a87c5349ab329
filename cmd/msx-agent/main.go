// Command msx-agent is the msx target agent alone: `msx target` without the rest of msx. Run it
// on each SQL Server host: it enlists once with an enlistment token, then runs the jobs its
// master sends. It links nothing of the master (no embedded NATS server, Prometheus, SMTP or web
// console), so it is smaller on disk and uses less memory than `msx target`, which runs the same
// code (cmd/internal/agentcmd).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/msx-project/msx/cmd/internal/agentcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var data, token string
	var debug bool
	logger := func(w io.Writer) *slog.Logger { return agentcmd.NewLogger(debug, w) }
	cmd := agentcmd.New("msx-agent", agentcmd.Globals{Data: &data, Token: &token, Logger: logger})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	pf := cmd.PersistentFlags()
	pf.StringVar(&data, "data", agentcmd.EnvOr("MSX_DATA", "./msx-data"), "data directory (env MSX_DATA)")
	pf.StringVar(&token, "token", os.Getenv("MSX_TOKEN"), "enlistment token, needed once (env MSX_TOKEN)")
	pf.BoolVar(&debug, "debug", false, "log at debug level")
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "msx-agent:", err)
		os.Exit(1)
	}
}
