package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/target"
)

// masterFlags are shared by `msx up` and `msx master`.
type masterFlags struct {
	httpAddr       string
	natsAddr       string
	natsURL        string
	name           string
	tlsCert        string
	tlsKey         string
	tlsNames       []string
	ca             string
	allowPlaintext bool
	replicas       int
	clusterListen  string
	clusterName    string
	routes         []string
	metrics        metricsFlags
	notify         notifyFlags
	// shared, set by `msx up --masters`, is the directory holding what the masters of one
	// cluster share: the master key (master.nk) and the CA with the bus certificate (tls/).
	// Their routes then use TLS verified against that CA.
	shared string
}

func (f *masterFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.httpAddr, "http", "127.0.0.1:8080", "listen address of the API")
	f.metrics.bind(cmd)
	cmd.Flags().StringVar(&f.natsAddr, "nats", "127.0.0.1:4222", "listen address of the embedded NATS server")
	cmd.Flags().StringVar(&f.name, "name", "", "the master's server name (default: host name)")
	cmd.Flags().StringVar(&f.tlsCert, "tls-cert", "", "the bus's TLS certificate (default: one issued by the master's own CA)")
	cmd.Flags().StringVar(&f.tlsKey, "tls-key", "", "the key of --tls-cert")
	cmd.Flags().StringSliceVar(&f.tlsNames, "tls-name", nil, "extra host names or addresses for the generated certificate (targets dial these)")
	cmd.Flags().StringVar(&f.ca, "ca", "", "CA certificate targets should trust with --tls-cert (default: the master's own CA)")
	cmd.Flags().BoolVar(&f.allowPlaintext, "allow-plaintext", false, "also accept targets with --encrypt none (not recommended)")
	cmd.Flags().IntVar(&f.replicas, "replicas", 0, "replicas of every stream and bucket (default: 3 on a cluster of 3 or more nodes, else 1)")
	cmd.Flags().StringVar(&f.clusterListen, "cluster-listen", "", "host:port for routes: the embedded NATS server clusters with the other masters' (--routes)")
	cmd.Flags().StringVar(&f.clusterName, "cluster-name", "msx", "NATS cluster name (the same on every node)")
	f.notify.bind(cmd)
	cmd.Flags().StringSliceVar(&f.routes, "routes", nil, "route URLs of the other masters' embedded NATS servers, nats://host:port,... (with --cluster-listen)")
}

// serverName is the embedded NATS server's name: "msx" alone, the master's name on a cluster
// (where every node needs its own).
func serverName(f *masterFlags) string {
	if f.clusterListen == "" {
		return "msx"
	}
	h, _ := os.Hostname()
	return cmp.Or(f.name, h)
}

// layout returns the stream layout: --replicas, or 3 on a cluster of 3 or more nodes.
func (f *masterFlags) layout(nodes int) (bus.Layout, error) {
	r := f.replicas
	if r == 0 {
		r = 1
		if nodes >= 3 {
			r = 3
		}
	}
	if r < 1 || r > 5 {
		return bus.Layout{}, fmt.Errorf("--replicas %d: use 1 to 5", r)
	}
	if r > nodes {
		return bus.Layout{}, fmt.Errorf("--replicas %d: the cluster has %d node(s)", r, nodes)
	}
	return bus.Layout{Replicas: r}, nil
}

// busTLS returns the server TLS options and the CA targets verify them with: the operator's
// files, or a CA and certificate the master makes on first start (and renews before expiry).
func busTLS(dir string, f *masterFlags) (bus.ServerTLSOptions, string, error) {
	if f.tlsCert == "" {
		names := append([]string{}, f.tlsNames...)
		if h, _, err := net.SplitHostPort(f.natsAddr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
			names = append(names, h)
		}
		opts, ca, err := bus.SelfSigned(filepath.Join(dir, "tls"), names)
		if err != nil {
			return bus.ServerTLSOptions{}, "", err
		}
		opts.AllowPlaintext = f.allowPlaintext
		return opts, ca.CertFile, nil
	}
	if f.tlsKey == "" || f.ca == "" {
		return bus.ServerTLSOptions{}, "", fmt.Errorf("--tls-cert needs --tls-key and --ca (the CA that issued it, for targets to trust)")
	}
	cfg, err := bus.ServerTLS(f.tlsCert, f.tlsKey)
	if err != nil {
		return bus.ServerTLSOptions{}, "", err
	}
	return bus.ServerTLSOptions{Config: cfg, AllowPlaintext: f.allowPlaintext}, f.ca, nil
}

