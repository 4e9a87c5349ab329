package master_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// threeMasters starts three embedded NATS nodes clustered together, each with its own Auth (as
// three `msx master` processes have), and a master on each, connected to its own node.
func threeMasters(t *testing.T) ([]*master.Master, []*bus.Server, []*bus.Auth) {
	t.Helper()
	mk, _ := nkeys.CreateUser()
	mpub, _ := mk.PublicKey()
	mopt, err := bus.NkeyOption(mk)
	if err != nil {
		t.Fatal(err)
	}
	routes := []int{bustest.FreePort(t), bustest.FreePort(t), bustest.FreePort(t)}
	srvs, auths := make([]*bus.Server, 3), make([]*bus.Auth, 3)
	ms := make([]*master.Master, 3)
	errs := make([]error, 3)
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 3 {
		var rs []string
		for j, p := range routes {
			if j != i {
				rs = append(rs, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		auths[i] = &bus.Auth{MasterKey: mpub, Logger: bustest.Logger(t)}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			srvs[i], errs[i] = bus.StartServer(ctx, bus.ServerConfig{StoreDir: filepath.Join(dir, fmt.Sprint(i)), Name: fmt.Sprintf("N%d", i),
				Logger: bustest.Logger(t), Auth: auths[i], Cluster: bus.ClusterConfig{Listen: fmt.Sprintf("127.0.0.1:%d", routes[i]), Routes: rs}})
			if errs[i] != nil {
				return
			}
			nc, err := nats.Connect(srvs[i].ClientURL(), mopt)
			if errs[i] = err; err != nil {
				return
			}
			t.Cleanup(nc.Close)
			for ctx.Err() == nil { // the cluster forms meanwhile: short tries, as msx master does
				sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
				ms[i], errs[i] = master.Start(sctx, nc, master.Config{Name: fmt.Sprintf("M%d", i), Logger: bustest.Logger(t), Auth: auths[i],
					Layout: bus.Layout{Replicas: 3, LeaseTTL: haTTL}, DefectGrace: 2 * time.Second})
				scancel()
				if errs[i] == nil {
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for i := range 3 {
		if srvs[i] != nil {
			t.Cleanup(srvs[i].Shutdown)
		}
		if ms[i] != nil {
			t.Cleanup(func() { shutdownMaster(t, ms[i]) })
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	return ms, srvs, auths
}

// A deleted target's key is refused on every node, whichever master deleted it: each master
// follows the registry and keeps its own node's Auth in step, closing the target's connections
// there too.
func TestIntegrationDeletedTargetRefusedOnEveryNode(t *testing.T) {
	ms, srvs, auths := threeMasters(t)
	var leader *master.Master
	waitFor(t, time.Minute, func() bool {
		for _, m := range ms {
			if m.Leading() {
				leader = m
				return true
			}
		}
		return false
	}, "a leader")
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	name := "KEYTEST"
	id, err := leader.Reg.AllocServerID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Reg.PutTarget(t.Context(), registry.Target{ServerID: id, ServerName: name, Token: jobs.ServerToken(name),
		PublicKey: pub, PollInterval: 60, EnlistDate: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, func() bool {
		for _, m := range ms {
			if _, ok := m.Reg.TargetByKey(pub); !ok {
				return false
			}
		}
		return true
	}, "every master knows the target's key")
	opt, _ := bus.NkeyOption(kp)
	dial := func(i int) (*nats.Conn, error) {
		// Only node i: a refused dial must not go on to the nodes its INFO announced.
		return nats.Connect(srvs[i].ClientURL(), opt, nats.NoReconnect(), nats.IgnoreDiscoveredServers(),
			nats.CustomInboxPrefix(bus.InboxPrefix(jobs.ServerToken(name))))
	}
	conns := make([]*nats.Conn, 3)
	for i := range 3 {
		if conns[i], err = dial(i); err != nil {
			t.Fatalf("node %d refuses the enlisted target's key: %v", i, err)
		}
		t.Cleanup(conns[i].Close)
	}
	// The leader revokes the key on its own node; the other two masters hear of the delete
	// through the registry watch and revoke it on theirs (after the DEFECT grace, 2s here).
	if err := leader.DeleteTarget(t.Context(), name, true); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		waitFor(t, time.Minute, conns[i].IsClosed, "node %d closes the deleted target's connection", i)
	}
	for i := range 3 {
		if _, err := dial(i); err == nil {
			_, known := ms[i].Reg.TargetByKey(pub)
			t.Fatalf("node %d admits the deleted target's key (its master leads: %v, knows the key: %v)", i, ms[i].Leading(), known)
		}
		if n := auths[i].Connections(pub); n != 0 {
			t.Errorf("node %d's Auth still holds %d connection(s) of the deleted key", i, n)
		}
	}
}
