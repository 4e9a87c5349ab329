package master_test

// Integration tests of the foundation: a real in-process JetStream server, a real master and
// real target agents, each with its own SQLite data directory, in one test process.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/notify"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target"
	"github.com/msx-project/msx/target/store"
)

const (
	masterName = "MSXMASTER"
	// heartbeat is the targets' heartbeat interval: a stopped target is suspected offline
	// after three of them.
	heartbeat = 200 * time.Millisecond
	// patience bounds every wait. It is generous because the race detector on two shared cores
	// is slow; a passing run never waits that long.
	patience = 20 * time.Second
)

// waitFor polls cond until it holds, failing the test when timeout passes first.
func waitFor(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// fixture is one JetStream server, one connection for the test and the master, and a master.
type fixture struct {
	url  string
	ca   string
	auth *bus.Auth
	nc   *nats.Conn
	js   jetstream.JetStream
	m    *master.Master
}

// newFixture starts a server, connects and starts a master. Cleanups run in reverse order:
// targets (registered later) stop first, then the master, the connection and the server.
func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	srv := bustest.RunSecureServer(tb)
	nc, js := srv.ConnectMaster(tb)
	f := &fixture{url: srv.ClientURL(), ca: srv.CAFile, auth: srv.Auth, nc: nc, js: js}
	f.m = f.startMaster(tb)
	return f
}

// startMaster starts a master on the fixture's connection and stops it when the test ends.
func (f *fixture) startMaster(tb testing.TB) *master.Master {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), patience)
	defer cancel()
	m, err := master.Start(ctx, f.nc, master.Config{Name: masterName, Logger: bustest.Logger(tb), Auth: f.auth,
		Notify: notify.Config{WebhookAllow: []string{"127.0.0.1"}}})
	if err != nil {
		tb.Fatalf("start master: %v", err)
	}
	tb.Cleanup(func() { shutdownMaster(tb, m) })
	return m
}

func shutdownMaster(tb testing.TB, m *master.Master) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		tb.Errorf("master shutdown: %v", err)
	}
}

// token creates an enlistment token valid for ttl.
func (f *fixture) token(tb testing.TB, ttl time.Duration) (string, auth.Record) {
	tb.Helper()
	tok, rec, err := f.m.Tokens.Create(tb.Context(), auth.RoleEnlist, ttl, "tester", "integration test")
	if err != nil {
		tb.Fatalf("create token: %v", err)
	}
	return tok, rec
}

// agent is one target agent process: target.Run in a goroutine, stopped by cancelling its
// context, restartable on the same data directory.
type agent struct {
	tb    testing.TB // the test that owns it: stopped when that test ends
	cfg   target.Config
	canon string // canonical server name

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
	stopped bool // stop was called: Run returning is expected
}

// newAgent prepares a target with a fresh data directory; it is not started.
func (f *fixture) newAgent(tb testing.TB, name, token string) *agent {
	tb.Helper()
	a := &agent{tb: tb, cfg: target.Config{
		Name: name, Location: "rack " + name, NATSURL: f.url, Token: token, DataDir: tb.TempDir(),
		HeartbeatInterval: heartbeat, Logger: bustest.Logger(tb), CAFile: f.ca,
	}}
	canon, err := jobs.CanonicalServerName(name)
	if err != nil {
		tb.Fatalf("target name %q: %v", name, err)
	}
	a.canon = canon
	tb.Cleanup(func() { _ = a.stop() })
	return a
}

// startTarget creates a target with a new enlistment token and starts it.
func (f *fixture) startTarget(tb testing.TB, name string) *agent {
	tb.Helper()
	tok, _ := f.token(tb, time.Hour)
	a := f.newAgent(tb, name, tok)
	a.start(tb)
	return a
}

