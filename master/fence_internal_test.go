package master

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// A leader that still believes it leads (its lease renewed, Leading true) has every write
// refused once another master has raised its fences, as a master that took over while this one
// was cut off or paused would: on a three-node cluster, every stream and bucket R3.
func TestFencesRefuseLeaderThatStillBelievesItLeads(t *testing.T) {
	url := bustest.RunCluster(t).URL()
	ctx := t.Context()
	start := func(name string) *Master {
		nc, _ := bustest.Connect(t, url)
		m, err := Start(ctx, nc, Config{Name: name, Logger: bustest.Logger(t), Layout: bus.Layout{Replicas: 3}})
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
		return m
	}
	old, other := start("MSX1"), start("MSX2")
	for i := range 3 {
		name := fmt.Sprintf("STALE%d", i)
		if err := old.Reg.PutTarget(ctx, registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), PollInterval: 60}); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.raiseFences(ctx, other.log, old.elector.Load().Term()+1); err != nil {
		t.Fatal(err)
	}
	if !old.Leading() {
		t.Fatal("MSX1 no longer believes it leads: the test would not show the fence")
	}
	_, fanout := old.Action(ctx, "synctime", nil, true, 0)
	_, post := old.Post(ctx, registry.Target{ServerName: "STALE0", Token: "STALE0"}, schemas.Instruction{Operation: schemas.OpSyncTime})
	target := old.Reg.PutTarget(ctx, registry.Target{ServerID: 9, ServerName: "STALE9", Token: "STALE9"})
	_, job := old.ApplyJob(ctx, jobs.Job{Name: "stale", Steps: []jobs.Step{{StepName: "s", Subsystem: "CmdExec", Command: "true"}}})
	audit := old.Audit(ctx, schemas.Audit{Who: "test", Action: "stale", Status: 200})
	for what, err := range map[string]error{"fan-out": fanout, "post": post, "registry KV": target, "catalog KV": job, "audit": audit} {
		if !errors.Is(err, ErrNotLeader) {
			t.Errorf("%s of a leader fenced out: err %v, want ErrNotLeader", what, err)
		}
	}
}
