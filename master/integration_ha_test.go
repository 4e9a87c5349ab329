package master_test

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas/jobs"
)

const haTTL = 1500 * time.Millisecond

// startMasterOn starts a master named name on a connection of its own, so that closing the
// connection cuts it off from the bus as a crash would.
func startMasterOn(tb testing.TB, srv *bustest.Secure, name string) (*master.Master, func()) {
	tb.Helper()
	nc, _ := srv.ConnectMaster(tb)
	ctx, cancel := context.WithTimeout(tb.Context(), patience)
	defer cancel()
	m, err := master.Start(ctx, nc, master.Config{Name: name, Logger: bustest.Logger(tb), Auth: srv.Auth,
		Layout: bus.Layout{LeaseTTL: haTTL}, API: "http://" + name + ".invalid"})
	if err != nil {
		tb.Fatalf("start master %s: %v", name, err)
	}
	tb.Cleanup(func() { shutdownMaster(tb, m) })
	return m, nc.Close
}

// Two masters on one bus: one leads and answers targets; when it is cut off without releasing
// its lease, the other takes over within the lease time and answers them.
func TestIntegrationTwoMastersOneLeader(t *testing.T) {
	srv := bustest.RunSecureServer(t)
	m1, crash1 := startMasterOn(t, srv, "MSX1")
	m2, _ := startMasterOn(t, srv, "MSX2")
	if !m1.Leading() || m2.Leading() {
		t.Fatalf("leading: MSX1 %v, MSX2 %v; want the first master started to lead", m1.Leading(), m2.Leading())
	}
	waitFor(t, patience, func() bool { r, ok := m2.Lease(); return ok && r.Master == "MSX1" && r.API == "http://MSX1.invalid" },
		"MSX2 sees MSX1's lease")

	f := &fixture{url: srv.ClientURL(), ca: srv.CAFile, auth: srv.Auth, m: m1}
	a := f.startTarget(t, "HA01")
	f.waitOnline(t, a)

	// The follower's view is live: the target, a group and a job written through the leader.
	if _, err := m1.Reg.AddGroup(t.Context(), "HAGROUP"); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.ApplyJob(t.Context(), jobs.Job{Name: "HA job", Steps: []jobs.Step{{StepName: "s", Subsystem: "CmdExec", Command: "true"}},
		Targets: jobs.Targets{Servers: []string{"HA01"}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, func() bool {
		_, tok := m2.Reg.Target("HA01")
		_, grp := m2.Reg.Group("hagroup")
		_, job := m2.Catalog.ByName("HA job")
		return tok && grp && job
	}, "MSX2 sees the target, group and job written through MSX1")

	crashed := time.Now()
	crash1()
	waitFor(t, patience, m2.Leading, "MSX2 takes over")
	t.Logf("MSX2 took over %s after MSX1 was cut off (lease TTL %s)", time.Since(crashed).Round(time.Millisecond), haTTL)
	if m1.Leading() {
		t.Fatal("MSX1 still leads after MSX2 took over")
	}
	r, _ := m2.Lease()
	if r.Master != "MSX2" {
		t.Fatalf("lease names %q, want MSX2", r.Master)
	}
	f.m = m2
	b := f.startTarget(t, "HA02")
	f.waitOnline(t, b)
}

// A record written to the registry while the master runs is validated as a loaded one is: a
// bad one is quarantined, never trusted.
func TestIntegrationWatchedRecordQuarantined(t *testing.T) {
	srv := bustest.RunSecureServer(t)
	m, _ := startMasterOn(t, srv, "MSX1")
	_, js := srv.ConnectMaster(t)
	kv, err := js.KeyValue(t.Context(), bus.BucketTargets)
	if err != nil {
		t.Fatal(err)
	}
	k := hex.EncodeToString([]byte("EVIL"))
	if _, err := kv.Put(t.Context(), k, []byte(`{"server_id":7,"server_name":"evil","token":"EVIL"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, func() bool {
		for _, q := range m.Reg.Quarantined() {
			if q.Key == k {
				return true
			}
		}
		return false
	}, "the watched bad record is quarantined")
	if _, ok := m.Reg.Target("EVIL"); ok {
		t.Fatal("a bad watched record is trusted")
	}
}
