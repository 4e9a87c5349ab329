//go:build faults

package faults_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// checkResultsOnce waits until every agent reported want finished runs of job on MSX_RESULTS,
// each run once, and every master counts want runs of job on every agent.
func checkResultsOnce(tb testing.TB, ms []*haMaster, agents []*agent, job jobs.Job, want int) {
	tb.Helper()
	js := mustJS(tb, ms[0].nc)
	var fin map[string]map[string]int
	waitFor(tb, patience, fmt.Sprintf("%d runs of %s reported by every target", want, job.Name), func() bool {
		fin, _ = finishedRuns(tb, js)
		for _, a := range agents {
			if len(fin[a.tok]) < want {
				return false
			}
		}
		return true
	})
	total := 0
	for _, a := range agents {
		if n := len(fin[a.tok]); n != want {
			tb.Errorf("%s reported %d runs finished, want %d", a.cfg.Name, n, want)
		}
		for run, n := range fin[a.tok] {
			total++
			if n != 1 {
				tb.Errorf("%s: run %s is on MSX_RESULTS %d times", a.cfg.Name, run, n)
			}
		}
	}
	for _, h := range ms {
		waitFor(tb, patience, h.name+" counts every run", func() bool {
			n := 0
			for _, s := range h.m.JobServers(job) {
				n += s.Runs
			}
			return n >= want*len(agents)
		})
		for _, s := range h.m.JobServers(job) {
			if s.Runs != want {
				tb.Errorf("%s counts %d runs of %s on %s, want %d", h.name, s.Runs, job.Name, s.ServerName, want)
			}
		}
	}
	tb.Logf("%d runs of %s finished, each reported once and counted once on %d masters", total, job.Name, len(ms))
}

// haFixture is the fixture of a fleet enlisted through master lead.
func haFixture(tb testing.TB, c *authCluster, lead *haMaster) *fixture {
	return &fixture{url: c.URL(), nc: lead.nc, auth: c.auth, m: lead.m, js: mustJS(tb, lead.nc)}
}

// TestLeaderPartitioned cuts the leading master off the bus (its only link goes through a
// proxy to one node) while it leads three masters on a three-node cluster. It must stop acting
// before a follower takes over; the operator keeps working on the new leader during the
// partition. After the partition heals there is still one leader, the old one follows it, and
// nothing was posted, applied or counted twice.
func TestLeaderPartitioned(t *testing.T) { leaderPartitioned(t, false) }

// TestCutOffMastersChangeLandsAfterHeal is TestLeaderPartitioned with a job applied on the
// cut-off master during the partition: the call fails (context deadline exceeded), so the
// operator takes it as not done, but the write stays in the connection's reconnect buffer and
// is stored when the partition heals; the new leader then delivers the job to every target.
func TestCutOffMastersChangeLandsAfterHeal(t *testing.T) {
	t.Skip("known bug: a master's writes are not fenced to its lease and bus.Connect keeps nats.go's 8 MB reconnect buffer, " +
		"so a change that failed on a cut-off master (catalog KV put) is stored when the link comes back; " +
		"the catalog write should be conditional on the lease, or the master's connection should not buffer (nats.ReconnectBufSize(-1))")
	leaderPartitioned(t, true)
}

