package bus_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

// Three embedded servers configured with ClusterConfig form a JetStream cluster that places
// the master's layout at R3.
func TestClusterConfigFormsJetStreamCluster(t *testing.T) {
	for _, withAuth := range []bool{false, true} {
		t.Run(fmt.Sprintf("auth=%v", withAuth), func(t *testing.T) { testClusterConfig(t, withAuth) })
	}
}

func testClusterConfig(t *testing.T, withAuth bool) {
	ports := make([]int, 3)
	for i := range ports {
		ports[i] = bustest.FreePort(t)
	}
	dir := t.TempDir()
	errs := make(chan error, 3)
	keys := make([]nkeys.KeyPair, 3)
	srvs := make([]*bus.Server, 3)
	for i := range 3 {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		var a *bus.Auth
		var kp nkeys.KeyPair
		if withAuth {
			// Every node has an Auth of its own, with its own master key, as each msx master
			// process does.
			kp, _ = nkeys.CreateUser()
			pub, _ := kp.PublicKey()
			a = &bus.Auth{MasterKey: pub, Logger: bustest.Logger(t)}
			keys[i] = kp
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := bus.StartServer(ctx, bus.ServerConfig{StoreDir: filepath.Join(dir, fmt.Sprint(i)), Name: fmt.Sprintf("N%d", i),
				Logger: bustest.Logger(t), Auth: a, Cluster: bus.ClusterConfig{Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes}})
			srvs[i] = s
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range srvs {
		t.Cleanup(s.Shutdown)
	}
	var opts []nats.Option
	if withAuth {
		o, err := bus.NkeyOption(keys[1])
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, o)
	}
	nc, err := nats.Connect(srvs[1].ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	l := bus.Layout{Replicas: 3}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := l.Ensure(ctx, js)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ensure the layout at R3: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s, err := js.Stream(t.Context(), bus.StreamInstr)
	if err != nil {
		t.Fatal(err)
	}
	if ci := s.CachedInfo(); ci.Config.Replicas != 3 || ci.Cluster == nil || len(ci.Cluster.Replicas) != 2 {
		t.Fatalf("MSX_INSTR: replicas %d, cluster %+v", ci.Config.Replicas, ci.Cluster)
	}
}
