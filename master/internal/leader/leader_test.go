package leader_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/internal/leader"
)

const ttl = 1500 * time.Millisecond

type candidate struct {
	name    string
	e       *leader.Elector
	leading atomic.Int32 // Lead functions running
	terms   chan uint64
	close   func()
}

// startCandidate runs an elector on a connection of its own, so that closing the connection
// cuts it off from the bus as a crash would.
func startCandidate(t *testing.T, url, name string) *candidate {
	t.Helper()
	nc, js := bustest.Connect(t, url)
	l := bus.Layout{LeaseTTL: ttl}
	if err := l.Ensure(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), bus.BucketLeader)
	if err != nil {
		t.Fatal(err)
	}
	c := &candidate{name: name, terms: make(chan uint64, 16), close: nc.Close}
	c.e, err = leader.Start(kv, leader.Config{Name: name, API: "http://" + name, TTL: ttl, Logger: bustest.Logger(t),
		Lead: func(ctx context.Context, term uint64) {
			c.leading.Add(1)
			c.terms <- term
			<-ctx.Done()
			c.leading.Add(-1)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.e.Shutdown(context.Background()) })
	return c
}

// watchOneLeader samples the candidates until stop and fails the test if two lead at once.
func watchOneLeader(t *testing.T, cs []*candidate) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			n := 0
			for _, c := range cs {
				if c.e.Term() != 0 || c.leading.Load() != 0 {
					n++
				}
			}
			if n > 1 {
				t.Errorf("%d masters lead at once", n)
				return
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func waitLeader(t *testing.T, cs []*candidate, timeout time.Duration) (*candidate, uint64) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, c := range cs {
			if term := c.e.Term(); term != 0 {
				return c, term
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no leader after %s", timeout)
	return nil, 0
}

func without(cs []*candidate, c *candidate) []*candidate {
	var out []*candidate
	for _, x := range cs {
		if x != c {
			out = append(out, x)
		}
	}
	return out
}

func TestOneLeaderAndTakeover(t *testing.T) {
	s := bustest.RunServer(t, "")
	var cs []*candidate
	for _, n := range []string{"M1", "M2", "M3"} {
		cs = append(cs, startCandidate(t, s.ClientURL(), n))
	}
	stop := watchOneLeader(t, cs)
	defer stop()

	first, term1 := waitLeader(t, cs, 5*ttl)
	for _, c := range cs {
		waitFor(t, 5*ttl, c.name+" sees the leader", func() bool { r, ok := c.e.Current(); return ok && r.Master == first.name })
	}

	// A crash: the leader's connection is gone, its lease is not released.
	crashed := time.Now()
	first.close()
	rest := without(cs, first)
	second, term2 := waitLeader(t, rest, 5*ttl)
	t.Logf("crash: %s took over from %s after %s (lease TTL %s)", second.name, first.name, time.Since(crashed).Round(time.Millisecond), ttl)
	if term2 <= term1 {
		t.Fatalf("term went from %d to %d", term1, term2)
	}
	waitFor(t, 5*ttl, "the crashed leader stops leading", func() bool { return first.leading.Load() == 0 && first.e.Term() == 0 })

	// A clean stop releases the lease: the last one takes over well within the TTL.
	stopped := time.Now()
	if err := second.e.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	third, term3 := waitLeader(t, without(rest, second), 5*ttl)
	t.Logf("shutdown: %s took over from %s after %s", third.name, second.name, time.Since(stopped).Round(time.Millisecond))
	if term3 <= term2 {
		t.Fatalf("term went from %d to %d", term2, term3)
	}
}

// A leader that cannot write its renewals (the bucket refuses them) stops leading before
// another master can take the lease.
func TestLeaderWithoutRenewalStops(t *testing.T) {
	s := bustest.RunServer(t, "")
	a := startCandidate(t, s.ClientURL(), "A")
	_, term := waitLeader(t, []*candidate{a}, 5*ttl)
	_, js := bustest.Connect(t, s.ClientURL())
	kv, err := js.KeyValue(t.Context(), bus.BucketLeader)
	if err != nil {
		t.Fatal(err)
	}
	// Another writer moves the record on: A's next compare-and-set fails.
	if _, err := kv.Put(t.Context(), leader.Key, []byte(`{"type":"msx.lease.v1","master":"X","term":1}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*ttl, "A stops leading", func() bool { return a.leading.Load() == 0 && a.e.Term() == 0 })
	// Once the record expires, A leads again with a larger term.
	waitFor(t, 5*ttl, "A leads again", func() bool { return a.e.Term() > term })
	if _, err := kv.Get(t.Context(), leader.Key); err != nil && err != jetstream.ErrKeyNotFound {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A master restarted after a crash takes over the lease its earlier run left at once; another
// master's lease it leaves alone.
func TestRestartedLeaderReclaimsItsLease(t *testing.T) {
	s := bustest.RunServer(t, "")
	a := startCandidate(t, s.ClientURL(), "A")
	_, term := waitLeader(t, []*candidate{a}, 5*ttl)
	a.close() // crash: the record stays until it expires
	b := startCandidate(t, s.ClientURL(), "B")
	a2 := startCandidate(t, s.ClientURL(), "A")
	select {
	case <-a2.e.Campaigned():
	case <-time.After(5 * ttl):
		t.Fatal("no first campaign")
	}
	if got := a2.e.Term(); got <= term {
		t.Fatalf("restarted A: term %d after its first campaign, want above %d", got, term)
	}
	if b.e.Term() != 0 {
		t.Fatal("B leads too")
	}
}

// stuckKV is the real lease bucket whose Update, once stuck is set, does not return until the
// test ends, whatever its context says: a renewal written to a connection whose socket is full.
type stuckKV struct {
	jetstream.KeyValue
	stuck   atomic.Bool
	release chan struct{}
}

func (k *stuckKV) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	if k.stuck.Load() {
		<-k.release
		return 0, context.Canceled
	}
	return k.KeyValue.Update(ctx, key, value, last)
}

// TestTermEndsWithLeaseWhileRenewalIsStuck: a leader whose renewal hangs stops leading when
// its lease can run out, not when the renewal returns (a fault test saw a master lead for 9 s
// after its lease had expired and another had taken over).
func TestTermEndsWithLeaseWhileRenewalIsStuck(t *testing.T) {
	srv := bustest.RunServer(t, "")
	_, js := bustest.Connect(t, srv.ClientURL())
	if err := (bus.Layout{LeaseTTL: ttl}).Ensure(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	real, err := js.KeyValue(t.Context(), bus.BucketLeader)
	if err != nil {
		t.Fatal(err)
	}
	kv := &stuckKV{KeyValue: real, release: make(chan struct{})}
	ended := make(chan struct{})
	e, err := leader.Start(kv, leader.Config{Name: "STUCK", TTL: ttl, Logger: bustest.Logger(t),
		Lead: func(ctx context.Context, term uint64) { <-ctx.Done(); close(ended) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(kv.release); _ = e.Shutdown(context.Background()) }()
	<-e.Campaigned()
	if e.Term() == 0 {
		t.Fatal("the only candidate does not lead")
	}
	kv.stuck.Store(true)
	select {
	case <-ended:
	case <-time.After(10 * ttl):
		t.Fatal("Lead's context did not end although no renewal returned")
	}
	if term := e.Term(); term != 0 {
		t.Fatalf("Term() = %d after the lease could have run out while the renewal is still stuck: want 0", term)
	}
}