// strictAPI reads MSX_API_VALIDATE: when true, the API checks its answers against its OpenAPI
// document (api.StrictHandler), as the browser tests of the console run it.
func strictAPI() (bool, error) {
	v := os.Getenv("MSX_API_VALIDATE")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("MSX_API_VALIDATE=%q: set it to 1 (check every API answer against the OpenAPI document) or 0, or unset it", v)
	}
	return b, nil
}

// masterProc is a running master process: NATS (embedded or external), master, API.
type masterProc struct {
	srv   *bus.Server
	m     *master.Master
	http  *http.Server
	url   string // NATS client URL
	api   string // API base URL
	token string // admin token
	ca    string // CA file targets verify the bus with
	nc    interface{ Close() }
	// metrics serves --metrics-listen, or is nil.
	metrics *http.Server
}

func startMaster(ctx context.Context, g *globals, f *masterFlags, log *slog.Logger) (*masterProc, error) {
	p := &masterProc{}
	strict, err := strictAPI()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(g.data, "master")
	p.url = f.natsURL
	var authn *bus.Auth
	var connOpts []nats.Option
	if p.url == "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		keyDir := cmp.Or(f.shared, dir)
		kp, err := bus.LoadOrCreateKey(filepath.Join(keyDir, "master.nk"))
		if err != nil {
			return nil, err
		}
		pub, _ := kp.PublicKey()
		authn = &bus.Auth{MasterKey: pub, Logger: log.With("component", "bus.auth")}
		opt, err := bus.NkeyOption(kp)
		if err != nil {
			return nil, err
		}
		connOpts = append(connOpts, opt)
		tlsOpts, caFile, err := busTLS(keyDir, f)
		if err != nil {
			return nil, err
		}
		p.ca = caFile
		if len(f.routes) > 0 && f.clusterListen == "" {
			return nil, fmt.Errorf("--routes needs --cluster-listen (this node's route address)")
		}
		cc := bus.ClusterConfig{Name: f.clusterName, Listen: f.clusterListen, Routes: f.routes}
		if f.shared != "" && f.clusterListen != "" {
			tdir := filepath.Join(f.shared, "tls")
			if cc.TLS, err = bus.RouteTLS(filepath.Join(tdir, bus.ServerCertFile), filepath.Join(tdir, bus.ServerKeyFile), caFile); err != nil {
				return nil, err
			}
		}
		srv, err := bus.StartServer(ctx, bus.ServerConfig{Listen: f.natsAddr, StoreDir: dir, Logger: log, Auth: authn, Customize: tlsOpts.Apply,
			Name: serverName(f), Cluster: cc})
		if err != nil {
			return nil, err
		}
		p.srv, p.url = srv, srv.ClientURL()
	} else {
		p.ca = f.ca
		unlock, err := bus.LockDir(dir)
		if err != nil {
			return nil, err
		}
		defer func() {
			if p.m == nil {
				unlock()
			}
		}()
	}
	clientTLS, err := bus.ClientTLS(bus.ModeVerify, p.ca, "", log)
	if err != nil {
		p.stop(context.Background())
		return nil, err
	}
	nc, err := bus.Connect(ctx, bus.ConnConfig{URL: p.url, Name: "msx-master", Logger: log, Options: append(clientTLS, connOpts...)})
	if err != nil {
		p.stop(context.Background())
		return nil, bus.ExplainTLS(err, p.url)
	}
	p.nc = nc
	// The API listens before the master starts: the leader publishes its address in the lease.
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		p.stop(context.Background())
		return nil, fmt.Errorf("API listen on %s: %w (use --http to choose another address)", f.httpAddr, err)
	}
	p.api = "http://" + ln.Addr().String()
	nodes := bus.ClusterConfig{Listen: f.clusterListen, Routes: f.routes}.Nodes()
	if f.natsURL != "" {
		nodes = len(nc.Servers()) // the URLs given and those the cluster announced
	}
	layout, err := f.layout(nodes)
	if err != nil {
		ln.Close()
		p.stop(context.Background())
		return nil, err
	}
	mcfg := master.Config{Name: f.name, Logger: log, Auth: authn, API: p.api, Layout: layout, Metrics: f.metrics.options()}
	if mcfg.Notify, err = f.notify.config(); err != nil {
		ln.Close()
		p.stop(context.Background())
		return nil, err
	}
	if p.ca != "" {
		if mcfg.CAFingerprint, err = bus.ShortFingerprintFile(p.ca); err != nil {
			ln.Close()
			p.stop(context.Background())
			return nil, err
		}
	}
	if p.m, err = startClustered(ctx, nc, mcfg, nodes > 1, log); err != nil {
		ln.Close()
		p.stop(context.Background())
		return nil, err
	}
	if p.token, err = p.m.Tokens.EnsureAdminFile(ctx, filepath.Join(dir, client.TokenFile)); err != nil {
		ln.Close()
		p.stop(context.Background())
		return nil, err
	}
	if err := securePrivateFiles(dir, log); err != nil {
		ln.Close()
		p.stop(context.Background())
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, client.URLFile), []byte(p.api+"\n"), 0o600); err != nil {
		ln.Close()
		p.stop(context.Background())
		return nil, err
	}
	if p.metrics, err = f.metrics.serve(p.m, log); err != nil {
		ln.Close()
		p.stop(context.Background())
		return nil, err
	}
	var h http.Handler = api.New(p.m, log) // its streams end with p.http's Shutdown (api.CloseStreams)
	if strict {
		if h, err = api.StrictHandler(h, log); err != nil {
			ln.Close()
			p.stop(context.Background())
			return nil, err
		}
		log.Warn("MSX_API_VALIDATE: every API answer is checked against the OpenAPI document; one that does not match is answered 500 (for tests: slower, and holds each answer in memory)")
	}
	p.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("API server stopped", "err", err)
		}
	}()
	return p, nil
}

