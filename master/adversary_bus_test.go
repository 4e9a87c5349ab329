//go:build adversary

package master_test

// Adversary probes of the bus (issue 9): what an anonymous client and an enlisted target can make
// the server or the master do for them. Each probe is sent against a real embedded secure server,
// a real master and real target agents; each test asserts the refusal where there is one, that
// nothing changed in any stream, KV bucket or consumer, and that the master is alive, also after
// a restart.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas"
)

// busState is what a probe must not change: message counts of every stream, keys of every KV
// bucket, and the consumers of MSX_INSTR that are not the master's own followers.
type busState struct {
	msgs      map[string]uint64
	keys      map[string][]string
	consumers map[string]time.Time // name -> created
}

func (s busState) String() string {
	return fmt.Sprintf("streams %v, keys %v, instruction consumers %v", s.msgs, s.keys, slices.Sorted(maps.Keys(s.consumers)))
}

func (s busState) equal(o busState) bool {
	return maps.Equal(s.msgs, o.msgs) && maps.EqualFunc(s.keys, o.keys, slices.Equal) &&
		maps.EqualFunc(s.consumers, o.consumers, func(a, b time.Time) bool { return a.Equal(b) })
}

func advSnapshot(tb testing.TB, js jetstream.JetStream) busState {
	tb.Helper()
	ctx := tb.Context()
	st := busState{msgs: map[string]uint64{}, keys: map[string][]string{}, consumers: map[string]time.Time{}}
	l := js.ListStreams(ctx)
	for info := range l.Info() {
		if info.Config.Name == bus.StreamAudit {
			continue // the master audits refused requests: advAuditGenuine checks that stream
		}
		st.msgs[info.Config.Name] = info.State.Msgs
	}
	if err := l.Err(); err != nil {
		tb.Fatalf("list streams: %v", err)
	}
	for _, b := range []string{bus.BucketTargets, bus.BucketGroups, bus.BucketTokens, bus.BucketJobs, bus.BucketVars} {
		kv, err := js.KeyValue(ctx, b)
		if err != nil {
			tb.Fatalf("bucket %s: %v", b, err)
		}
		keys, err := kv.Keys(ctx)
		if err != nil && err != jetstream.ErrNoKeysFound {
			tb.Fatalf("keys of %s: %v", b, err)
		}
		slices.Sort(keys)
		st.keys[b] = keys
	}
	s, err := js.Stream(ctx, bus.StreamInstr)
	if err != nil {
		tb.Fatal(err)
	}
	cl := s.ListConsumers(ctx)
	for ci := range cl.Info() {
		if ci.Config.FilterSubject == "" && len(ci.Config.FilterSubjects) == 0 {
			continue // the master's own follower of the whole stream
		}
		st.consumers[ci.Name] = ci.Created
	}
	if err := cl.Err(); err != nil {
		tb.Fatalf("list consumers: %v", err)
	}
	return st
}

// advSettled waits until the bus state holds still (heartbeats and reports of the agents have
// landed) and returns it.
func advSettled(tb testing.TB, js jetstream.JetStream) busState {
	tb.Helper()
	prev := advSnapshot(tb, js)
	var cur busState
	waitFor(tb, patience, func() bool {
		time.Sleep(300 * time.Millisecond) // polling interval: state must hold across it
		cur = advSnapshot(tb, js)
		same := cur.equal(prev)
		prev = cur
		return same
	}, "the bus state to settle (last %v)", &cur)
	return cur
}

// advAuditGenuine fails the test if the audit stream holds a record no master signed: a reply
// or delivery that a probe steered into msx.audit would be one.
func advAuditGenuine(tb testing.TB, m *master.Master) {
	tb.Helper()
	recs, err := m.AuditLog(tb.Context(), master.AuditFilter{Limit: 1000, Unverified: true})
	if err != nil {
		tb.Fatalf("audit log: %v", err)
	}
	for _, r := range recs {
		if r.Unverified {
			tb.Errorf("audit record %d was not written by a master: %+v", r.Seq, r.Audit)
		}
	}
}

// advUnchanged fails the test if the bus state differs from before.
func advUnchanged(tb testing.TB, js jetstream.JetStream, before busState) {
	tb.Helper()
	if after := advSnapshot(tb, js); !after.equal(before) {
		tb.Fatalf("a probe changed the bus:\nbefore %v\nafter  %v", before, after)
	}
}

