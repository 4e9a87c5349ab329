package master_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas/jobs"
)

const varsSecret = "s3cr3t-Pw!"

// varsJob uses WHO (default "world") and the secret PW (no default) in its one CmdExec step.
func varsJob(tb testing.TB, servers ...string) jobs.Job {
	tb.Helper()
	return parseJob(tb, `
name: Greet
variables:
  - {name: WHO, default: world}
  - {name: PW, secret: true}
steps:
  - step_name: run
    subsystem: CmdExec
    command: 'echo hello $(VAR:WHO) pw=$(ESCAPE_DQUOTE(VAR:PW))'
targets:
  servers: [`+strings.Join(servers, ", ")+`]
`)
}

// commandPosted returns the resolved command of the job snapshot posted to server in p.
func (f *fixture) commandPosted(tb testing.TB, p []master.Posted, server string) string {
	tb.Helper()
	for _, x := range p {
		if strings.EqualFold(x.TargetServer, server) {
			return f.postedJob(tb, x.InstanceID).Steps[0].Command
		}
	}
	tb.Fatalf("nothing posted to %s in %v", server, describePosted(p))
	return ""
}

func (f *fixture) setVar(tb testing.TB, name, value, server, group string, secret bool) master.VarChange {
	tb.Helper()
	c, err := f.m.SetVar(tb.Context(), name, value, server, group, secret, "test")
	if err != nil {
		tb.Fatalf("set %s for %q/%q: %v", name, server, group, err)
	}
	f.waitAllApplied(tb, c.Posted)
	return c
}

// noSecret fails the test if any of the values, as JSON, holds the secret.
func noSecret(tb testing.TB, what string, vs ...any) {
	tb.Helper()
	for _, v := range vs {
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), varsSecret) || strings.Contains(string(b), strings.ReplaceAll(varsSecret, "!", `\u0021`)) {
			tb.Fatalf("%s shows the secret value: %s", what, b)
		}
	}
}

