//go:build adversary

package master_test

// Adversary probes against a real embedded server, a real master and real targets: an enlisted
// target speaking in another's name, a token taking over a live target, a bound token used for
// another name, a stranger enlisting with a victim's key, garbage in the registry buckets, and
// the mode of the file holding a target's key. Each asserts the refusal and that nothing
// changed.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/target"
)

// connectAs connects to the bus with a stopped agent's own key, as that target would.
func (f *fixture) connectAs(tb testing.TB, a *agent) jetstream.JetStream {
	tb.Helper()
	id, err := a.openStore(tb).Identity(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	kp, err := nkeys.FromSeed([]byte(id.Seed))
	if err != nil {
		tb.Fatal(err)
	}
	opts, err := bus.ClientTLS(bus.ModeVerify, f.ca, "", bustest.Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	nk, err := bus.NkeyOption(kp)
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect(f.url, append(opts, nk, nats.CustomInboxPrefix(bus.InboxPrefix(id.Token)))...)
	if err != nil {
		tb.Fatalf("connect as %s: %v", id.ServerName, err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// connectStranger connects with no key at all, as anyone who can reach the bus.
func (f *fixture) connectStranger(tb testing.TB) *nats.Conn {
	tb.Helper()
	opts, err := bus.ClientTLS(bus.ModeVerify, f.ca, "", bustest.Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect(f.url, append(opts, nats.CustomInboxPrefix(bus.EnlistInboxPrefix))...)
	if err != nil {
		tb.Fatalf("connect without a key: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// auditHas reports whether the audit holds a record of action on object with status.
func auditHas(tb testing.TB, m *master.Master, action, object string, status int) bool {
	tb.Helper()
	recs, err := m.AuditLog(tb.Context(), master.AuditFilter{Limit: 200})
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range recs {
		if r.Action == action && r.Object == object && r.Status == status {
			return true
		}
	}
	return false
}

// TestAdversaryForgedIdentity: an enlisted target (EVIL) publishes an event, a run result and a
// heartbeat naming SQL01. The event is shown as EVIL's with the master's receive time; the
// result is refused, the heartbeat taken as EVIL's, both counted; SQL01's view is untouched.
func TestAdversaryForgedIdentity(t *testing.T) {
	f := newFixture(t)
	victim := f.startTarget(t, "SQL01")
	f.waitOnline(t, victim)
	evil := f.startTarget(t, "EVIL")
	f.waitOnline(t, evil)
	evil.stopClean(t)
	js := f.connectAs(t, evil)
	start := time.Now()

	id := "forged-" + uuid.NewString()
	long := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	publish(t, js, bus.EventSubject("EVIL", "20"), &schemas.Event{ID: id, Server: "SQL01", Time: long, Severity: 20,
		Source: "sqlserver", Message: "disk failure"})
	var got master.EventRecord
	waitFor(t, patience, func() bool {
		evs, err := f.m.Events(t.Context(), master.EventFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.ID == id {
				got = e
				return true
			}
		}
		return false
	}, "the forged event in the event view")
	if got.Server != "EVIL" || got.ClaimedServer != "SQL01" {
		t.Errorf("event shown as %q (claimed %q), want EVIL (claimed SQL01)", got.Server, got.ClaimedServer)
	}
	if got.Time.Before(start.Add(-time.Minute)) || !got.ReportedTime.Equal(long) {
		t.Errorf("event time %s, reported %s: want the master's receive time, and the sender's 2001 kept as reported", got.Time, got.ReportedTime)
	}
	evs, err := f.m.Events(t.Context(), master.EventFilter{Server: "SQL01", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.ID == id {
			t.Errorf("the forged event is listed as SQL01's: %+v", e)
		}
	}

	before := f.m.Misattributed.Load()
	job := uuid.NewString()
	publish(t, js, bus.ResultSubject("EVIL", job), &schemas.RunResult{RunID: uuid.NewString(), Phase: schemas.PhaseStarted, JobID: job,
		JobName: "x", VersionNumber: 1, Server: "SQL01", InvokedBy: "evil", Started: time.Now(), RunStatus: 4})
	publish(t, js, bus.StatusSubject("EVIL"), &schemas.Heartbeat{ServerName: "SQL01", Sent: time.Now(), LocalTime: "x", PollInterval: 60,
		IntervalMS: 200, Version: "x", ProtocolVersion: schemas.ProtocolVersion, JobDigest: "x", Database: "forged"})
	waitFor(t, patience, func() bool { return f.m.Misattributed.Load() >= before+2 }, "the forged result and heartbeat refused and counted")
	ts, _ := f.m.TargetServer("SQL01")
	if !ts.Connected || ts.Status != 1 || ts.Database == "forged" {
		t.Errorf("SQL01's view changed: %+v", ts)
	}
	waitFor(t, patience, func() bool { ev, _ := f.m.TargetServer("EVIL"); return ev.Database == "forged" },
		"the forged heartbeat taken as EVIL's own")
}

// TestAdversaryTokenTakeover: a second agent with a fresh token enlisting over the name of a
// connected target is refused with 14296 and changes nothing; after `replace` it takes over
// and the old key is revoked. Both are audited.
func TestAdversaryTokenTakeover(t *testing.T) {
	f := newFixture(t)
	real := f.startTarget(t, "SQL01")
	f.waitOnline(t, real)
	keyBefore := f.reg(t, "SQL01").PublicKey

	tok, rec := f.token(t, time.Hour)
	thief := f.newAgent(t, "SQL01", tok)
	err := runOnce(t, thief.cfg)
	if err == nil || !strings.Contains(err.Error(), "(14296)") || !strings.Contains(err.Error(), "targetserver replace") {
		t.Fatalf("enlisting over a live name: %v, want 14296 saying how to replace", err)
	}
	if got := f.reg(t, "SQL01").PublicKey; got != keyBefore {
		t.Fatal("the registered key changed")
	}
	recs, _ := f.m.Tokens.List(t.Context())
	for _, r := range recs {
		if r.ID == rec.ID && !r.UsedAt.IsZero() {
			t.Errorf("the refused enlistment spent the token")
		}
	}
	polled := *f.waitOnline(t, real).LastPollDate
	f.waitTarget(t, real, "heartbeats after the attempt", func(ts master.TargetServer) bool {
		return ts.Connected && ts.LastPollDate != nil && ts.LastPollDate.After(polled)
	})
	waitFor(t, patience, func() bool { return auditHas(t, f.m, "enlist", "server SQL01", 400) }, "the refused takeover in the audit")

	// The admin says the name may be replaced: the next token enlistment takes it over.
	if _, err := f.m.AllowReplace(t.Context(), "SQL01", "tester"); err != nil {
		t.Fatal(err)
	}
	tok2, _ := f.token(t, time.Hour)
	heir := f.newAgent(t, "SQL01", tok2)
	heir.start(t)
	waitFor(t, patience, func() bool {
		tg, ok := f.m.Reg.Target("SQL01")
		return ok && tg.PublicKey != keyBefore
	}, "the replacement enlisted")
	waitFor(t, patience, func() bool { return auditHas(t, f.m, "replace", "server SQL01", 200) }, "the replacement in the audit")
	if _, ok := f.m.Reg.TargetByKey(keyBefore); ok {
		t.Error("the replaced agent's key is still registered")
	}
}

// TestAdversaryBoundToken: a token bound to SQL05 does not enlist SQL06, and is not spent by
// trying; it enlists SQL05.
func TestAdversaryBoundToken(t *testing.T) {
	f := newFixture(t)
	tok, rec, err := f.m.Tokens.CreateFor(t.Context(), auth.RoleEnlist, time.Hour, "tester", "", "SQL05")
	if err != nil {
		t.Fatal(err)
	}
	other := f.newAgent(t, "SQL06", tok)
	err = runOnce(t, other.cfg)
	if err == nil || !strings.Contains(err.Error(), "(50005)") || !strings.Contains(err.Error(), "SQL05") {
		t.Fatalf("a token bound to SQL05 used for SQL06: %v, want code 50005 naming SQL05", err)
	}
	if _, ok := f.m.Reg.Target("SQL06"); ok {
		t.Fatal("SQL06 enlisted with a token bound to SQL05")
	}
	right := f.newAgent(t, "SQL05", tok)
	right.start(t)
	f.waitOnline(t, right)
	recs, _ := f.m.Tokens.List(t.Context())
	for _, r := range recs {
		if r.ID == rec.ID && r.UsedBy != "SQL05" {
			t.Errorf("token used by %q, want SQL05", r.UsedBy)
		}
	}
}

// TestAdversaryVictimKeyEnlist: a stranger sends enlistments naming a victim and its public
// key; the replies carry only an error, nothing of the victim's enlistment.
func TestAdversaryVictimKeyEnlist(t *testing.T) {
	f := newFixture(t)
	victim := f.startTarget(t, "SQL01")
	f.waitOnline(t, victim)
	before := f.reg(t, "SQL01")
	used, _ := f.token(t, time.Hour)
	other := f.newAgent(t, "SQL02", used)
	other.start(t)
	f.waitOnline(t, other)

	nc := f.connectStranger(t)
	for name, req := range map[string]schemas.EnlistRequest{
		"guessed token":             {Token: "msxe_guess"},
		"another target's used one": {Token: used},
		"no token, bad signature":   {Signature: "AAAA", LocalTime: time.Now()},
	} {
		t.Run(name, func(t *testing.T) {
			req.ProtocolVersion, req.ServerName, req.PublicKey, req.PollInterval, req.Version = schemas.ProtocolVersion, "SQL01", before.PublicKey, 60, "x"
			if req.LocalTime.IsZero() {
				req.LocalTime = time.Now()
			}
			b, _ := schemas.Encode(&req)
			msg, err := nc.Request(bus.SubjectEnlist, b, patience)
			if err != nil {
				t.Fatal(err)
			}
			var rep schemas.EnlistReply
			if err := schemas.Decode(msg.Data, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Error == nil || rep.ServerID != 0 || !rep.EnlistDate.IsZero() || rep.StartSeq != 0 || rep.ServerName != "" || rep.MasterName != "" {
				t.Errorf("reply reveals the victim's enlistment: %+v", rep)
			}
		})
	}
	if after := f.reg(t, "SQL01"); after != before {
		t.Errorf("the victim's record changed:\n%+v\n%+v", before, after)
	}
}

// TestAdversaryRegistryGarbage: records written straight into the registry and job buckets
// (as the reply-subject probe could) are quarantined on the next start: the master runs, trusts none of
// them, reports them, and a real target keeps working.
func TestAdversaryRegistryGarbage(t *testing.T) {
	f := newFixture(t)
	real := f.startTarget(t, "SQL01")
	f.waitOnline(t, real)
	ctx := t.Context()
	targets, err := f.js.KeyValue(ctx, bus.BucketTargets)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := f.js.KeyValue(ctx, bus.BucketGroups)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"00":             `{"server_name":"","token":"","server_id":1}`,
		"7a7a":           "not json at all",
		hexOf("SQL77"):   `{"server_name":"SQL77","token":"SQL77","server_id":77,"public_key":"garbage"}`,
		hexOf("SQL78"):   `{"server_name":"SQL79","token":"SQL79","server_id":78}`,
		hexOf("SQL80"):   `{"server_name":"SQL80","token":"SQL80","server_id":80}{"server_name":"SQL01"}`,
		hexOf("SQL81.X"): `{"server_name":"SQL81.X","token":"SQL81.X","server_id":81}`,
		hexOf("sql83"):   `{"server_name":"sql83","token":"sql83","server_id":83}`,
	} {
		if _, err := targets.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{
		"6162":        `{"name":"","members":["x.y"]}`,
		hexOf("G1"):   `{"name":"G1","members":["A.B"]}`,
		hexOf("GOOD"): `{"name":"GOOD","members":["SQL01"]}`,
	} {
		if _, err := groups.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}

	jobsKV, err := f.js.KeyValue(ctx, bus.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"j1": "not json", "j2": `{"job_id":"other","name":"x"}`} {
		if _, err := jobsKV.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}

	shutdownMaster(t, f.m)
	f.m = f.startMaster(t)
	q := f.m.Quarantined()
	if len(q) != 11 {
		t.Errorf("%d records quarantined, want 11: %+v", len(q), q)
	}
	for _, name := range []string{"", "SQL77", "SQL79", "SQL80", "SQL81.X", "SQL83"} {
		if _, ok := f.m.Reg.Target(name); ok {
			t.Errorf("garbage target %q is trusted", name)
		}
	}
	if tg, ok := f.m.Reg.TargetByKey(f.reg(t, "SQL01").PublicKey); !ok || tg.ServerName != "SQL01" {
		t.Errorf("SQL01's key maps to %+v", tg)
	}
	if g, ok := f.m.Reg.Group("GOOD"); !ok || len(g.Members) != 1 {
		t.Errorf("a valid group was lost: %+v", g)
	}
	waitFor(t, patience, func() bool {
		evs, err := f.m.Events(ctx, master.EventFilter{Limit: 1000})
		n := 0
		for _, e := range evs {
			if e.Server == masterName && strings.Contains(e.Message, "quarantined") {
				n++
			}
		}
		return err == nil && n == len(q)
	}, "quarantined records reported as the master's events")
	if _, err := f.m.Tokens.List(ctx); err != nil {
		t.Errorf("token list: %v", err)
	}
	polled := *f.waitOnline(t, real).LastPollDate
	f.waitTarget(t, real, "heartbeats after the restart", func(ts master.TargetServer) bool {
		return ts.LastPollDate != nil && ts.LastPollDate.After(polled)
	})
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(s))
	for i := range len(s) {
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(b)
}

// TestAdversaryTargetDBMode: the file holding a target's private key is 0600 from its
// creation, and fixed to 0600 on start when found readable by others.
func TestAdversaryTargetDBMode(t *testing.T) {
	f := newFixture(t)
	a := f.startTarget(t, "SQL01")
	f.waitOnline(t, a)
	db := filepath.Join(a.cfg.DataDir, "target.db")
	mode := func() os.FileMode {
		st, err := os.Stat(db)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	if m := mode(); m != 0o600 {
		t.Errorf("target.db created with mode %v, want 0600", m)
	}
	a.stopClean(t)
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	a.start(t)
	waitFor(t, patience, func() bool { return mode() == 0o600 }, "target.db made private again on start")
}

// TestAdversaryEnlistRace: two agents with two valid tokens enlist the same new name at once;
// exactly one wins, the other gets 14296 and its token is not spent.
func TestAdversaryEnlistRace(t *testing.T) {
	f := newFixture(t)
	tok1, _ := f.token(t, time.Hour)
	tok2, _ := f.token(t, time.Hour)
	agents := []*agent{f.newAgent(t, "SQL01", tok1), f.newAgent(t, "SQL01", tok2)}
	errs := make(chan error, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, a := range agents {
		go func() { errs <- target.Run(ctx, a.cfg) }() // the winner runs until cancel
	}
	var refused error
	select {
	case refused = <-errs:
	case <-time.After(2 * patience):
		t.Fatal("neither agent was refused")
	}
	if refused == nil || !strings.Contains(refused.Error(), "(14296)") {
		t.Fatalf("the losing agent: %v, want 14296", refused)
	}
	waitFor(t, patience, func() bool { _, ok := f.m.Reg.Target("SQL01"); return ok }, "the winner enlisted")
	used := 0
	recs, _ := f.m.Tokens.List(t.Context())
	for _, r := range recs {
		if !r.UsedAt.IsZero() {
			used++
		}
	}
	if used != 1 {
		t.Errorf("%d tokens spent, want 1", used)
	}
	cancel()
	if err := <-errs; err != nil {
		t.Errorf("the winner stopped with %v", err)
	}
}
