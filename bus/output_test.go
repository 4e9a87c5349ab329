package bus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
)

// TestOutputSubjectPermissions proves the live output subjects: a target's chunk on its own
// msx.out.<t>.<job> reaches the master's account under the same subject, and a chunk it
// publishes as another target is refused by the server and reaches nobody.
func TestOutputSubjectPermissions(t *testing.T) {
	f := newAuthFixture(t)
	mnc := f.connect(t, f.master, "")
	sub, err := mnc.SubscribeSync(bus.OutputSubjectAll)
	if err != nil {
		t.Fatal(err)
	}
	if err := mnc.Flush(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 4)
	nc := f.connect(t, f.keys["SQL01"], bus.InboxPrefix("SQL01"))
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errc <- err })

	// Forged first: if it got through, it would arrive before the real one.
	if err := nc.Publish(bus.OutputSubject("SQL02", "J1"), []byte("forged")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(bus.OutputSubject("SQL01", "J1"), []byte("own")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("own output chunk did not reach the master: %v", err)
	}
	if msg.Subject != bus.OutputSubject("SQL01", "J1") || string(msg.Data) != "own" {
		t.Fatalf("master got %q on %s, want SQL01's own chunk", msg.Data, msg.Subject)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("forged chunk: unexpected error %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("publishing output as another target was not refused")
	}
	if msg, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("master got a second chunk %q on %s", msg.Data, msg.Subject)
	}
	tok, err := bus.TargetFromSubject(bus.OutputSubject("SQL01", "J1"))
	if err != nil || tok != "SQL01" {
		t.Fatalf("TargetFromSubject = %q, %v", tok, err)
	}
}
