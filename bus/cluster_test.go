package bus_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
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
	// Three masters ensure the layout at once, as masters started together do.
	l := bus.Layout{Replicas: 3}
	ensure := func(js jetstream.JetStream) error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		for {
			err := l.Ensure(ctx, js)
			if err == nil || ctx.Err() != nil {
				return err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	others := make([]jetstream.JetStream, 2)
	for i := range others {
		_, others[i] = bustest.Connect(t, srvs[2*i].ClientURL())
		if withAuth {
			others[i] = js // other nodes' master keys are other processes'; share the one here
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs2 := make([]error, 3)
	for i, j := range []jetstream.JetStream{js, others[0], others[1]} {
		wg.Go(func() { errs2[i] = ensure(j) })
	}
	wg.Wait()
	if err := errors.Join(errs2...); err != nil {
		t.Fatalf("ensure the layout at R3: %v", err)
	}
	t.Logf("three masters ensured the R3 layout in %s", time.Since(start).Round(time.Millisecond))
	s, err := js.Stream(t.Context(), bus.StreamInstr)
	if err != nil {
		t.Fatal(err)
	}
	if ci := s.CachedInfo(); ci.Config.Replicas != 3 || ci.Cluster == nil || len(ci.Cluster.Replicas) != 2 {
		t.Fatalf("MSX_INSTR: replicas %d, cluster %+v", ci.Config.Replicas, ci.Cluster)
	}
}