// startClustered starts the master; on a cluster it retries while the cluster forms (JetStream
// has no meta leader, or too few nodes for the replicas yet), for up to five minutes. Each try
// gets further: the streams and buckets made so far stay.
func startClustered(ctx context.Context, nc *nats.Conn, cfg master.Config, clustered bool, log *slog.Logger) (*master.Master, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		// Short attempts: a JetStream request sent before the cluster has a meta leader is
		// never answered, and waiting longer for it does not help.
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := master.Start(sctx, nc, cfg)
		cancel()
		if err == nil || !clustered || ctx.Err() != nil || time.Now().After(deadline) {
			return m, err
		}
		log.Warn("master not started yet: waiting for the cluster", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// stop shuts the API, the master, the connection and the NATS server down, in that order.
func (p *masterProc) stop(ctx context.Context) {
	if p.metrics != nil {
		_ = p.metrics.Shutdown(ctx)
	}
	if p.http != nil {
		_ = p.http.Shutdown(ctx)
	}
	if p.m != nil {
		_ = p.m.Shutdown(ctx)
	}
	if p.nc != nil {
		p.nc.Close()
	}
	if p.srv != nil {
		p.srv.Shutdown()
	}
}

func newMaster(g *globals) *cobra.Command {
	f := &masterFlags{}
	cmd := &cobra.Command{
		Use: "master", Short: "Run a master: embedded NATS JetStream (or --nats-url), API", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := g.logger(cmd.ErrOrStderr())
			data, note, err := masterData(g.data)
			if err != nil {
				return err
			}
			if note != "" {
				log.Warn(note)
			}
			g.data = data
			p, err := startMaster(cmd.Context(), g, f, log)
			if err != nil {
				return err
			}
			log.Info("master running", "api", p.api, "nats", bus.Redact(p.url), "admin_token_file", filepath.Join(g.data, "master", client.TokenFile))
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p.stop(ctx)
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&f.shared, "shared", "", "directory of the key and CA shared by the masters `msx up --masters` starts (routes then use TLS)")
	_ = cmd.Flags().MarkHidden("shared")
	cmd.Flags().StringVar(&f.natsURL, "nats-url", "", "use an external NATS JetStream (cluster) instead of the embedded server: one URL or several, comma separated (its operator configures authentication; --ca verifies it)")
	return cmd
}

func newUp(g *globals) *cobra.Command {
	f := &masterFlags{}
	var n, masters int
	var heartbeat time.Duration
	var noExamples, printToken bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole system on this machine: NATS JetStream, a master, N target agents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 0 || n > 10000 {
				return fmt.Errorf("--targets %d: use 0 to 10000", n)
			}
			if err := os.MkdirAll(g.data, 0o700); err != nil {
				return err
			}
			logPath := filepath.Join(g.data, "msx.log")
			lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("open log %s: %w", logPath, err)
			}
			defer lf.Close()
			log := g.logger(lf)
			ctx := cmd.Context()
			if masters != 0 {
				return runUpMasters(ctx, g, f, masters, n, heartbeat, noExamples, printToken, log, logPath, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			p, err := startMaster(ctx, g, f, log)
			if err != nil {
				return err
			}
			names, stopTargets, err := upTargets(g, n, target.Config{NATSURL: p.url, HeartbeatInterval: heartbeat, Logger: log, CAFile: p.ca},
				func(name string) (string, error) {
					tok, _, err := p.m.Tokens.Create(ctx, auth.RoleEnlist, time.Hour, "msx up", "msx up target "+name)
					return tok, err
				}, cmd.ErrOrStderr())
			if err != nil {
				p.stop(context.Background())
				return err
			}
			if !noExamples && n > 0 {
				if err := waitEnlisted(ctx, p.m, names); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "msx: example jobs not loaded: %v\n", err)
				} else if err := loadExamples(ctx, p.m, names); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "msx: example jobs not loaded: %v\n", err)
				}
			}
			banner(cmd.OutOrStdout(), g, p, n, logPath, printToken)
			<-ctx.Done()
			fmt.Fprintln(cmd.OutOrStdout(), "\nstopping: targets, API, master, NATS ...")
			stopTargets()
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p.stop(sctx)
			fmt.Fprintln(cmd.OutOrStdout(), "stopped. Run `msx up` again to resume the same fleet.")
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().IntVar(&masters, "masters", 0, "run this many masters (3 or more), each with its own NATS node, clustered over TLS routes: one leads, the others take over if it fails")
	cmd.Flags().IntVar(&n, "targets", 3, "number of target agents (SQL01, SQL02, ...) each with an embedded SQLite database")
	cmd.Flags().DurationVar(&heartbeat, "heartbeat", 0, "heartbeat interval of the targets (default: their poll interval, 60s)")
	cmd.Flags().BoolVar(&noExamples, "no-examples", false, "do not load the example jobs into a new fleet")
	cmd.Flags().BoolVar(&printToken, "print-token", false, "print the admin token; by default only its file is named (the console asks for a token, never in a link)")
	return cmd
}

