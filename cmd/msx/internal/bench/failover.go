package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
)

// Failover is the takeover time measured with Config.Masters masters, each on its own embedded
// NATS node of one cluster (as `msx up --masters` runs them): per round the leader's node and
// master stop at once, without releasing the lease (as kill -9 of its process does), and the
// time until another master leads is taken. It is compared with the lease TTL: the lease
// expires between TTL minus the renewal period and TTL after the leader's last renewal, and
// another master should take it soon after.
type Failover struct {
	Masters    int     `json:"masters"`
	Rounds     int     `json:"rounds"`
	LeaseTTLMS float64 `json:"lease_ttl_ms"`
	Takeover   Dist    `json:"takeover"`
	// VsTTL is takeover / lease TTL at p50 and p99.
	VsTTL Ratios `json:"vs_ttl"`
}

// failoverNode is one node of the failover cluster with its master.
type failoverNode struct {
	name, dir, client, route string
	routes                   []string
	srv                      *bus.Server
	nc                       *nats.Conn
	m                        *master.Master
}

// failover runs the failover phase on a cluster of its own (no targets: the takeover is the
// lease and JetStream's own elections).
func failover(ctx context.Context, cfg Config, log *slog.Logger) (*Failover, error) {
	n := cfg.Masters
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	opt, err := bus.NkeyOption(kp)
	if err != nil {
		return nil, err
	}
	nodes := make([]*failoverNode, n)
	for i := range nodes {
		nodes[i] = &failoverNode{name: fmt.Sprintf("FAILOVER%d", i+1), dir: filepath.Join(cfg.Dir, "failover", fmt.Sprint(i+1))}
		if nodes[i].client, err = freeAddr(); err == nil {
			nodes[i].route, err = freeAddr()
		}
		if err != nil {
			return nil, err
		}
	}
	for _, nd := range nodes {
		for _, o := range nodes {
			if o != nd {
				nd.routes = append(nd.routes, "nats://"+o.route)
			}
		}
	}
	layout := bus.Layout{Replicas: 3}
	ttl := layout.WithDefaults().LeaseTTL
	start := func(nd *failoverNode) (err error) {
		a := &bus.Auth{MasterKey: pub, Logger: log}
		sctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
		defer cancel()
		if nd.srv, err = bus.StartServer(sctx, bus.ServerConfig{Listen: nd.client, StoreDir: nd.dir, Name: nd.name, Logger: log, Auth: a,
			Cluster: bus.ClusterConfig{Listen: nd.route, Routes: nd.routes}}); err != nil {
			return err
		}
		if nd.nc, err = nats.Connect(nd.srv.ClientURL(), opt, nats.MaxReconnects(-1)); err != nil {
			return err
		}
		// Short tries while the cluster forms (as msx master does).
		for {
			tctx, tcancel := context.WithTimeout(sctx, 10*time.Second)
			nd.m, err = master.Start(tctx, nd.nc, master.Config{Name: nd.name, Logger: log, Auth: a, Layout: layout})
			tcancel()
			if err == nil || sctx.Err() != nil {
				return err
			}
		}
	}
	stop := func(nd *failoverNode) {
		if nd.nc != nil {
			nd.nc.Close() // first: the master can neither renew nor release its lease
		}
		if nd.srv != nil {
			nd.srv.Shutdown()
		}
		if nd.m != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = nd.m.Shutdown(sctx)
			cancel()
		}
		nd.srv, nd.nc, nd.m = nil, nil, nil
	}
	defer func() {
		for _, nd := range nodes {
			stop(nd)
		}
	}()
	errs := make(chan error, n)
	for _, nd := range nodes {
		go func() { errs <- start(nd) }()
	}
	for range n {
		if err := <-errs; err != nil {
			return nil, fmt.Errorf("failover cluster: %w", err)
		}
	}
	leading := func() *failoverNode {
		for _, nd := range nodes {
			if nd.m != nil && nd.m.Leading() {
				return nd
			}
		}
		return nil
	}
	var took []time.Duration
	for round := range cfg.Rounds {
		progress(cfg, "failover round %d of %d: stopping the leader's node and master at once", round+1, cfg.Rounds)
		var old *failoverNode
		if err := poll(ctx, cfg.PhaseTimeout, func() bool { old = leading(); return old != nil }); err != nil {
			return nil, fmt.Errorf("failover round %d: no leader: %w", round+1, err)
		}
		t0 := time.Now()
		stop(old)
		var next *failoverNode
		if err := poll(ctx, cfg.PhaseTimeout, func() bool { next = leading(); return next != nil }); err != nil {
			return nil, fmt.Errorf("failover round %d: no master took over: %w", round+1, err)
		}
		took = append(took, time.Since(t0))
		// The stopped one comes back (same store) and stands by for the next round.
		if err := start(old); err != nil {
			return nil, fmt.Errorf("failover round %d: restart %s: %w", round+1, old.name, err)
		}
	}
	d := distOf(took)
	t := ms(ttl)
	return &Failover{Masters: n, Rounds: cfg.Rounds, LeaseTTLMS: t, Takeover: d, VsTTL: Ratios{P50: round3(d.P50MS / t), P99: round3(d.P99MS / t), Max: round3(d.MaxMS / t)}}, nil
}

// poll waits until ok, checking every 5 ms, for at most d.
func poll(ctx context.Context, d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", errors.Join(errors.New("find a free port"), err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
