package master

import (
	"context"
	"fmt"
	"testing"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// On a three-node cluster (the instruction stream R3), a start whose first try stored the
// instruction of one target only (here posted alone with the id the key derives) stores the
// others on its retry, and that one not again; a second retry stores nothing.
func TestIdempotentStartPartialOnCluster(t *testing.T) {
	url := bustest.RunCluster(t).URL()
	ctx := t.Context()
	nc, js := bustest.Connect(t, url)
	m, err := Start(ctx, nc, Config{Name: "MSX1", Logger: bustest.Logger(t), Layout: bus.Layout{Replicas: 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	var names []string
	for i := range 3 {
		name := fmt.Sprintf("IDR%d", i)
		names = append(names, name)
		if err := m.Reg.PutTarget(ctx, registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), PollInterval: 60}); err != nil {
			t.Fatal(err)
		}
	}
	j := jobs.Job{Name: "Partial", Steps: []jobs.Step{{StepName: "one", Command: "SELECT 1"}}, Targets: jobs.Targets{Servers: names}}
	res, err := m.ApplyJob(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	msgs := func() uint64 {
		t.Helper()
		s, err := js.Stream(ctx, bus.StreamInstr)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().State.Msgs
	}

	pending := m.Ledger.JobCounts()[res.Job.JobID].Pending // the INSERTs
	const key = "cluster-partial"
	middle, _ := m.Reg.Target("IDR1")
	stored, err := m.Post(ctx, middle, schemas.Instruction{ID: idempotentID(key, schemas.OpStart, res.Job.JobID, middle.Token),
		Operation: schemas.OpStart, ObjectID: res.Job.JobID, ObjectName: res.Job.Name})
	if err != nil {
		t.Fatal(err)
	}
	before := msgs()
	retry, err := m.StartJobWith(ctx, j.Name, StartOptions{IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if got := msgs(); got != before+2 {
		t.Fatalf("retry stored %d instructions, want 2 (IDR0's and IDR2's)", got-before)
	}
	if len(retry) != 3 || retry[0].Duplicate || !retry[1].Duplicate || retry[1].InstanceID != stored || retry[2].Duplicate {
		t.Fatalf("retry answered %+v, want IDR1's row %d a duplicate, the others new", retry, stored)
	}
	again, err := m.StartJobWith(ctx, j.Name, StartOptions{IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if got := msgs(); got != before+2 {
		t.Fatalf("a second retry stored %d instructions", got-before-2)
	}
	for i := range again {
		if !again[i].Duplicate || again[i].InstanceID != retry[i].InstanceID {
			t.Errorf("second retry row %+v, want %+v as a duplicate", again[i], retry[i])
		}
	}
	if c := m.Ledger.JobCounts()[res.Job.JobID]; c.Pending != pending+3 {
		t.Errorf("%d pending instructions for the job, want %d (3 STARTs)", c.Pending, pending+3)
	}
}
