//go:build faults

package faults_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

// authCluster is a three-node JetStream cluster whose nodes authenticate clients with the
// master's bus.Auth, as the embedded server does: targets run on their own nkeys.
type authCluster struct {
	*bustest.Cluster
	auth *bus.Auth
	key  nkeys.KeyPair
}

func runAuthCluster(tb testing.TB) *authCluster {
	tb.Helper()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	auth := &bus.Auth{MasterKey: pub, Logger: bustest.Logger(tb)}
	return &authCluster{Cluster: bustest.RunClusterWith(tb, bustest.ClusterOptions{Auth: auth}), auth: auth, key: kp}
}

func (c *authCluster) connectMaster(tb testing.TB) *nats.Conn {
	tb.Helper()
	return c.connectMasterTo(tb, c.URL())
}

// connectMasterTo connects with the master's identity to url (a node, or a proxy in front of
// one) and to no server the cluster announces, so that a proxy can cut it off.
func (c *authCluster) connectMasterTo(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nk, err := bus.NkeyOption(c.key)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	nc, err := bus.Connect(ctx, bus.ConnConfig{URL: url, Name: "fault-master", Logger: quietLogger(),
		Options: []nats.Option{nk, nats.ReconnectWait(100 * time.Millisecond), nats.IgnoreDiscoveredServers()}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}