// start runs the agent in a goroutine until stop, or until Run returns by itself.
func (a *agent) start(tb testing.TB) {
	tb.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done != nil {
		select {
		case <-a.done:
		default:
			tb.Fatalf("target %s is already running", a.cfg.Name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	a.cancel, a.done, a.err, a.stopped = cancel, done, nil, false
	cfg := a.cfg
	go func() {
		err := target.Run(ctx, cfg)
		a.mu.Lock()
		a.err = err
		a.mu.Unlock()
		close(done)
	}()
}

// stop cancels the agent, waits for Run to return and returns its error (nil on a clean stop).
func (a *agent) stop() error {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.stopped = true
	a.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-time.After(patience):
		a.tb.Errorf("target %s did not stop within %s", a.cfg.Name, patience)
		return errors.New("target did not stop")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// stopClean stops the agent and fails the test unless Run ended without error.
func (a *agent) stopClean(tb testing.TB) {
	tb.Helper()
	if err := a.stop(); err != nil {
		tb.Fatalf("target %s stopped with error: %v", a.cfg.Name, err)
	}
}

// wait waits for Run to return by itself and returns its error.
func (a *agent) wait(tb testing.TB, timeout time.Duration) error {
	tb.Helper()
	a.mu.Lock()
	done := a.done
	a.mu.Unlock()
	select {
	case <-done:
	case <-time.After(timeout):
		tb.Fatalf("target %s still running after %s", a.cfg.Name, timeout)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// exited reports whether Run returned by itself (not through stop), and its error.
func (a *agent) exited() (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil || a.stopped {
		return false, nil
	}
	select {
	case <-a.done:
		return true, a.err
	default:
		return false, nil
	}
}

// name is the target's canonical server name.
func (a *agent) name() string { return a.canon }

// openStore opens the stopped agent's local database.
func (a *agent) openStore(tb testing.TB) *store.Store {
	tb.Helper()
	a.mu.Lock()
	running := a.done != nil
	if running {
		select {
		case <-a.done:
			running = false
		default:
		}
	}
	a.mu.Unlock()
	if running {
		tb.Fatalf("target %s is running: stop it before opening its database", a.cfg.Name)
	}
	st, err := store.Open(tb.Context(), filepath.Join(a.cfg.DataDir, "target.db"))
	if err != nil {
		tb.Fatalf("open store of %s: %v", a.cfg.Name, err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// runOnce runs target.Run with cfg and expects it to return by itself (a refusal).
func runOnce(tb testing.TB, cfg target.Config) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), patience)
	defer cancel()
	err := target.Run(ctx, cfg)
	if ctx.Err() != nil {
		tb.Fatalf("target.Run(%s) did not return by itself within %s (err %v)", cfg.Name, patience, err)
	}
	return err
}

// waitTarget waits until the master shows the agent's target and cond holds for it; it fails
// early if the agent stopped by itself.
func (f *fixture) waitTarget(tb testing.TB, a *agent, what string, cond func(master.TargetServer) bool) master.TargetServer {
	tb.Helper()
	var ts master.TargetServer
	waitFor(tb, patience, func() bool {
		if done, err := a.exited(); done {
			tb.Fatalf("target %s stopped while waiting for %s: %v", a.cfg.Name, what, err)
		}
		var ok bool
		ts, ok = f.m.TargetServer(a.name())
		return ok && cond(ts)
	}, "%s: %s (last view %+v)", a.name(), what, &ts)
	return ts
}

// waitOnline waits until the target is enlisted, has sent a heartbeat and is status 1.
func (f *fixture) waitOnline(tb testing.TB, a *agent) master.TargetServer {
	tb.Helper()
	return f.waitTarget(tb, a, "online with status 1", func(ts master.TargetServer) bool {
		return ts.LastPollDate != nil && ts.Status == ledger.StatusNormal && ts.Connected
	})
}

// reg returns the master's registry entry of a target.
func (f *fixture) reg(tb testing.TB, name string) registry.Target {
	tb.Helper()
	t, ok := f.m.Reg.Target(name)
	if !ok {
		tb.Fatalf("master has no target %s", name)
	}
	return t
}

// post posts an instruction to a target and returns its instance_id.
func (f *fixture) post(tb testing.TB, name string, in schemas.Instruction) uint64 {
	tb.Helper()
	seq, err := f.m.Post(tb.Context(), f.reg(tb, name), in)
	if err != nil {
		tb.Fatalf("post %s to %s: %v", in.Operation, name, err)
	}
	return seq
}

// action runs a server action on one target and returns the instance_id of its single row.
func (f *fixture) action(tb testing.TB, action, name string, seconds int) uint64 {
	tb.Helper()
	p, err := f.m.Action(tb.Context(), action, []string{name}, false, seconds)
	if err != nil {
		tb.Fatalf("%s %s: %v", action, name, err)
	}
	if len(p) != 1 {
		tb.Fatalf("%s %s posted %d rows, want 1: %+v", action, name, len(p), p)
	}
	return p[0].InstanceID
}

// waitDownloaded waits until download-list row seq is downloaded.
func (f *fixture) waitDownloaded(tb testing.TB, seq uint64) ledger.Row {
	tb.Helper()
	var r ledger.Row
	waitFor(tb, patience, func() bool {
		var ok bool
		r, ok = f.m.Ledger.Row(seq)
		return ok && r.Status == 1
	}, "row %d downloaded (last %+v)", seq, &r)
	if r.DateDownloaded == nil {
		tb.Fatalf("row %d downloaded without date_downloaded: %+v", seq, r)
	}
	return r
}

// waitApplied waits until row seq is downloaded without an error.
func (f *fixture) waitApplied(tb testing.TB, seq uint64) ledger.Row {
	tb.Helper()
	r := f.waitDownloaded(tb, seq)
	if r.ErrorMessage != "" || r.ErrorCode != 0 {
		tb.Fatalf("row %d (%s) failed on the target: %d %s", seq, r.OperationName, r.ErrorCode, r.ErrorMessage)
	}
	return r
}

// subjectMsgs counts the messages a stream holds on one subject.
func (f *fixture) subjectMsgs(tb testing.TB, stream, subj string) uint64 {
	tb.Helper()
	s, err := f.js.Stream(tb.Context(), stream)
	if err != nil {
		tb.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(tb.Context(), jetstream.WithSubjectFilter(subj))
	if err != nil {
		tb.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State.Subjects[subj]
}

// appliedRows returns instruction id -> stream sequence of every instruction a stopped target
// recorded in its database.
func appliedRows(tb testing.TB, st *store.Store) map[string]uint64 {
	tb.Helper()
	rows, err := st.DB().QueryContext(tb.Context(), `SELECT instruction_id, seq FROM applied`)
	if err != nil {
		tb.Fatalf("read applied: %v", err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var id string
		var seq uint64
		if err := rows.Scan(&id, &seq); err != nil {
			tb.Fatal(err)
		}
		if _, dup := out[id]; dup {
			tb.Fatalf("instruction %s recorded twice", id)
		}
		out[id] = seq
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// busCode returns the code of a bus error carried by err, or 0.
func busCode(err error) int {
	var be *schemas.Error
	if errors.As(err, &be) {
		return be.Code
	}
	return 0
}

func TestIntegrationEnlist(t *testing.T) {
	f := newFixture(t)

	var first master.TargetServer
	var usedToken string
	t.Run("valid token", func(t *testing.T) {
		tok, _ := f.token(t, time.Hour)
		usedToken = tok
		before := time.Now().UTC().Add(-time.Second)
		a := f.newAgent(t, "sql01", tok)
		a.start(t)
		ts := f.waitOnline(t, a)
		first = ts
		if ts.ServerID < 1 || ts.ServerName != "SQL01" || ts.Location != "rack sql01" {
			t.Errorf("identity: server_id %d, name %q, location %q; want >= 1, SQL01, rack sql01", ts.ServerID, ts.ServerName, ts.Location)
		}
		if ts.EnlistDate.Before(before) || ts.EnlistDate.After(time.Now().Add(time.Second)) {
			t.Errorf("enlist_date %s, want about now (%s)", ts.EnlistDate, before)
		}
		if ts.PollInterval != 60 || ts.Status != 1 || !ts.Connected || ts.UnreadInstructions != 0 || ts.DownloadErrors != 0 {
			t.Errorf("status: poll %d status %d connected %v unread %d errors %d; want 60 1 true 0 0",
				ts.PollInterval, ts.Status, ts.Connected, ts.UnreadInstructions, ts.DownloadErrors)
		}
		if ts.LastPollDate.Before(ts.EnlistDate) || ts.LocalTime == nil || ts.EnlistedBy == "" || ts.Version != target.Version {
			t.Errorf("poll: last_poll_date %v (enlisted %v), local_time %v, enlisted_by %q, version %q",
				ts.LastPollDate, ts.EnlistDate, ts.LocalTime, ts.EnlistedBy, ts.Version)
		}
		if got := f.m.TargetServers(); len(got) != 1 || got[0].ServerName != "SQL01" {
			t.Errorf("TargetServers() = %+v, want SQL01 only", got)
		}
		// The heartbeat keeps coming: the last poll date moves on.
		f.waitTarget(t, a, "a later heartbeat", func(n master.TargetServer) bool {
			return n.LastPollDate != nil && n.LastPollDate.After(*ts.LastPollDate)
		})
	})

	t.Run("named instance", func(t *testing.T) {
		a := f.startTarget(t, `sql04\prod`)
		ts := f.waitOnline(t, a)
		if ts.ServerName != `SQL04\PROD` {
			t.Errorf("server_name %q, want SQL04\\PROD", ts.ServerName)
		}
		if ts.ServerID == first.ServerID {
			t.Errorf("server_id %d reused", ts.ServerID)
		}
		if r := f.reg(t, `Sql04\Prod`); r.Token != `SQL04~PROD` {
			t.Errorf("subject token %q, want SQL04~PROD", r.Token)
		}
	})

	expired, expRec := f.token(t, time.Millisecond)
	waitFor(t, patience, func() bool { return time.Now().After(expRec.Expires) }, "token expiry")
	revoked, revRec := f.token(t, time.Hour)
	if _, err := f.m.Tokens.Revoke(t.Context(), revRec.ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	valid, _ := f.token(t, time.Hour)
	for _, tc := range []struct {
		name     string
		server   string
		token    string
		url      string
		wantIs   error
		wantCode int
		wantText string
	}{
		{name: "token used twice", server: "sql02", token: usedToken, wantCode: master.CodeBadToken, wantText: "already used"},
		{name: "expired token", server: "sql02", token: expired, wantCode: master.CodeBadToken, wantText: "expired"},
		{name: "revoked token", server: "sql02", token: revoked, wantCode: master.CodeBadToken, wantText: "revoked"},
		{name: "unknown token", server: "sql02", token: "msxe_nosuchtoken", wantCode: master.CodeBadToken, wantText: "token"},
		{name: "no token", server: "sql02", wantIs: target.ErrNoToken},
		// An unreachable bus: the name is refused before any connection is tried.
		{name: "invalid name", server: "bad name*", token: valid, url: "nats://127.0.0.1:1", wantIs: jobs.ErrInvalidName},
		{name: "dot in name", server: "sql02.corp", token: valid, url: "nats://127.0.0.1:1", wantIs: target.ErrConfig},
		{name: "master's own name", server: strings.ToLower(masterName), token: valid, wantCode: master.CodeEnlistSelf, wantText: "14297"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			if url == "" {
				url = f.url
			}
			err := runOnce(t, target.Config{Name: tc.server, NATSURL: url, Token: tc.token, DataDir: t.TempDir(), CAFile: f.ca,
				HeartbeatInterval: heartbeat, Logger: bustest.Logger(t)})
			if err == nil {
				t.Fatal("enlistment accepted")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v, want %v", err, tc.wantIs)
			}
			if tc.wantCode != 0 && busCode(err) != tc.wantCode {
				t.Errorf("error %v has code %d, want %d", err, busCode(err), tc.wantCode)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not mention %q", err, tc.wantText)
			}
			if n := len(f.m.TargetServers()); n != 2 {
				t.Errorf("master lists %d targets after a refusal, want 2", n)
			}
		})
	}
	// The refusals did not consume the valid token.
	t.Run("token still valid after refusals", func(t *testing.T) {
		a := f.newAgent(t, "sql03", valid)
		a.start(t)
		f.waitOnline(t, a)
	})
}

func TestIntegrationEnlistUpdate(t *testing.T) {
	f := newFixture(t)
	a := f.startTarget(t, "sql10")
	before := f.waitOnline(t, a)
	a.stopClean(t)

	// The same configuration, with the already used token still in it, and a new location.
	a.cfg.Location = "building 2, rack 7"
	a.start(t)
	after := f.waitTarget(t, a, "new location", func(ts master.TargetServer) bool {
		return ts.Location == "building 2, rack 7" && ts.LastPollDate != nil && ts.LastPollDate.After(*before.LastPollDate)
	})
	if after.ServerID != before.ServerID || !after.EnlistDate.Equal(before.EnlistDate) {
		t.Errorf("after update: server_id %d enlist_date %s, want %d %s (no second enlistment)",
			after.ServerID, after.EnlistDate, before.ServerID, before.EnlistDate)
	}
	if n := len(f.m.TargetServers()); n != 1 {
		t.Errorf("master lists %d targets, want 1", n)
	}
	a.stopClean(t)
	id, err := a.openStore(t).Identity(t.Context())
	if err != nil || id.Location != "building 2, rack 7" || id.ServerID != before.ServerID {
		t.Errorf("target identity %+v, %v: want the new location and server_id %d", id, err, before.ServerID)
	}
}

func TestIntegrationSecondAgentOnSameDataDir(t *testing.T) {
	f := newFixture(t)
	a := f.startTarget(t, "sql11")
	f.waitOnline(t, a)
	err := runOnce(t, a.cfg)
	if !errors.Is(err, bus.ErrDirLocked) {
		t.Fatalf("second agent on %s: %v, want an error wrapping bus.ErrDirLocked", a.cfg.DataDir, err)
	}
	// The first one is unharmed.
	seq := f.action(t, "synctime", "sql11", 0)
	f.waitApplied(t, seq)
	if done, err := a.exited(); done {
		t.Fatalf("first agent stopped: %v", err)
	}
}

// describeRows is a compact form of download-list rows for comparisons.
func describeRows(rows []ledger.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		dl := "-"
		if r.DateDownloaded != nil {
			dl = r.DateDownloaded.UTC().Format(time.RFC3339Nano)
		}
		out[i] = fmt.Sprintf("%d %s %s %s %s status=%d err=%d/%q cleared=%v posted=%s downloaded=%s",
			r.InstanceID, r.InstructionID, r.OperationName, r.TargetServer, r.SourceServer, r.Status,
			r.ErrorCode, r.ErrorMessage, r.ErrorCleared, r.DatePosted.UTC().Format(time.RFC3339Nano), dl)
	}
	return out
}
