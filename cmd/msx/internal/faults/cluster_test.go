//go:build faults

package faults_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

// authCluster is a three-node JetStream cluster on loopback whose nodes authenticate clients
// with the master's bus.Auth, as the embedded server does: targets run on their own nkeys,
// which a cluster without authentication refuses ("nkeys not supported by the server"), so
// bustest.RunCluster cannot carry a fleet.
type authCluster struct {
	servers []*bus.Server
	dirs    []string
	ports   []int
	cports  []int
	auth    *bus.Auth
	key     nkeys.KeyPair
}

func runAuthCluster(tb testing.TB) *authCluster {
	tb.Helper()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	c := &authCluster{key: kp, auth: &bus.Auth{MasterKey: pub, Logger: bustest.Logger(tb)}}
	for i := range 3 {
		c.dirs = append(c.dirs, filepath.Join(tb.TempDir(), fmt.Sprintf("n%d", i)))
		c.ports = append(c.ports, freePort(tb))
		c.cports = append(c.cports, freePort(tb))
	}
	c.servers = make([]*bus.Server, 3)
	for i := range 3 {
		c.start(tb, i)
	}
	tb.Cleanup(func() {
		for _, s := range c.servers {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	waitFor(tb, patience, "cluster JetStream current", func() bool {
		for _, s := range c.servers {
			if !s.JetStreamIsCurrent() {
				return false
			}
		}
		return true
	})
	return c
}

func (c *authCluster) start(tb testing.TB, i int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var routes []string
	for j, p := range c.cports {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
		}
	}
	s, err := bus.StartServer(ctx, bus.ServerConfig{
		Listen: fmt.Sprintf("127.0.0.1:%d", c.ports[i]), StoreDir: c.dirs[i], Name: fmt.Sprintf("n%d", i),
		Logger: quietLogger(), Auth: c.auth,
		Customize: func(o *server.Options) error {
			o.Cluster.Name = "msxfaults"
			o.Cluster.Host = "127.0.0.1"
			o.Cluster.Port = c.cports[i]
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
			return nil
		},
	})
	if err != nil {
		tb.Fatalf("start cluster node %d: %v", i, err)
	}
	c.servers[i] = s
}

func (c *authCluster) url() string {
	var u []string
	for _, p := range c.ports {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	return strings.Join(u, ",")
}

func (c *authCluster) stop(i int) {
	c.servers[i].Shutdown()
	c.servers[i] = nil
}

func (c *authCluster) connectMaster(tb testing.TB) *nats.Conn {
	tb.Helper()
	nk, err := bus.NkeyOption(c.key)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	nc, err := bus.Connect(ctx, bus.ConnConfig{URL: c.url(), Name: "fault-master", Logger: quietLogger(),
		Options: []nats.Option{nk, nats.ReconnectWait(100 * time.Millisecond)}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}
