// Command msx is multiserver job administration for SQL Server fleets on NATS JetStream:
// `msx up` runs a whole system on one machine, `msx master` and `msx target` run the two roles,
// and the other verbs talk to a master's API.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "msx:", EscapeLines(err.Error()))
		}
		os.Exit(exitCode(err))
	}
}
