//go:build faults

package faults_test

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/ledger"
)

// proxy is a TCP proxy between one target and the bus that can cut the link (partition) and
// heal it. While cut, it closes every connection and refuses new ones.
type proxy struct {
	ln     net.Listener
	to     string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
	closed bool
	slow   atomic.Int64 // pause per kilobyte, in nanoseconds
}

func newProxy(tb testing.TB, to string) *proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{ln: ln, to: to, conns: map[net.Conn]bool{}}
	go p.serve()
	tb.Cleanup(p.close)
	return p
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut || p.closed {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst, pausing before each write of up to a kilobyte while the proxy is
// slowed, and closes both when either side ends.
func (p *proxy) pipe(dst, src net.Conn) {
	defer func() { dst.Close(); src.Close() }()
	buf := make([]byte, 1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.slow.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// setSlow makes the proxy pause perKB before passing on each kilobyte (0: full speed).
func (p *proxy) setSlow(perKB time.Duration) { p.slow.Store(int64(perKB)) }

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.setCut(true)
	p.ln.Close()
}

// TestPartitionLongerThanHeartbeatTimeout cuts one target off the bus until the master
// suspects it offline, posts a new job version and a START meanwhile, then heals: the target
// catches up, applies everything once and runs once.
func TestPartitionLongerThanHeartbeatTimeout(t *testing.T) {
	f := newSecureFixture(t)
	u, err := url.Parse(f.url)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	near := f.newAgent(t, "NEAR01", "")
	far := f.newAgent(t, "FAR01", "")
	far.cfg.NATSURL = p.url()
	near.start()
	far.start()
	agents := []*agent{near, far}
	waitFor(t, patience, "both targets online", func() bool {
		for _, a := range agents {
			if ts, ok := f.m.TargetServer(a.cfg.Name); !ok || ts.LastPollDate == nil {
				return false
			}
		}
		return true
	})
	job := applyAll(t, f.m, countingJob("partition job", names(agents)...))
	startRounds(t, f.m, job, agents, 1)

	p.setCut(true)
	t.Log("partition: FAR01 cut off the bus")
	waitFor(t, patience, "FAR01 suspected offline (status flag 2)", func() bool {
		ts, _ := f.m.TargetServer("FAR01")
		return ts.Status&ledger.StatusSuspectedOffline != 0
	})
	job.Description = "changed during the partition"
	job = applyAll(t, f.m, job)
	if _, err := f.m.StartJob(t.Context(), job.Name, "", false); err != nil {
		t.Fatal(err)
	}
	// The partition lasts well beyond the heartbeat timeout: NEAR01 takes both instructions and
	// sends four more heartbeats while FAR01 cannot.
	waitFor(t, patience, "NEAR01 applied the new version and the START", func() bool {
		ts, _ := f.m.TargetServer("NEAR01")
		return ts.UnreadInstructions == 0
	})
	waitHeartbeats(t, f.m, "NEAR01", 4)
	if ts, _ := f.m.TargetServer("FAR01"); ts.UnreadInstructions != 2 {
		t.Errorf("FAR01 has %d unread instructions during the partition, want 2 (INSERT, START)", ts.UnreadInstructions)
	}
	p.setCut(false)
	t.Log("partition healed")
	waitFor(t, patience, "FAR01 back online", func() bool {
		ts, _ := f.m.TargetServer("FAR01")
		return ts.Status&ledger.StatusSuspectedOffline == 0 && ts.UnreadInstructions == 0
	})
	checkExact(t, masterLedger(f.m), f.js, agents, "partition job", map[string]int{"NEAR01": 2, "FAR01": 2}, checkOpts{})
	masterRuns(t, f.m, job, 2)
}

// TestClusterNodeKilled runs the master with R3 state on a three-node JetStream cluster
// (in-process, loopback, nkey authentication as the embedded server), stops one node while jobs are applied and started, brings it back,
// and checks that nothing was lost or done twice. The node is stopped with Shutdown (in-process
// nodes cannot be SIGKILLed on their own).
func TestClusterNodeKilled(t *testing.T) {
	c := runAuthCluster(t)
	nc := c.connectMaster(t)
	f := &fixture{url: c.URL(), nc: nc, auth: c.auth, layout: bus.Layout{Replicas: 3}}
	f.js = mustJS(t, nc)
	f.startMaster(t)
	agents := f.startFleet(t, "R3T", 4)
	job := applyAll(t, f.m, countingJob("cluster job", names(agents)...))
	startRounds(t, f.m, job, agents, 1)

	// Under load: versions and starts keep coming while node 1 goes down and comes back. It
	// goes down once round 1 started and stays down until rounds 2 and 3 are done: a count of
	// rounds, not a guess at how long they take.
	rounds := 4
	roundDone := make(chan int, rounds)
	var wg sync.WaitGroup
	wg.Go(func() {
		deadline := time.After(patience)
		wait := func(round int) {
			for {
				select {
				case r := <-roundDone:
					if r >= round {
						return
					}
				case <-deadline:
					return // the rounds failed; the test reports it
				}
			}
		}
		t.Log("stopping cluster node 1")
		c.Stop(1)
		wait(3)
		t.Log("restarting cluster node 1")
		c.Restart(t, 1)
	})
	for r := 1; r <= rounds; r++ {
		job.Description = "cluster round " + string(rune('0'+r))
		var err error
		for try := 0; try < 20; try++ { // an API call may fail while the cluster elects leaders
			if _, err = f.m.ApplyJob(t.Context(), job); err == nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("apply during node loss: %v", err)
		}
		startRounds(t, f.m, job, agents, 1)
		roundDone <- r
	}
	wg.Wait()
	want := map[string]int{}
	for _, a := range agents {
		want[a.cfg.Name] = rounds + 1
	}
	checkExact(t, masterLedger(f.m), f.js, agents, "cluster job", want, checkOpts{})
	masterRuns(t, f.m, job, rounds+1)
}
