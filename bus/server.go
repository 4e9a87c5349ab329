package bus

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the embedded NATS JetStream server. The zero value listens on
// 127.0.0.1 on a random port with its store in a directory the caller must set.
type ServerConfig struct {
	// Listen is host:port for clients; default "127.0.0.1:-1" (a random port).
	Listen string
	// StoreDir is the JetStream store. Required. It is locked for the life of the server.
	StoreDir string
	// Name is the server name; default "msx".
	Name string
	// MaxConsumers per stream; default 100,000 (nats-server caps it at 1,000 unless set, and
	// every target's consumer and every KV watcher counts).
	MaxConsumers int
	// Logger receives the server's log lines; default slog.Default().
	Logger *slog.Logger
	// Auth, when set, authenticates every client by nkey and applies least-privilege
	// permissions (see Auth). Nil: no authentication (tests, trusted networks).
	Auth *Auth
	// Cluster, when its Listen is set, makes the server a node of a NATS cluster with the other
	// masters' nodes (routes); JetStream then runs clustered.
	Cluster ClusterConfig
	// Customize, when set, may change the server options before start (TLS).
	Customize func(*server.Options) error
}

// ClusterConfig makes an embedded server a node of a NATS cluster.
type ClusterConfig struct {
	// Name of the cluster; default "msx". Every node must use the same.
	Name string
	// Listen is host:port for routes from the other nodes. Empty: no cluster.
	Listen string
	// Routes are the other nodes' route URLs (nats://host:port).
	Routes []string
	// TLS, when set, encrypts the routes and admits only peers it verifies (see RouteTLS).
	// Nil: routes in plain text, for a cluster on a trusted network only.
	TLS *tls.Config
}

// Nodes returns the number of nodes the cluster is configured with (1 without a cluster).
func (c ClusterConfig) Nodes() int {
	if c.Listen == "" {
		return 1
	}
	return 1 + len(c.Routes)
}

func (c ClusterConfig) apply(o *server.Options) error {
	if c.Listen == "" {
		return nil
	}
	h, p, err := splitListen(c.Listen)
	if err != nil {
		return fmt.Errorf("cluster listen: %w", err)
	}
	o.Cluster.Name, o.Cluster.Host, o.Cluster.Port = cmp.Or(c.Name, "msx"), h, p
	for _, r := range c.Routes {
		u, err := url.Parse(strings.TrimSpace(r))
		if err != nil || u.Host == "" {
			return fmt.Errorf("route %q: want nats://host:port", r)
		}
		o.Routes = append(o.Routes, u)
	}
	if c.TLS != nil {
		o.Cluster.TLSConfig = c.TLS
		o.Cluster.TLSTimeout = 5
	}
	return nil
}

// Server is a running embedded NATS JetStream server.
type Server struct {
	*server.Server
	unlock func()
	auth   *serverAuth // nil without Auth
}

// StartServer starts an embedded NATS JetStream server and waits until JetStream answers.
// It fails with ErrDirLocked when another process holds StoreDir, and with
// ErrJetStreamUnavailable when JetStream cannot start (the stock nats-server logger would have
// called os.Exit instead).
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, fmt.Errorf("start NATS: a store directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	host, port, err := splitListen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	unlock, err := LockDir(cfg.StoreDir)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName:         cmp.Or(cfg.Name, "msx"),
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           filepath.Join(cfg.StoreDir, "jetstream"),
		NoSigs:             true,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 256 << 20,
		// A nonce in every INFO: an enlisted target dials with its key even where the bus has no
		// authentication (tests, msx bench --insecure); nats.go refuses to connect otherwise.
		AlwaysEnableNonce: true,
	}
	opts.JetStreamLimits.DefaultMaxConsumers = cmp.Or(cfg.MaxConsumers, MaxConsumers)
	var sa *serverAuth
	if cfg.Auth != nil {
		sa = &serverAuth{a: cfg.Auth}
		opts.CustomClientAuthentication = sa
	}
	if err := cfg.Cluster.apply(opts); err != nil {
		unlock()
		return nil, fmt.Errorf("start NATS: %w", err)
	}
	if cfg.Customize != nil {
		if err := cfg.Customize(opts); err != nil {
			unlock()
			return nil, fmt.Errorf("start NATS: %w", err)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("start NATS: %w", err)
	}
	s.SetLoggerV2(&slogAdapter{l: cfg.Logger.With("component", "nats-server")}, false, false, false)
	go s.Start()
	deadline := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !s.ReadyForConnections(deadline) {
		s.Shutdown()
		unlock()
		return nil, fmt.Errorf("start NATS on %s: not ready after %s (is the port in use?)", net.JoinHostPort(host, strconv.Itoa(port)), deadline)
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		unlock()
		return nil, fmt.Errorf("start NATS with store %s: check free space and permissions: %w", opts.StoreDir, ErrJetStreamUnavailable)
	}
	if sa != nil {
		sa.ready(s)
		cfg.Auth.attach(sa)
	}
	return &Server{Server: s, unlock: unlock, auth: sa}, nil
}

// Shutdown stops the server, waits for it and releases the store lock. It is idempotent.
func (s *Server) Shutdown() {
	if s.auth != nil {
		s.auth.a.detach(s.auth)
	}
	s.Server.Shutdown()
	s.Server.WaitForShutdown()
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}

func splitListen(listen string) (string, int, error) {
	if listen == "" {
		return "127.0.0.1", -1, nil
	}
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("NATS listen address %q: want host:port, e.g. 127.0.0.1:4222: %w", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("NATS listen address %q: port must be a number", listen)
	}
	return h, port, nil
}

// slogAdapter sends nats-server log lines to slog. Fatalf logs at error level and does not exit:
// an embedded server must never end the process it lives in.
type slogAdapter struct{ l *slog.Logger }

var _ server.Logger = (*slogAdapter)(nil)

func (a *slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Fatalf(f string, v ...any)  { a.l.Error("fatal: " + fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Debugf(f string, v ...any)  {}
func (a *slogAdapter) Tracef(f string, v ...any)  {}
