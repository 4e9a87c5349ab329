package bus_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

// Three embedded servers configured with ClusterConfig form a JetStream cluster that places
// the master's layout at R3.
func TestClusterConfigFormsJetStreamCluster(t *testing.T) {
	ports := make([]int, 3)
	for i := range ports {
		ports[i] = bustest.FreePort(t)
	}
	dir := t.TempDir()
	errs := make(chan error, 3)
	srvs := make([]*bus.Server, 3)
	for i := range 3 {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := bus.StartServer(ctx, bus.ServerConfig{StoreDir: filepath.Join(dir, fmt.Sprint(i)), Name: fmt.Sprintf("N%d", i),
				Logger: bustest.Logger(t), Cluster: bus.ClusterConfig{Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes}})
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
	_, js := bustest.Connect(t, srvs[1].ClientURL())
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