// upTargets starts n target agents SQL01.. in this process, each in DATA/targets/NAME, from
// the template cfg (bus URLs, CA, heartbeat, log); one not enlisted yet gets a token from
// newToken. stop cancels them all and waits for them.
func upTargets(g *globals, n int, cfg target.Config, newToken func(name string) (string, error), errOut io.Writer) (names []string, stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop = func() { cancel(); wg.Wait() }
	for i := 1; i <= n; i++ {
		c := cfg
		c.Name, c.Location, c.DataDir = fmt.Sprintf("SQL%02d", i), "msx up", filepath.Join(g.data, "targets", fmt.Sprintf("SQL%02d", i))
		names = append(names, c.Name)
		if _, err := os.Stat(filepath.Join(c.DataDir, "target.db")); err != nil {
			if c.Token, err = newToken(c.Name); err != nil {
				stop()
				return nil, nil, fmt.Errorf("enlistment token for %s: %w", c.Name, err)
			}
		}
		wg.Go(func() {
			if err := target.Run(ctx, c); err != nil && ctx.Err() == nil {
				c.Logger.Error("target stopped", "server", c.Name, "err", err)
				fmt.Fprintf(errOut, "msx: target %s stopped: %v\n", c.Name, err)
			}
		})
	}
	return names, stop, nil
}

// waitEnlisted waits until every named target is enlisted.
func waitEnlisted(ctx context.Context, m *master.Master, names []string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := ""
		for _, n := range names {
			if _, ok := m.Reg.Target(n); !ok {
				missing = n
				break
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("target %s did not enlist within 60s (see the log)", missing)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func banner(w io.Writer, g *globals, p *masterProc, n int, logPath string, printToken bool) {
	tokenFile := filepath.Join(g.data, "master", client.TokenFile)
	// The admin token is not printed unless asked, and never in a link: terminal output ends
	// up in scrollback, screen shares and CI logs, and a URL in browser history. The console
	// asks for a token once (the admin token's file, or `msx token create --role viewer`).
	dash := p.api + "/  (sign in with the admin token in " + tokenFile + ", or one from `msx token create --role viewer`)"
	tok := tokenFile + " (not printed; use --print-token to show it)"
	if printToken {
		tok = p.token + " (in " + tokenFile + ")"
	}
	fmt.Fprintf(w, `msx is up: master %s, %d target agent(s) (SQL01..), embedded NATS JetStream.

  console      %s
  API          %s
  NATS         %s
  admin token  %s
  bus CA       %s (TLS with verification; enlistment tokens carry its fingerprint)
  data         %s
  log          %s

Next, in another terminal in this folder:
  msx targetserver list
  msx job list && msx job history "Multi-step with retry and go-to-step"
  msx events
  msx token create
  msx group add PROD && msx group addmember PROD SQL01
  msx targetserver setpoll SQL01 30
  msx downloadlist

Ctrl-C stops everything; running it again resumes the same fleet.
`, p.m.Name(), n, dash, p.api, bus.Redact(p.url), tok, p.ca, g.data, logPath)
}