func leaderPartitioned(t *testing.T, sendToCutOff bool) {
	c := runAuthCluster(t)
	node, err := url.Parse(strings.Split(c.URL(), ",")[0])
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, node.Host)
	// Started first on a fresh bus, HA1 wins the first campaign.
	h1, err := startHAMasterOn(t, c.connectMasterTo(t, p.url()), "HA1", c.auth)
	if err != nil {
		t.Fatal(err)
	}
	ms := []*haMaster{h1, startHAMaster(t, c, "HA2"), startHAMaster(t, c, "HA3")}
	if leaderOf(ms) != h1 {
		t.Fatal("HA1 does not lead after start")
	}
	watch := watchLeaders(ms...)
	const nTargets = 5
	agents := haFixture(t, c, h1).startFleet(t, "PART", nTargets)
	targets := names(agents)
	checkEnlisted(t, ms, nTargets)
	before := applyAll(t, h1.m, countingJob("before the partition", targets...))

	cut := time.Now()
	p.setCut(true)
	t.Log("partition: HA1 cut off the bus")
	waitFor(t, patience, "HA1 stops leading", func() bool { return !h1.m.Leading() })
	t.Logf("HA1 stopped leading %s after the cut", time.Since(cut).Round(time.Millisecond))
	next := waitTakeover(t, others(ms, h1), h1, cut)

	if sendToCutOff {
		// An operator call that reaches the cut-off master fails: it must not be done later.
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		_, err = h1.m.ApplyJob(ctx, countingJob("sent to the cut-off master", targets...))
		cancel()
		if err == nil {
			t.Error("a job applied on the cut-off master succeeded")
		}
		t.Logf("job applied on the cut-off master: %v", err)
	}
	// The operator works on the new leader meanwhile.
	const during = 3
	for i := range during {
		applyAll(t, next.m, countingJob(fmt.Sprintf("during the partition %d", i), targets...))
	}
	if _, err := next.m.StartJob(t.Context(), before.Name, "", false); err != nil {
		t.Fatal(err)
	}

	p.setCut(false)
	t.Log("partition healed")
	waitFor(t, patience, "HA1 follows the new leader", func() bool {
		r, ok := h1.m.Lease()
		return h1.nc.IsConnected() && ok && r.Master != h1.name
	})
	// Two more lease periods: HA1 campaigns on its poll in them and must not take the lease.
	for range 2 {
		r, _ := next.m.Lease()
		waitFor(t, patience, "a lease renewal", func() bool { s, _ := next.m.Lease(); return s.Expires.After(r.Expires) })
	}
	if l := leaderOf(ms); l != next {
		t.Errorf("after the heal the leader is %v, want %s", l, next.name)
	}

	checkResultsOnce(t, ms, agents, before, 1)
	checkInstructionsOnce(t, mustJS(t, next.nc), agents)
	for _, a := range agents {
		if n := heldJobs(t, a.cfg.DataDir); n != 1+during {
			t.Errorf("%s holds %d jobs, want %d (the one sent to the cut-off master must not arrive)", a.cfg.Name, n, 1+during)
		}
	}
	checkEnlisted(t, ms, nTargets)
	for _, h := range ms {
		waitFor(t, patience, h.name+" sees every job", func() bool { return len(h.m.Catalog.All()) == 1+during })
	}
	watch.end(t)
}

// TestLeaderKilledDuringResultBurst starts a job on 200 targets at once, so that their
// results arrive in one burst, and cuts the leader off abruptly (connection closed, lease not
// released) once a fifth of them are on the bus. A follower takes over within the lease time;
// every run is on MSX_RESULTS once and counted once by the new leader and by the standby, and
// a second round started on the new leader is counted once more.
func TestLeaderKilledDuringResultBurst(t *testing.T) {
	c := runAuthCluster(t)
	ms := []*haMaster{startHAMaster(t, c, "HA1"), startHAMaster(t, c, "HA2"), startHAMaster(t, c, "HA3")}
	lead := leaderOf(ms)
	if lead == nil {
		t.Fatal("no master leads after start")
	}
	watch := watchLeaders(ms...)
	const nTargets = 200
	f := haFixture(t, c, lead)
	agents := f.startFleet(t, "BURST", nTargets)
	checkEnlisted(t, ms, nTargets)
	job := applyAll(t, lead.m, countingJob("burst job", names(agents)...))
	waitFor(t, patience, "every target holds the job", func() bool {
		for _, a := range agents {
			if ts, ok := lead.m.TargetServer(a.cfg.Name); !ok || ts.UnreadInstructions > 0 {
				return false
			}
		}
		return true
	})

	// A standby's connection counts the finished results as they are stored.
	rest := others(ms, lead)
	var seen atomic.Int64
	killNow := make(chan struct{})
	sub, err := rest[0].nc.Subscribe("msx.result.>", func(msg *nats.Msg) {
		var r schemas.RunResult
		if schemas.Decode(msg.Data, &r) == nil && r.Phase == schemas.PhaseFinished && seen.Add(1) == nTargets/5 {
			close(killNow)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // test cleanup
	if err := rest[0].nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := lead.m.StartJob(t.Context(), job.Name, "", false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-killNow:
	case <-time.After(patience):
		t.Fatal("the burst of results did not come")
	}
	cut := time.Now()
	lead.nc.Close()
	inBurst := seen.Load()
	t.Logf("leader %s cut off with %d of %d results on the bus", lead.name, inBurst, nTargets)
	if inBurst >= nTargets {
		t.Error("the whole burst was in before the cut: not during the burst")
	}
	next := waitTakeover(t, rest, lead, cut)
	checkResultsOnce(t, rest, agents, job, 1)

	// A second round on the new leader: every result counted once more.
	if _, err := next.m.StartJob(t.Context(), job.Name, "", false); err != nil {
		t.Fatal(err)
	}
	checkResultsOnce(t, rest, agents, job, 2)
	checkInstructionsOnce(t, mustJS(t, next.nc), agents)
	checkEnlisted(t, rest, nTargets)
	watch.end(t)
}
