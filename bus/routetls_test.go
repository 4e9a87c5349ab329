package bus_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// routeNode starts a cluster node whose routes use TLS with the certificate of caDir's CA.
func routeNode(t *testing.T, name, caDir string, listen string, routes []string, log *slog.Logger) *bus.Server {
	t.Helper()
	ca, err := bus.EnsureCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.EnsureServerCert(caDir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := bus.RouteTLS(cert, key, ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := bus.StartServer(ctx, bus.ServerConfig{StoreDir: filepath.Join(t.TempDir(), name), Name: name, Logger: log,
		Cluster: bus.ClusterConfig{Listen: listen, Routes: routes, TLS: rt}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Two nodes with certificates of one CA route to each other over TLS; a node whose
// certificate another CA issued is refused by the TLS handshake and never joins.
func TestRouteTLSAdmitsOnlyTheSameCA(t *testing.T) {
	good, other := t.TempDir(), t.TempDir()
	p := []int{bustest.FreePort(t), bustest.FreePort(t), bustest.FreePort(t)}
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", p[i]) }
	route := func(i int) string { return "nats://" + addr(i) }
	var log0 logBuf
	n0 := routeNode(t, "N0", good, addr(0), []string{route(1)}, slog.New(slog.NewTextHandler(&log0, nil)))
	n1 := routeNode(t, "N1", good, addr(1), []string{route(0)}, bustest.Logger(t))
	waitUntil(t, "N0 and N1 routed over TLS", func() bool { return n0.NumRoutes() > 0 && n1.NumRoutes() > 0 })
	vz, err := n0.Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !vz.Cluster.TLSRequired || !vz.Cluster.TLSVerify {
		t.Errorf("routes: TLS required %v, verified %v; want both", vz.Cluster.TLSRequired, vz.Cluster.TLSVerify)
	}
	rogue := routeNode(t, "ROGUE", other, addr(2), []string{route(0)}, bustest.Logger(t))
	waitUntil(t, "N0 refuses the rogue node's route", func() bool {
		s := log0.String()
		return strings.Contains(s, "TLS") && strings.Contains(s, "certificate")
	})
	if n := rogue.NumRoutes(); n != 0 {
		t.Errorf("the node with another CA's certificate has %d route(s), want 0", n)
	}
	rz, err := n0.Routez(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rz.Routes {
		if r.RemoteName == "ROGUE" {
			t.Errorf("N0 routes to the rogue node")
		}
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
