package master_test

import (
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/schemas"
)

// TestEnlistmentResentWhileHandled: an agent whose enlistment request timed out on a loaded
// master sends it again while the first is still handled. Every copy is answered with the one
// enlistment (the same server_id), never with 14296 "another enlistment is in progress",
// which stopped such agents for good (seen in msx bench under load). Another agent's request
// for the name still gets 14296.
func TestEnlistmentResentWhileHandled(t *testing.T) {
	f := newFixture(t)
	tok, _ := f.token(t, patience)
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	opts, err := bus.ClientTLS(bus.ModeVerify, f.ca, "", bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(f.url, append(opts, nats.CustomInboxPrefix(bus.EnlistInboxPrefix))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	enlist := func(key string) schemas.EnlistReply {
		req := schemas.EnlistRequest{ProtocolVersion: schemas.ProtocolVersion, ServerName: "SQLRESEND", PublicKey: key, Token: tok,
			PollInterval: 60, Version: "test"}
		b, err := schemas.Encode(&req)
		if err != nil {
			t.Error(err)
			return schemas.EnlistReply{}
		}
		msg, err := nc.Request(bus.SubjectEnlist, b, patience)
		if err != nil {
			t.Error(err)
			return schemas.EnlistReply{}
		}
		var rep schemas.EnlistReply
		if err := schemas.Decode(msg.Data, &rep); err != nil {
			t.Error(err)
		}
		return rep
	}
	const copies = 6
	reps := make([]schemas.EnlistReply, copies)
	var wg sync.WaitGroup
	for i := range copies {
		wg.Go(func() { reps[i] = enlist(pub) })
	}
	wg.Wait()
	for i, rep := range reps {
		if rep.Error != nil || rep.ServerID == 0 || rep.ServerID != reps[0].ServerID {
			t.Errorf("copy %d of the enlistment: server_id %d, error %+v (want server_id %d, no error)", i, rep.ServerID, rep.Error, reps[0].ServerID)
		}
	}
	other, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _ := other.PublicKey()
	if rep := enlist(otherPub); rep.Error == nil || rep.Error.Code != 14296 {
		t.Errorf("another agent's enlistment of the name: %+v, want error 14296", rep.Error)
	}
}
