package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target"
)

// fleet is N target agents running in this process, each target.Run in its own goroutine with
// its own data directory and NATS connection.
type fleet struct {
	names    []string
	toks     []string // subject tokens, same order as names
	launched time.Time
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu   sync.Mutex
	errs map[string]error // targets whose Run returned early
}

// heartbeatInterval keeps heartbeats out of the figures: the master still reconciles on each.
const heartbeatInterval = 30 * time.Second

// startTargets creates one enlistment token per name (not timed), then starts the agents.
func (e *env) startTargets(ctx context.Context, names []string) (*fleet, error) {
	f := &fleet{names: names, errs: map[string]error{}}
	tokens := make([]string, len(names))
	for i, n := range names {
		tok, _, err := e.m.Tokens.Create(ctx, auth.RoleEnlist, 4*time.Hour, "msx bench", "msx bench target "+n)
		if err != nil {
			return nil, fmt.Errorf("create enlistment token for %s: %w", n, err)
		}
		tokens[i] = tok
		f.toks = append(f.toks, jobs.ServerToken(n))
	}
	rctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.launched = time.Now()
	for i, n := range names {
		cfg := target.Config{Name: n, Location: "msx bench", NATSURL: e.url, Token: tokens[i],
			DataDir: filepath.Join(e.cfg.Dir, "targets", n), HeartbeatInterval: heartbeatInterval, Logger: e.log}
		if e.cfg.Insecure {
			cfg.Encrypt = bus.ModeNone
		} else {
			cfg.CAFile = e.ca
		}
		// Launched as dial slots free up: the slot is given back when the target's first
		// connection is up (or it stops), so at most Config.Dials handshakes run at once.
		release, err := e.dialSlot(ctx)
		if err != nil {
			cancel()
			f.wg.Wait()
			return nil, err
		}
		cfg.ConnOptions = []nats.Option{nats.ConnectHandler(func(*nats.Conn) { release() })}
		f.wg.Go(func() {
			defer release()
			if err := target.Run(rctx, cfg); err != nil && rctx.Err() == nil {
				e.log.Error("target stopped", "server", n, "err", err)
				f.mu.Lock()
				f.errs[n] = err
				f.mu.Unlock()
			}
		})
	}
	return f, nil
}

// failed returns the first error of a target that stopped, if any.
func (f *fleet) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, err := range f.errs {
		return fmt.Errorf("%d target(s) stopped, e.g. %s: %w", len(f.errs), n, err)
	}
	return nil
}

// stop cancels every agent and waits for them.
func (f *fleet) stop() {
	if f == nil {
		return
	}
	f.cancel()
	f.wg.Wait()
}

func targetNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i+1)
	}
	return out
}
