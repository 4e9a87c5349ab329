package bus_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
)

// A target that reconnects again and again leaves no closed connections behind in Auth: it
// would otherwise grow by one per reconnect for as long as the master runs.
func TestAuthDropsClosedConnections(t *testing.T) {
	f := newAuthFixture(t)
	pub, _ := f.keys["SQL01"].PublicKey()
	base := f.srv.NumClients()
	for range 5 {
		nc := f.connect(t, f.keys["SQL01"], bus.InboxPrefix("SQL01"))
		nc.Close()
		waitUntil(t, "the server drops the closed connection", func() bool { return f.srv.NumClients() == base })
	}
	f.connect(t, f.keys["SQL01"], bus.InboxPrefix("SQL01"))
	if n := f.auth.Connections(pub); n != 1 {
		t.Fatalf("Auth holds %d connections of SQL01 after 5 closed and 1 open; want 1", n)
	}
}

// Revoke forgets the target's account as well as its connections; the same target enlisted
// again connects and uses its subjects as before.
func TestAuthRevokeForgetsTheTargetAccount(t *testing.T) {
	f := newAuthFixture(t)
	pub, _ := f.keys["SQL01"].PublicKey()
	nc := f.connect(t, f.keys["SQL01"], bus.InboxPrefix("SQL01"))
	if !slices.Contains(f.srv.AuthAccounts(), bus.TargetAccount("SQL01")) {
		t.Fatalf("accounts %v: no account for SQL01", f.srv.AuthAccounts())
	}
	kp := f.keys["SQL01"]
	f.mu.Lock()
	delete(f.keys, "SQL01") // deleted from the registry
	f.mu.Unlock()
	f.auth.Revoke(pub)
	waitUntil(t, "the revoked connection is closed", nc.IsClosed)
	if acc := f.srv.AuthAccounts(); slices.Contains(acc, bus.TargetAccount("SQL01")) {
		t.Fatalf("accounts %v: SQL01's is still held after its key was revoked", acc)
	}
	if n := f.auth.Connections(pub); n != 0 {
		t.Fatalf("Auth holds %d connections of the revoked key", n)
	}
	// Enlisted again (with the same key here): its account works as before.
	f.mu.Lock()
	f.keys["SQL01"] = kp
	f.mu.Unlock()
	nc = f.connect(t, kp, bus.InboxPrefix("SQL01"))
	sub, err := f.masterJ.Conn().SubscribeSync(bus.StatusSubject("SQL01"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.masterJ.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(bus.StatusSubject("SQL01"), []byte("hb")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("SQL01's status does not reach the master after it enlisted again: %v", err)
	}
}

// A master sets its lookup after the server has started (it needs the registry first) while
// targets are already dialling: SetLookup makes that safe (go test -race reports the old
// assignment to Auth.Lookup), and the first connection after it is admitted.
func TestAuthSetLookupWhileTargetsConnect(t *testing.T) {
	f := newAuthFixture(t)
	keys := f.auth.Lookup
	f.auth.SetLookup(func(string) (string, bool) { return "", false }) // nothing registered yet
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	admitted := make(chan struct{}, 1)
	for range 4 {
		wg.Go(func() {
			o, _ := bus.NkeyOption(f.keys["SQL02"])
			for ctx.Err() == nil {
				nc, err := nats.Connect(f.url, o, nats.CustomInboxPrefix(bus.InboxPrefix("SQL02")))
				if err == nil {
					nc.Close()
					select {
					case admitted <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	f.auth.SetLookup(keys)
	select {
	case <-admitted:
	case <-time.After(60 * time.Second):
		t.Fatal("no connection admitted within 60s of SetLookup")
	}
	cancel()
	wg.Wait()
}
