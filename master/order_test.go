package master_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// Changes of one job applied at once are posted to each target in the order they were made:
// the versions a target's download list holds only grow, and the last is the catalog's.
func TestConcurrentAppliesPostedInOrder(t *testing.T) {
	nc, _ := bustest.Connect(t, bustest.RunServer(t, "").ClientURL())
	m, err := master.Start(t.Context(), nc, master.Config{Name: masterName, Logger: bustest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdownMaster(t, m) })
	const targets, applies = 50, 12
	var names []string
	for i := range targets {
		name := fmt.Sprintf("ORD%03d", i)
		names = append(names, name)
		if err := m.Reg.PutTarget(t.Context(), registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), PollInterval: 60}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range applies {
		wg.Go(func() {
			_, err := m.ApplyJob(t.Context(), jobs.Job{Name: "ordered", Targets: jobs.Targets{Servers: names},
				Steps: []jobs.Step{{StepName: "s", Subsystem: "CmdExec", Command: fmt.Sprint("echo ", i)}}})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	j, err := m.Catalog.Get("ordered")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		rows := m.Ledger.List(ledger.Filter{Token: jobs.ServerToken(name)})
		last := 0
		for _, r := range rows {
			if r.Version < last {
				t.Fatalf("%s: version %d posted after version %d (instance %d)", name, r.Version, last, r.InstanceID)
			}
			last = r.Version
		}
		if last != j.VersionNumber {
			t.Fatalf("%s: last version posted %d, catalog holds %d", name, last, j.VersionNumber)
		}
	}
}