// advConn connects with kp (nil: anonymous) and collects the permission violations the server
// reports to it.
type advConn struct {
	*nats.Conn
	mu   sync.Mutex
	errs []string
}

func (f *fixture) advConnect(tb testing.TB, kp nkeys.KeyPair, inbox string) *advConn {
	tb.Helper()
	c := &advConn{}
	opts, err := bus.ClientTLS(bus.ModeVerify, f.ca, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	if kp != nil {
		o, err := bus.NkeyOption(kp)
		if err != nil {
			tb.Fatal(err)
		}
		opts = append(opts, o)
	}
	opts = append(opts, nats.CustomInboxPrefix(inbox), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err.Error())
		c.mu.Unlock()
	}))
	if c.Conn, err = nats.Connect(f.url, opts...); err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// refusedPublish waits until the server reports a publish permission violation on subj.
func (c *advConn) refusedPublish(tb testing.TB, subj string) {
	tb.Helper()
	var got []string
	waitFor(tb, patience, func() bool {
		c.mu.Lock()
		got = slices.Clone(c.errs)
		c.mu.Unlock()
		for _, e := range got {
			if strings.Contains(e, "Permissions Violation for Publish to \""+subj+"\"") {
				return true
			}
		}
		return false
	}, "a permission violation for publish to %q (got %v)", subj, &got)
}

// hostileReplies are reply subjects that, answered by a connection with more rights than the
// caller, write into streams and buckets or drive the JetStream API.
func hostileReplies(victim string) []string {
	return []string{
		"$KV." + bus.BucketTargets + "." + hex.EncodeToString([]byte("EVIL")),
		"$KV." + bus.BucketGroups + ".EVIL",
		"msx.instr." + victim,
		"msx.status." + victim,
		"msx.event." + victim + ".20",
		bus.SubjectAudit,
		"$JS.API.STREAM.PURGE." + bus.StreamEvents,
		"$JS.API.STREAM.DELETE." + bus.StreamResults,
	}
}

// advAlive checks that the master answers an enlistment and brings a new target online, then
// restarts it and checks again.
func (f *fixture) advAlive(tb testing.TB, name string) {
	tb.Helper()
	f.waitOnline(tb, f.startTarget(tb, name+"A"))
	shutdownMaster(tb, f.m)
	f.m = f.startMaster(tb)
	f.waitOnline(tb, f.startTarget(tb, name+"B"))
}

// advEvent puts one event in MSX_EVENTS, so that a purge would show.
func (f *fixture) advEvent(tb testing.TB, tok string) {
	tb.Helper()
	if _, err := f.js.Publish(tb.Context(), bus.EventSubject(tok, "10"), []byte(`{}`)); err != nil {
		tb.Fatal(err)
	}
}

