package master_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// startClusterMaster starts a master named name on a three-node cluster, every stream and
// bucket R3.
func startClusterMaster(tb testing.TB, url, name string) (*master.Master, jetstream.JetStream) {
	tb.Helper()
	nc, js := bustest.Connect(tb, url)
	ctx, cancel := context.WithTimeout(tb.Context(), patience)
	defer cancel()
	m, err := master.Start(ctx, nc, master.Config{Name: name, Logger: bustest.Logger(tb),
		Layout: bus.Layout{Replicas: 3, LeaseTTL: haTTL}})
	if err != nil {
		tb.Fatalf("start master %s: %v", name, err)
	}
	tb.Cleanup(func() { shutdownMaster(tb, m) })
	return m, js
}

// On a three-node cluster with every stream and bucket R3, a master whose lease was taken over
// has each of its late writes refused and nothing of them stored: a fan-out (one atomic batch),
// one instruction, KV writes of the registry and the catalog, an audit record. The new leader's
// same writes go through.
//
// The deposed master here has been shut down (its elector released the lease and its Lead
// returned), but its handles still work: its writes are those of a change that was under way
// when the lease moved.
func TestIntegrationDeposedLeaderFencedOnCluster(t *testing.T) {
	url := bustest.RunCluster(t).URL()
	m1, js := startClusterMaster(t, url, "MSX1")
	m2, _ := startClusterMaster(t, url, "MSX2")
	if !m1.Leading() || m2.Leading() {
		t.Fatalf("leading: MSX1 %v, MSX2 %v; want MSX1 alone", m1.Leading(), m2.Leading())
	}
	ctx := t.Context()
	const fleet = 5
	for i := 1; i <= fleet; i++ {
		name := fmt.Sprintf("FENCE%02d", i)
		if err := m1.Reg.PutTarget(ctx, registry.Target{ServerID: i, ServerName: name, Token: jobs.ServerToken(name), PollInterval: 60}); err != nil {
			t.Fatalf("leader's registry write: %v", err)
		}
	}
	writes := func(m *master.Master, tag string) map[string]error {
		posted, fanout := m.Action(ctx, "synctime", nil, true, 0)
		if fanout == nil && len(posted) != fleet {
			fanout = fmt.Errorf("posted %d rows, want %d", len(posted), fleet)
		}
		_, one := m.Post(ctx, registry.Target{ServerName: "FENCE01", Token: "FENCE01"}, schemas.Instruction{Operation: schemas.OpSyncTime, ObjectName: "FENCE01"})
		_, group := m.Reg.AddGroup(ctx, "G"+tag)
		_, job := m.ApplyJob(ctx, jobs.Job{Name: "J" + tag, Steps: []jobs.Step{{StepName: "s", Subsystem: "CmdExec", Command: "true"}}})
		audit := m.Audit(ctx, schemas.Audit{Who: "test", Action: "fence " + tag, Status: 200})
		_, vars := m.SetVar(ctx, "V_"+tag, "x", "FENCE01", "", false, "test")
		return map[string]error{"fan-out": fanout, "post": one, "registry KV": group, "catalog KV": job, "audit": audit, "variables KV": vars}
	}
	for what, err := range writes(m1, "1") {
		if err != nil {
			t.Fatalf("leader MSX1's %s: %v", what, err)
		}
	}
	waitFor(t, patience, func() bool { return len(m2.Reg.Targets()) == fleet }, "MSX2 sees the %d targets", fleet)

	shutdownMaster(t, m1)
	waitFor(t, patience, m2.Leading, "MSX2 takes over")
	counts := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, s := range []string{bus.StreamInstr, bus.StreamAudit, "KV_" + bus.BucketGroups, "KV_" + bus.BucketJobs, "KV_" + bus.BucketVars} {
			st, err := js.Stream(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			out[s] = st.CachedInfo().State.Msgs
		}
		return out
	}
	before := counts()
	for what, err := range writes(m1, "late") {
		if !errors.Is(err, master.ErrNotLeader) {
			t.Errorf("deposed MSX1's %s: err %v, want ErrNotLeader", what, err)
		}
	}
	if after := counts(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the deposed leader's refused writes changed the streams: %v -> %v", before, after)
	}
	for what, err := range writes(m2, "2") {
		if err != nil {
			t.Errorf("new leader MSX2's %s: %v", what, err)
		}
	}
}
