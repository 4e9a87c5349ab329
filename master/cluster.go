package master

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
)

// MasterInfo is one running master, as it heartbeats in msx_masters.
type MasterInfo struct {
	Type    string    `json:"type"` // msx.master.v1
	Name    string    `json:"name"`
	API     string    `json:"api,omitempty"`
	Version string    `json:"version"`
	Leading bool      `json:"leading"`
	Seen    time.Time `json:"seen"`
}

// ClusterStatus is what GET /api/v1/cluster and `msx cluster status` show.
type ClusterStatus struct {
	// Self is the master that answered.
	Self    string       `json:"self"`
	Masters []MasterInfo `json:"masters"`
	// Leader, LeaderAPI, Term and Expires describe the lease; Leader is "" when no master
	// leads (a takeover is under way).
	Leader    string    `json:"leader"`
	LeaderAPI string    `json:"leader_api,omitempty"`
	Term      uint64    `json:"term"`
	Expires   time.Time `json:"lease_expires,omitzero"`
	LeaseTTL  string    `json:"lease_ttl"`
	// Replicas is the replica count of each stream and bucket, by name.
	Replicas map[string]int `json:"replicas"`
}

// masterBeat is how often a master heartbeats in msx_masters.
const masterBeat = bus.MasterTTL / 3

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// runMasterBeat writes this master's heartbeat to msx_masters until ctx ends, then removes it.
func (m *Master) runMasterBeat(ctx context.Context, kv jetstream.KeyValue) {
	k := hex.EncodeToString([]byte(m.cfg.Name))
	beat := func(ctx context.Context) {
		b, _ := json.Marshal(MasterInfo{Type: "msx.master.v1", Name: m.cfg.Name, API: m.cfg.API, Version: version(), Leading: m.Leading(), Seen: time.Now().UTC()})
		wctx, cancel := context.WithTimeout(ctx, masterBeat)
		defer cancel()
		if _, err := kv.Put(wctx, k, b); err != nil && ctx.Err() == nil {
			m.log.Warn("master heartbeat", "err", err)
		}
	}
	t := time.NewTicker(masterBeat)
	defer t.Stop()
	for {
		beat(ctx)
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = kv.Delete(dctx, k)
			cancel()
			return
		case <-t.C:
		}
	}
}

// Cluster returns the masters of the bus, the lease and the replica count of each stream and
// bucket, read now.
func (m *Master) Cluster(ctx context.Context) (ClusterStatus, error) {
	cs := ClusterStatus{Self: m.cfg.Name, Masters: []MasterInfo{}, Replicas: map[string]int{},
		LeaseTTL: m.cfg.Layout.WithDefaults().LeaseTTL.String()}
	if r, ok := m.Lease(); ok {
		cs.Leader, cs.LeaderAPI, cs.Term, cs.Expires = r.Master, r.API, r.Term, r.Expires
	}
	kv, err := m.js.KeyValue(ctx, bus.BucketMasters)
	if err != nil {
		return cs, fmt.Errorf("cluster: %w", err)
	}
	if err := bus.LoadAll(ctx, kv, nil, func(mi MasterInfo) {
		mi.Leading = mi.Name == cs.Leader
		cs.Masters = append(cs.Masters, mi)
	}); err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return cs, fmt.Errorf("cluster: %w", err)
	}
	slices.SortFunc(cs.Masters, func(a, b MasterInfo) int { return strings.Compare(a.Name, b.Name) })
	for _, sc := range m.cfg.Layout.Streams() {
		s, err := m.js.Stream(ctx, sc.Name)
		if err != nil {
			return cs, fmt.Errorf("cluster: stream %s: %w", sc.Name, err)
		}
		cs.Replicas[sc.Name] = s.CachedInfo().Config.Replicas
	}
	for _, kc := range m.cfg.Layout.Buckets() {
		b, err := m.js.KeyValue(ctx, kc.Bucket)
		if err != nil {
			return cs, fmt.Errorf("cluster: bucket %s: %w", kc.Bucket, err)
		}
		st, err := b.Status(ctx)
		if err != nil {
			return cs, fmt.Errorf("cluster: bucket %s: %w", kc.Bucket, err)
		}
		cs.Replicas[kc.Bucket] = st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas
	}
	return cs, nil
}