func TestAdversaryAnonymousReplySubjects(t *testing.T) {
	f := newFixture(t)
	victim := f.startTarget(t, "advsql1")
	f.waitOnline(t, victim)
	vt := f.reg(t, victim.name()).Token
	f.advEvent(t, vt)
	before := advSettled(t, f.js)

	anon := f.advConnect(t, nil, bus.EnlistInboxPrefix)
	req, _ := schemas.Encode(&schemas.EnlistRequest{ProtocolVersion: schemas.ProtocolVersion, ServerName: "NOBODY", Version: "x",
		PollInterval: 60, LocalTime: time.Now().UTC()})
	for _, reply := range hostileReplies(vt) {
		for _, body := range [][]byte{req, []byte("junk")} {
			if err := anon.PublishRequest(bus.SubjectEnlist, reply, body); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A reply subject that is the enlist import itself: the answer must not come back to the
	// master as a new request, round after round.
	if err := anon.PublishRequest(bus.SubjectEnlist, bus.SubjectEnlist, req); err != nil {
		t.Fatal(err)
	}
	// Anything but enlisting, directly.
	for _, subj := range []string{"$JS.API.STREAM.PURGE." + bus.StreamEvents, "$JS.API.CONSUMER.CREATE." + bus.StreamInstr,
		bus.SubjectDefect, bus.ConsumerSubject(vt), bus.StatusSubject(vt), "$KV." + bus.BucketTargets + ".x"} {
		if err := anon.PublishRequest(subj, bus.EnlistInboxPrefix+".x", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		anon.refusedPublish(t, subj)
	}
	// A request of its own afterwards: once it is answered, the master has answered the probes
	// before it (one subscription, in order).
	if _, err := anon.Request(bus.SubjectEnlist, req, patience); err != nil {
		t.Fatalf("the master no longer answers enlistment: %v", err)
	}
	advUnchanged(t, f.js, before)
	advAuditGenuine(t, f.m)
	f.advAlive(t, "advanon")
}

// advTargetKey stops agent a, reads its identity and starts it again.
func advTargetKey(tb testing.TB, a *agent) (nkeys.KeyPair, string) {
	tb.Helper()
	if err := a.stop(); err != nil {
		tb.Fatal(err)
	}
	id, err := a.openStore(tb).Identity(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	a.start(tb)
	kp, err := nkeys.FromSeed([]byte(id.Seed))
	if err != nil {
		tb.Fatal(err)
	}
	return kp, id.Token
}

func TestAdversaryTargetConsumers(t *testing.T) {
	f := newFixture(t)
	attacker, victim := f.startTarget(t, "advsql2"), f.startTarget(t, "advsql3")
	f.waitOnline(t, attacker)
	kp, at := advTargetKey(t, attacker)
	f.waitOnline(t, attacker)
	f.waitOnline(t, victim)
	vt := f.reg(t, victim.name()).Token
	f.waitApplied(t, f.action(t, "synctime", attacker.name(), 0))
	f.waitApplied(t, f.action(t, "synctime", victim.name(), 0))
	f.advEvent(t, vt)
	before := advSettled(t, f.js)

	c := f.advConnect(t, kp, bus.InboxPrefix(at))
	js, _ := jetstream.New(c.Conn)
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(t.Context(), time.Second) }

	// Creating consumers of any kind: its own subject, a durable, a push consumer delivering to
	// another target's status subject.
	for _, cfg := range []jetstream.ConsumerConfig{
		{Name: "rogue", FilterSubject: bus.InstrSubject(at), AckPolicy: jetstream.AckNonePolicy},
		{Durable: "rogue_durable", FilterSubject: bus.InstrSubject(at)},
		{Name: "rogue_push", FilterSubject: bus.InstrSubject(at), DeliverSubject: "msx.status." + vt},
		{Name: bus.InstrConsumerName(at), FilterSubject: bus.InstrSubject(at), DeliverSubject: bus.SubjectAudit},
	} {
		ctx, cancel := short()
		if _, err := js.CreateConsumer(ctx, bus.StreamInstr, cfg); err == nil {
			t.Errorf("target created consumer %+v", cfg)
		}
		cancel()
	}
	// Pulling with reply subjects into streams and buckets: from a consumer it might have made,
	// from its own consumer, from the victim's.
	pull := []byte(`{"batch":10,"expires":500000000}`)
	f.post(t, attacker.name(), schemas.Instruction{Operation: schemas.OpSyncTime})
	for _, cons := range []string{"rogue", bus.InstrConsumerName(at), bus.InstrConsumerName(vt)} {
		for _, reply := range hostileReplies(vt) {
			if err := c.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+bus.StreamInstr+"."+cons, reply, pull); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.refusedPublish(t, "$JS.API.CONSUMER.MSG.NEXT."+bus.StreamInstr+"."+bus.InstrConsumerName(vt))
	// Deleting or re-reading the victim's consumer, knowing its name.
	for _, api := range []string{"DELETE", "INFO"} {
		subj := "$JS.API.CONSUMER." + api + "." + bus.StreamInstr + "." + bus.InstrConsumerName(vt)
		if err := c.PublishRequest(subj, "msx.status."+vt, nil); err != nil {
			t.Fatal(err)
		}
		c.refusedPublish(t, subj)
	}
	// Asking the master for the victim's consumer, and for its own with a bad request.
	if err := c.Publish(bus.ConsumerSubject(vt), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	c.refusedPublish(t, bus.ConsumerSubject(vt))
	for _, reply := range hostileReplies(vt) {
		if err := c.PublishRequest(bus.ConsumerSubject(at), reply, []byte("junk")); err != nil {
			t.Fatal(err)
		}
	}
	// A flood of valid, signed requests for its own consumer: at most one consumer per target
	// comes of it, and the master keeps serving the others.
	for i := range 200 {
		req := schemas.ConsumerRequest{StartSeq: uint64(i + 1), Time: time.Now().UTC()}
		sig, err := kp.Sign(schemas.SignedBytes("consumer", at, req.Signed()))
		if err != nil {
			t.Fatal(err)
		}
		req.Signature = base64.StdEncoding.EncodeToString(sig)
		b, _ := schemas.Encode(&req)
		if err := c.PublishRequest(bus.ConsumerSubject(at), bus.InboxPrefix(at)+".flood", b); err != nil {
			t.Fatal(err)
		}
	}
	// Enlisting with reply subjects into streams and buckets, from the target's account.
	for _, reply := range hostileReplies(vt) {
		if err := c.PublishRequest(bus.SubjectEnlist, reply, []byte("junk")); err != nil {
			t.Fatal(err)
		}
	}
	// Speaking on the victim's subjects.
	for _, subj := range []string{bus.StatusSubject(vt), bus.AppliedSubject(vt), bus.ResultSubject(vt, "job"),
		bus.EventSubject(vt, "20"), bus.InstrSubject(vt), bus.InstrSubject(at), bus.SubjectAudit} {
		if err := c.Publish(subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		c.refusedPublish(t, subj)
	}
	// Reading the variables' values (secrets among them) out of their bucket.
	for _, subj := range []string{"$JS.API.DIRECT.GET.KV_" + bus.BucketVars, "$JS.API.STREAM.MSG.GET.KV_" + bus.BucketVars,
		"$JS.API.CONSUMER.CREATE.KV_" + bus.BucketVars} {
		if err := c.PublishRequest(subj, bus.InboxPrefix(at)+".vars", []byte(`{"last_by_subj":"$KV.`+bus.BucketVars+`.>"}`)); err != nil {
			t.Fatal(err)
		}
		c.refusedPublish(t, subj)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	// The attacker's own instruction still reaches the attacker's agent; then nothing else moved.
	f.waitApplied(t, f.action(t, "synctime", attacker.name(), 0))
	f.waitApplied(t, f.action(t, "synctime", victim.name(), 0))
	before = advSettledAfter(t, f.js, before)
	advUnchanged(t, f.js, before)
	advAuditGenuine(t, f.m)
	f.advAlive(t, "advtgt")
}

// advSettledAfter waits for the state to settle after legitimate instructions and checks that
// it differs from before only by them: MSX_INSTR and MSX_APPLIED grow, the status stream may not
// (one message per target), the instruction consumers are those of the agents.
func advSettledAfter(tb testing.TB, js jetstream.JetStream, before busState) busState {
	tb.Helper()
	now := advSettled(tb, js)
	for name, n := range now.msgs {
		if name == bus.StreamInstr || name == bus.StreamApplied {
			continue
		}
		if n != before.msgs[name] {
			tb.Fatalf("stream %s holds %d messages, %d before the probes", name, n, before.msgs[name])
		}
	}
	if !maps.EqualFunc(now.keys, before.keys, slices.Equal) {
		tb.Fatalf("KV keys changed:\nbefore %v\nafter  %v", before.keys, now.keys)
	}
	for name := range now.consumers {
		if !strings.HasPrefix(name, "I_") {
			tb.Fatalf("consumer %s exists on %s", name, bus.StreamInstr)
		}
	}
	if len(now.consumers) > len(before.consumers) {
		tb.Fatalf("%d instruction consumers, %d before the probes: %v", len(now.consumers), len(before.consumers), now)
	}
	return now
}

func TestAdversaryBadRegistryRecord(t *testing.T) {
	f := newFixture(t)
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	kv, err := f.js.KeyValue(t.Context(), bus.BucketTargets)
	if err != nil {
		t.Fatal(err)
	}
	// What an enlistment reply written into the bucket, or a damaged store, leaves: a record
	// without a usable name or token.
	for key, rec := range map[string]string{
		"":                                `{"server_id":900,"public_key":"` + pub + `"}`,
		hex.EncodeToString([]byte("A.B")): `{"server_id":901,"server_name":"A.B","token":"A.B","public_key":"` + pub + `"}`,
	} {
		if key == "" {
			key = "45564c"
		}
		if _, err := kv.Put(t.Context(), key, []byte(rec)); err != nil {
			t.Fatal(err)
		}
		shutdownMaster(t, f.m)
		f.m = f.startMaster(t)
		o, _ := bus.NkeyOption(kp)
		tlsOpts, _ := bus.ClientTLS(bus.ModeVerify, f.ca, "", nil)
		if nc, err := nats.Connect(f.url, append(tlsOpts, o)...); err == nil {
			nc.Close()
			t.Fatalf("connected with the key of record %s", rec)
		}
		if err := kv.Delete(t.Context(), key); err != nil {
			t.Fatal(err)
		}
	}
	f.advAlive(t, "advreg")
}
