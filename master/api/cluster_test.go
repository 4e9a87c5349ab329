package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
)

// startAPIMaster starts a master on its own connection with its API on an httptest server
// whose address the master publishes.
func startAPIMaster(tb testing.TB, url, name string) *fixture {
	tb.Helper()
	nc, js := bustest.Connect(tb, url)
	srv := httptest.NewUnstartedServer(nil)
	ctx, cancel := context.WithTimeout(tb.Context(), patience)
	defer cancel()
	m, err := master.Start(ctx, nc, master.Config{Name: name, Logger: bustest.Logger(tb),
		Layout: bus.Layout{LeaseTTL: 1500 * time.Millisecond}, API: "http://" + srv.Listener.Addr().String()})
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{m: m, js: js, h: api.New(m, bustest.Logger(tb)), srv: srv}
	srv.Config.Handler = validated(tb, f.h)
	srv.Start()
	tb.Cleanup(func() {
		srv.Close()
		_ = m.Shutdown(context.Background())
	})
	return f
}

// Every master answers the API: reads locally, changes forwarded to the leader; the cluster
// view names the masters, the leader and the replica counts.
func TestClusterForwardAndStatus(t *testing.T) {
	s := bustest.RunServer(t, "")
	f1 := startAPIMaster(t, s.ClientURL(), "MSX1")
	f2 := startAPIMaster(t, s.ClientURL(), "MSX2")
	admin, _, err := f1.m.Tokens.Create(t.Context(), auth.RoleAdmin, time.Hour, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	if !f1.m.Leading() || f2.m.Leading() {
		t.Fatalf("leading: MSX1 %v MSX2 %v", f1.m.Leading(), f2.m.Leading())
	}
	waitForCond(t, func() bool { r, ok := f2.m.Lease(); return ok && r.Master == "MSX1" })

	// A change sent to the follower is made by the leader, and seen by both.
	if r := f2.do(t, admin, http.MethodPost, "/api/v1/groups", `{"name":"Web"}`); r.status != http.StatusOK && r.status != http.StatusCreated {
		t.Fatalf("POST /groups on the follower: %s", r)
	}
	waitForCond(t, func() bool { _, ok := f2.m.Reg.Group("web"); return ok })
	if _, ok := f1.m.Reg.Group("web"); !ok {
		t.Fatal("the leader did not make the change forwarded to it")
	}

	var cs master.ClusterStatus
	waitForCond(t, func() bool {
		r := f2.do(t, admin, http.MethodGet, "/api/v1/cluster", "")
		if r.status != http.StatusOK || json.Unmarshal(r.body, &cs) != nil {
			t.Fatalf("GET /cluster: %s", r)
		}
		return len(cs.Masters) == 2
	})
	if cs.Self != "MSX2" || cs.Leader != "MSX1" || cs.LeaderAPI != f1.srv.URL || cs.Term == 0 || cs.Replicas[bus.StreamInstr] != 1 || cs.Replicas[bus.BucketLeader] != 1 {
		t.Fatalf("cluster status %+v", cs)
	}
	if !cs.Masters[0].Leading || cs.Masters[1].Leading {
		t.Fatalf("masters %+v: want MSX1 leading", cs.Masters)
	}

	// The follower never makes a change itself: with the leader's API gone, it answers 503.
	f1.srv.Close()
	if r := f2.do(t, admin, http.MethodPost, "/api/v1/groups", `{"name":"Lost"}`); r.status != http.StatusServiceUnavailable || r.e.Error.Code != master.CodeNotLeader {
		t.Fatalf("POST /groups on the follower with the leader's API down: %s", r)
	}
	if _, ok := f2.m.Reg.Group("lost"); ok {
		t.Fatal("the follower made a change itself")
	}

	// The leader goes: the follower takes over and makes changes itself.
	if err := f1.m.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitForCond(t, f2.m.Leading)
	if r := f2.do(t, admin, http.MethodPost, "/api/v1/groups", `{"name":"Db"}`); r.status >= 300 {
		t.Fatalf("POST /groups on the new leader: %s", r)
	}
}

func waitForCond(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
