package registry_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// Group edits made at once all take effect (each reads the group the one before wrote), and
// the group as stored is the one the registry holds.
func TestConcurrentGroupEdits(t *testing.T) {
	_, js := bustest.Connect(t, bustest.RunServer(t, "").ClientURL())
	ctx := t.Context()
	if err := (bus.Layout{}).Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	r, err := registry.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		name := fmt.Sprintf("SQL%02d", i)
		if err := r.PutTarget(ctx, registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.AddGroup(ctx, "Web"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { _, err := r.AddMember(ctx, "web", fmt.Sprintf("SQL%02d", i)); errs <- err })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	g, _ := r.Group("web")
	if len(g.Members) != n {
		t.Fatalf("group holds %d members after %d concurrent adds: %v", len(g.Members), n, g.Members)
	}
	again, err := registry.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if g2, _ := again.Group("web"); fmt.Sprint(g2.Members) != fmt.Sprint(g.Members) {
		t.Fatalf("stored group %v, held %v", g2.Members, g.Members)
	}
}