// TestIntegrationVars: values resolve server over group over default; two groups setting one
// variable for a server is refused naming both; a change re-posts to exactly the targets whose
// resolved job changed; a target without a value does not get the job (an event names the
// variable) while the others do; secrets are masked in history, events and the listing; and
// the targets' digests match what the master expects (no drift repair).
func TestIntegrationVars(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	as := f.onlineTargets(t, "sqlv1", "sqlv2", "sqlv3")
	ctx := t.Context()
	for _, g := range []string{"east", "west"} {
		if _, err := f.m.Reg.AddGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	for _, gm := range [][2]string{{"east", "sqlv1"}, {"east", "sqlv2"}, {"west", "sqlv2"}} {
		if _, _, err := f.m.AddMember(ctx, gm[0], gm[1]); err != nil {
			t.Fatal(err)
		}
	}
	f.setVar(t, "pw", varsSecret, "", "east", true)
	// SQLV2 is in east and west: west setting PW too is refused, naming both groups.
	if _, err := f.m.SetVar(ctx, "PW", "other", "", "west", false, "test"); err == nil ||
		!strings.Contains(err.Error(), "'west'") || !strings.Contains(err.Error(), "'east'") || !strings.Contains(err.Error(), "SQLV2") {
		t.Fatalf("conflicting group value: %v", err)
	}
	f.setVar(t, "WHO", "alice", "sqlv1", "", false)

	// Apply: SQLV3 has no PW and does not get the job; the others get it resolved.
	res := f.apply(t, varsJob(t, "sqlv1", "sqlv2", "sqlv3"))
	checkPosted(t, "apply", res.Posted, "SQLV1 INSERT", "SQLV2 INSERT")
	if c := f.commandPosted(t, res.Posted, "SQLV1"); c != "echo hello alice pw="+varsSecret {
		t.Errorf("SQLV1's command: %q (server value over default)", c)
	}
	if c := f.commandPosted(t, res.Posted, "SQLV2"); c != "echo hello world pw="+varsSecret {
		t.Errorf("SQLV2's command: %q (group value, default)", c)
	}
	f.waitAllApplied(t, res.Posted)
	evs := f.waitEvents(t, "sqlv3", 0, "the missing variable", func(e master.EventRecord) bool {
		return strings.Contains(e.Message, "PW") && e.JobName == "Greet"
	})
	noSecret(t, "the missing-variable event", evs)
	job, _ := f.m.Catalog.ByName("Greet")
	f.waitHolds(t, as[0], job)
	f.waitHolds(t, as[1], job)
	f.waitHolds(t, as[2])

	// A group value reaches SQLV2 only: SQLV1 has its own.
	c := f.setVar(t, "who", "grp", "", "east", false)
	checkPosted(t, "set WHO for east", c.Posted, "SQLV2 INSERT")
	if got := f.commandPosted(t, c.Posted, "SQLV2"); got != "echo hello grp pw="+varsSecret {
		t.Errorf("SQLV2's command after the group value: %q", got)
	}
	// The same value again changes no resolved job: nothing is posted.
	checkPosted(t, "set WHO for east again", f.setVar(t, "WHO", "grp", "", "east", false).Posted)
	// PW for SQLV3 gives it the job, and only it.
	c = f.setVar(t, "PW", "pw33", "sqlv3", "", false)
	checkPosted(t, "set PW for SQLV3", c.Posted, "SQLV3 INSERT")
	f.waitHolds(t, as[2], job)
	// SQLV3 joining a group that sets WHO gets the job again with that value, and only it.
	if _, err := f.m.Reg.AddGroup(ctx, "north"); err != nil {
		t.Fatal(err)
	}
	checkPosted(t, "set WHO for an empty group", f.setVar(t, "WHO", "n0rth", "", "north", false).Posted)
	_, posted, err := f.m.AddMember(ctx, "north", "sqlv3")
	if err != nil {
		t.Fatal(err)
	}
	checkPosted(t, "SQLV3 joins north", posted, "SQLV3 INSERT")
	if got := f.commandPosted(t, posted, "SQLV3"); got != "echo hello n0rth pw=pw33" {
		t.Errorf("SQLV3's command after joining north: %q", got)
	}
	f.waitAllApplied(t, posted)

	// The target runs the resolved snapshot of the same version: the output says grp, and
	// the secret is masked in the history and the job's outcome.
	if _, err := f.m.StartJob(ctx, "Greet", "sqlv2", false); err != nil {
		t.Fatal(err)
	}
	runs := f.waitHistory(t, "Greet", "sqlv2", 1)
	out := runs[0][len(runs[0])-1].Output
	if !strings.Contains(out, "hello grp pw="+jobs.Masked) {
		t.Errorf("step output %q: want the group's value and the secret masked", out)
	}
	noSecret(t, "history", runs)
	// The target masked it before publishing: the results stream itself never holds it.
	rs, err := f.js.Stream(ctx, bus.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	info, err := rs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		if msg, err := rs.GetMsg(ctx, seq); err == nil && strings.Contains(string(msg.Data), varsSecret) {
			t.Fatalf("result %d on %s holds the secret: %s", seq, msg.Subject, msg.Data)
		}
	}
	js, _ := f.jobServer(t, "Greet", "sqlv2")
	noSecret(t, "job outcome", js)

	// Listing: the secret is "***" wherever it shows; SQLV2 resolves WHO from its group.
	all, err := f.m.Vars("")
	if err != nil {
		t.Fatal(err)
	}
	noSecret(t, "var list", all)
	if !slices.ContainsFunc(all, func(r master.VarRow) bool { return r.Name == "PW" && r.Group == "east" && r.Value == jobs.Masked }) {
		t.Errorf("var list: %+v", all)
	}
	// PW of SQLV3 was not set as secret, but the job declares PW secret: masked too.
	rows, err := f.m.Vars("sqlv2")
	if err != nil {
		t.Fatal(err)
	}
	noSecret(t, "var list of SQLV2", rows)
	want := []master.VarRow{
		{Name: "PW", Server: "SQLV2", Group: "east", Value: jobs.Masked, Secret: true, From: "group east"},
		{Name: "WHO", Server: "SQLV2", Group: "east", Value: "grp", From: "group east"},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("var list of SQLV2:\n%+v\nwant\n%+v", rows, want)
	}
	if rows, _ := f.m.Vars("sqlv3"); len(rows) != 2 || rows[0].Value != jobs.Masked || rows[1].Value != "n0rth" || rows[1].From != "group north" {
		t.Errorf("var list of SQLV3: %+v", rows)
	}

	// Unsetting PW for east takes the job from SQLV1 and SQLV2 (DELETE), not from SQLV3.
	c, err = f.m.UnsetVar(ctx, "PW", "", "east")
	if err != nil {
		t.Fatal(err)
	}
	checkPosted(t, "unset PW for east", c.Posted, "SQLV1 DELETE", "SQLV2 DELETE")
	noSecret(t, "unset", c)
	f.waitAllApplied(t, c.Posted)
	f.waitHolds(t, as[0])
	f.waitHolds(t, as[1])
	f.waitHolds(t, as[2], job)

	// No drift repair: three more heartbeats of each target find it in sync.
	since := time.Now()
	for _, a := range as {
		waitFor(t, patience, func() bool {
			hb, ok := f.lastHeartbeat(t, a.name())
			return ok && hb.Sent.After(since.Add(3*heartbeat))
		}, "three heartbeats of %s", a.name())
		if n := f.m.Repairs(a.name()); n != 0 {
			t.Errorf("%s: %d drift repairs, want none", a.name(), n)
		}
	}
	evs, err = f.m.Events(ctx, master.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	noSecret(t, "events", evs)
}

// TestIntegrationVarsRefused: bad names, values and scopes are refused with what to do.
func TestIntegrationVarsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.onlineTargets(t, "sqlw1")
	ctx := t.Context()
	for _, tc := range []struct{ name, value, server, group, want string }{
		{"1BAD", "x", "sqlw1", "", "variable name"},
		{"OK", "x", "", "", "name one target server"},
		{"OK", "x", "sqlw1", "g", "name one target server"},
		{"OK", "x", "nosuch", "", "does not exist ('nosuch')"},
		{"OK", "x", "", "nosuch", "does not exist"},
		{"OK", "$(SRVR)", "sqlw1", "", "read as a token"},
		{"OK", strings.Repeat("x", jobs.MaxVarValueLen+1), "sqlw1", "", "the limit is 4000"},
	} {
		_, err := f.m.SetVar(ctx, tc.name, tc.value, tc.server, tc.group, false, "test")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("set %q=%q for %q/%q: %v, want %q", tc.name, master.Truncate(tc.value, 20), tc.server, tc.group, err, tc.want)
		}
	}
	if _, err := f.m.SetVar(ctx, "OK", "abc", "sqlw1", "", true, "test"); err == nil || !strings.Contains(err.Error(), "at least 4 characters") {
		t.Errorf("a secret of 3 characters: %v", err)
	}
	if _, err := f.m.UnsetVar(ctx, "NEVER", "sqlw1", ""); err == nil || !strings.Contains(err.Error(), "nothing to unset") {
		t.Errorf("unset of a value never set: %v", err)
	}
}
