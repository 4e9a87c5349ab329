// Package bustest starts real in-process NATS JetStream servers for tests: a single node, and a
// three-node cluster on loopback.
package bustest

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
)

// Logger returns a logger that writes to the test log at warn level and above.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(string(p))
	return len(p), nil
}

// RunServer starts a single JetStream node with its store in dir (a new temp dir when empty) on
// a random loopback port, and shuts it down when the test ends.
func RunServer(tb testing.TB, dir string) *bus.Server {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := bus.StartServer(ctx, bus.ServerConfig{StoreDir: dir, Logger: Logger(tb)})
	if err != nil {
		tb.Fatalf("start JetStream server: %v", err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}

// Connect opens a client connection to s and closes it when the test ends.
func Connect(tb testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatalf("connect %s: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// Cluster is a three-node JetStream cluster on loopback.
type Cluster struct {
	Servers []*bus.Server
	auth    *bus.Auth
	dirs    []string
	ports   []int
	cports  []int
}

// ClusterOptions configures RunClusterWith.
type ClusterOptions struct {
	// Auth, when set, authenticates clients on every node as the embedded server does (targets
	// connect with nkeys, which a node without authentication refuses).
	Auth *bus.Auth
}

// RunCluster starts a three-node JetStream cluster and shuts it down when the test ends.
func RunCluster(tb testing.TB) *Cluster { return RunClusterWith(tb, ClusterOptions{}) }

// RunClusterWith starts a three-node JetStream cluster with options.
func RunClusterWith(tb testing.TB, opts ClusterOptions) *Cluster {
	tb.Helper()
	c := &Cluster{auth: opts.Auth}
	for i := 0; i < 3; i++ {
		c.dirs = append(c.dirs, filepath.Join(tb.TempDir(), fmt.Sprintf("n%d", i)))
		c.ports = append(c.ports, FreePort(tb))
		c.cports = append(c.cports, FreePort(tb))
	}
	c.Servers = make([]*bus.Server, 3)
	for i := range 3 {
		c.start(tb, i)
	}
	tb.Cleanup(func() {
		for _, s := range c.Servers {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	for _, s := range c.Servers {
		if err := waitJSReady(s.Server); err != nil {
			tb.Fatal(err)
		}
	}
	if err := c.waitPeers(); err != nil {
		tb.Fatal(err)
	}
	return c
}

// waitPeers waits until the JetStream meta leader counts every node as an online peer with
// its stats: before that, R3 state cannot be placed (10005 "no suitable peers for placement"),
// though every node says it is current.
func (c *Cluster) waitPeers() error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range c.Servers {
			if len(s.JetStreamClusterPeers()) == len(c.Servers) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("cluster of %d nodes: the meta leader does not count every node as a JetStream peer after 30s", len(c.Servers))
}

// URL returns a comma separated list of all node URLs.
func (c *Cluster) URL() string {
	u := ""
	for i, p := range c.ports {
		if i > 0 {
			u += ","
		}
		u += fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	return u
}

// Stop shuts node i down.
func (c *Cluster) Stop(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i] = nil
}

// Restart starts node i again on the same ports and store.
func (c *Cluster) Restart(tb testing.TB, i int) {
	tb.Helper()
	c.start(tb, i)
}

func (c *Cluster) start(tb testing.TB, i int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var routes []string
	for j, p := range c.cports {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
		}
	}
	s, err := bus.StartServer(ctx, bus.ServerConfig{
		Listen: fmt.Sprintf("127.0.0.1:%d", c.ports[i]), StoreDir: c.dirs[i], Name: fmt.Sprintf("n%d", i),
		Logger: Logger(tb), Auth: c.auth,
		Customize: func(o *server.Options) error {
			o.Cluster.Name = "msxtest"
			o.Cluster.Host = "127.0.0.1"
			o.Cluster.Port = c.cports[i]
			o.Routes = server.RoutesFromStr(joinComma(routes))
			return nil
		},
	})
	if err != nil {
		tb.Fatalf("start cluster node %d: %v", i, err)
	}
	c.Servers[i] = s
}

func waitJSReady(s *server.Server) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s.JetStreamIsCurrent() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("cluster node %s: JetStream not current after 30s", s.Name())
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

// Ports FreePort hands out: below every usual ephemeral range (Linux 32768-60999, Windows and
// the BSDs 49152-65535), so that no outgoing connection is given one.
const freePortLow, freePortHigh = 20000, 32767

// FreePort returns a loopback TCP port that was free a moment ago, for a server that must know
// its port before it starts (the nodes of a cluster name each other's routes). It is taken
// below the ephemeral range, from a random start: a port of that range can be taken between
// this check and the server's bind by any outgoing connection of a test running in parallel
// (seen in CI: a route's port, "address already in use"); one below it only by a test that
// picked the same port.
func FreePort(tb testing.TB) int {
	tb.Helper()
	n := freePortHigh - freePortLow + 1
	start := rand.IntN(n)
	for i := range n {
		p := freePortLow + (start+i)%n
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	tb.Fatalf("no free loopback port from %d to %d", freePortLow, freePortHigh)
	return 0
}

// ServeInstrConsumers answers instruction consumer requests (msx.rpc.consumer.<t>) on nc as the
// master does, without checking signatures, for tests of targets without a master. It stops
// when the test ends.
func ServeInstrConsumers(tb testing.TB, nc *nats.Conn) {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	slots := make(chan struct{}, 32) // as many at once as the master answers
	var wg sync.WaitGroup
	sub, err := nc.Subscribe(bus.SubjectConsumer+".*", func(msg *nats.Msg) {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			serveInstrConsumer(js, msg)
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = sub.Unsubscribe()
		wg.Wait()
	})
}

func serveInstrConsumer(js jetstream.JetStream, msg *nats.Msg) {
	rep := &schemas.ConsumerReply{}
	var req schemas.ConsumerRequest
	tok, err := bus.TargetFromConsumerSubject(msg.Subject)
	if err == nil {
		err = schemas.Decode(msg.Data, &req)
	}
	var cfg jetstream.ConsumerConfig
	if err == nil {
		cfg, err = bus.InstrConsumerConfig(tok, req.StartSeq)
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var s jetstream.Stream
		if s, err = js.Stream(ctx, bus.StreamInstr); err == nil {
			err = bus.ReplaceConsumer(ctx, s, cfg)
		}
	}
	if err != nil {
		rep.Error = &schemas.Error{Code: 50000, Message: err.Error()}
	} else {
		rep.Stream, rep.Consumer, rep.StartSeq = bus.StreamInstr, cfg.Name, cfg.OptStartSeq
	}
	b, _ := schemas.Encode(rep)
	_ = msg.Respond(b)
}

// FastStallChecks makes the stall detection of followers and watchers (bus.StallCheck,
// bus.StallAfter) fast for the test, and restores it when the test ends. Tests that use it must
// not run in parallel with others that depend on it.
func FastStallChecks(tb testing.TB) {
	check, after := bus.StallCheck, bus.StallAfter
	bus.StallCheck, bus.StallAfter = 200*time.Millisecond, time.Second
	tb.Cleanup(func() { bus.StallCheck, bus.StallAfter = check, after })
}
