package bench

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
)

// env is the bus and the master of one benchmark run.
type env struct {
	cfg     Config
	log     *slog.Logger
	srv     *bus.Server
	url     string
	ca      string // CA file targets verify the bus with; "" when insecure
	key     nkeys.KeyPair
	authn   *bus.Auth
	nc      *nats.Conn // the master's connection
	m       *master.Master
	obs     *nats.Conn // the benchmark's observer connection (master identity)
	obsJS   jetstream.JetStream
	rec     *recorder
	subs    []*nats.Subscription
	masterN string
	// dials holds one slot per connection being opened (Config.Dials).
	dials chan struct{}
}

// startEnv starts the embedded server, the master and the observer. Secure mode is what
// `msx up` runs: TLS with a generated CA and nkey authentication with least-privilege targets.
func startEnv(ctx context.Context, cfg Config, log *slog.Logger) (*env, error) {
	e := &env{cfg: cfg, log: log, masterN: "MSXBENCH", dials: make(chan struct{}, max(cfg.Dials, 1))}
	var customize func(*server.Options) error
	if !cfg.Insecure {
		opts, ca, err := bus.SelfSigned(filepath.Join(cfg.Dir, "master", "tls"), nil)
		if err != nil {
			return nil, err
		}
		e.ca = ca.CertFile
		customize = opts.Apply
		if e.key, err = nkeys.CreateUser(); err != nil {
			return nil, err
		}
		pub, _ := e.key.PublicKey()
		e.authn = &bus.Auth{MasterKey: pub, Logger: log.With("component", "bus.auth")}
	}
	srv, err := bus.StartServer(ctx, bus.ServerConfig{StoreDir: filepath.Join(cfg.Dir, "master"), Logger: log, Auth: e.authn, Customize: customize})
	if err != nil {
		return nil, err
	}
	e.srv, e.url = srv, srv.ClientURL()
	if e.nc, err = e.connect(ctx, "msx-master"); err != nil {
		e.stop()
		return nil, err
	}
	if e.m, err = master.Start(ctx, e.nc, master.Config{Name: e.masterN, Logger: log, Auth: e.authn}); err != nil {
		e.stop()
		return nil, err
	}
	if e.obs, err = e.connect(ctx, "msx-bench-observer"); err != nil {
		e.stop()
		return nil, err
	}
	if e.obsJS, err = jetstream.New(e.obs, jetstream.WithPublishAsyncMaxPending(max(4000, 2*cfg.Targets))); err != nil {
		e.stop()
		return nil, err
	}
	e.rec = newRecorder()
	for subj, h := range map[string]nats.MsgHandler{"msx.applied.>": e.rec.onApplied, "msx.result.>": e.rec.onResult} {
		sub, err := e.obs.Subscribe(subj, h)
		if err != nil {
			e.stop()
			return nil, err
		}
		// The observer must never be the bottleneck nor drop messages.
		_ = sub.SetPendingLimits(-1, -1)
		e.subs = append(e.subs, sub)
	}
	return e, nil
}

// connect dials the bus with the master's identity (secure mode) or plainly.
func (e *env) connect(ctx context.Context, name string) (*nats.Conn, error) {
	var opts []nats.Option
	if !e.cfg.Insecure {
		tlsOpts, err := bus.ClientTLS(bus.ModeVerify, e.ca, "", e.log)
		if err != nil {
			return nil, err
		}
		nk, err := bus.NkeyOption(e.key)
		if err != nil {
			return nil, err
		}
		opts = append(tlsOpts, nk)
	}
	release, err := e.dialSlot(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", name, err)
	}
	defer release()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nc, err := bus.Connect(cctx, bus.ConnConfig{URL: e.url, Name: name, Logger: e.log, Options: opts})
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", name, err)
	}
	return nc, nil
}

// dialSlot waits for one of the Config.Dials slots; release gives it back (once, whoever
// calls it first).
func (e *env) dialSlot(ctx context.Context) (release func(), err error) {
	select {
	case e.dials <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() { once.Do(func() { <-e.dials }) }, nil
}

// stop shuts everything down in reverse order. It is safe on a partly started env.
func (e *env) stop() {
	for _, s := range e.subs {
		_ = s.Unsubscribe()
	}
	if e.obs != nil {
		e.obs.Close()
	}
	if e.m != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_ = e.m.Shutdown(ctx)
		cancel()
	}
	if e.nc != nil {
		e.nc.Close()
	}
	if e.srv != nil {
		e.srv.Shutdown()
	}
}
