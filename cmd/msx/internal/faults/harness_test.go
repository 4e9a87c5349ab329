//go:build faults

package faults_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	_ "modernc.org/sqlite"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target"
)

// patience bounds every wait: generous, because the race detector on two shared cores is slow.
const patience = 90 * time.Second

// heartbeat is the targets' heartbeat interval in these tests; the master suspects a target
// offline after three.
const heartbeat = 300 * time.Millisecond

// waitFor polls cond until it holds, failing the test when timeout passes first.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// fixture is an in-process bus and master: a secure single node (TLS, nkeys), or any URL with
// a master connection.
type fixture struct {
	url    string
	ca     string
	auth   *bus.Auth
	nc     *nats.Conn
	js     jetstream.JetStream
	m      *master.Master
	layout bus.Layout
}

func newSecureFixture(tb testing.TB) *fixture {
	tb.Helper()
	srv := bustest.RunSecureServer(tb)
	nc, js := srv.ConnectMaster(tb)
	f := &fixture{url: srv.ClientURL(), ca: srv.CAFile, auth: srv.Auth, nc: nc, js: js}
	f.startMaster(tb)
	return f
}

func (f *fixture) startMaster(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	m, err := master.Start(ctx, f.nc, master.Config{Name: "FAULTMASTER", Logger: bustest.Logger(tb), Auth: f.auth, Layout: f.layout})
	if err != nil {
		tb.Fatalf("start master: %v", err)
	}
	f.m = m
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
}

// agent is one target agent in this process: target.Run in a goroutine.
type agent struct {
	cfg    target.Config
	tok    string
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

func (f *fixture) newAgent(tb testing.TB, name, dir string) *agent {
	tb.Helper()
	tok, _, err := f.m.Tokens.Create(tb.Context(), auth.RoleEnlist, time.Hour, "faults", "fault test "+name)
	if err != nil {
		tb.Fatal(err)
	}
	if dir == "" {
		dir = filepath.Join(tb.TempDir(), name)
	}
	cfg := target.Config{Name: name, NATSURL: f.url, Token: tok, DataDir: dir, HeartbeatInterval: heartbeat,
		Logger: bustest.Logger(tb), CAFile: f.ca}
	if f.ca == "" {
		cfg.Encrypt = bus.ModeNone
	}
	a := &agent{cfg: cfg, tok: jobs.ServerToken(name)}
	tb.Cleanup(func() { a.stop() })
	return a
}

func (a *agent) start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	cfg := a.cfg
	go func() { a.done <- target.Run(ctx, cfg) }()
}

func (a *agent) stop() {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.cancel = nil
	a.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// startFleet enlists n in-process targets named prefix01.. and waits until all heartbeat.
func (f *fixture) startFleet(tb testing.TB, prefix string, n int) []*agent {
	tb.Helper()
	var out []*agent
	for i := 1; i <= n; i++ {
		a := f.newAgent(tb, fmt.Sprintf("%s%02d", prefix, i), "")
		a.start()
		out = append(out, a)
	}
	waitFor(tb, patience, fmt.Sprintf("%d targets online", n), func() bool {
		online := 0
		for _, a := range out {
			if f.online(a.cfg.Name) {
				online++
			}
		}
		return online == n
	})
	return out
}

// online reports whether the master has a heartbeat of target name.
func (f *fixture) online(name string) bool {
	ts, ok := f.m.TargetServer(name)
	return ok && ts.LastPollDate != nil
}

// waitOnline waits until the master has a heartbeat of target name.
func (f *fixture) waitOnline(tb testing.TB, name string) {
	tb.Helper()
	waitFor(tb, patience, name+" online", func() bool { return f.online(name) })
}

// countingJob is a one-step T-SQL job whose step adds a row to table ran in the target's
// local database, so the rows count the times it really ran.
func countingJob(name string, servers ...string) jobs.Job {
	return jobs.Job{Name: name, Category: "faults", Targets: jobs.Targets{Servers: servers},
		Steps: []jobs.Step{{StepID: 1, StepName: "count", Subsystem: jobs.SubsystemTSQL,
			Command: "CREATE TABLE IF NOT EXISTS ran (job TEXT NOT NULL, at TEXT NOT NULL);\nINSERT INTO ran VALUES ('" + name + "', datetime('now'))"}}}
}

// openRO opens a SQLite file of a target's data directory for reading while the agent may run.
func openRO(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// appliedIDs returns the instruction ids in a target's applied table, with how many rows each
// has (the primary key makes more than one impossible; the count proves it) and their status.
func appliedIDs(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	db := openRO(tb, filepath.Join(dir, "target.db"))
	defer db.Close()
	rows, err := db.Query(`SELECT instruction_id, status FROM applied`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			tb.Fatal(err)
		}
		if _, dup := out[id]; dup {
			tb.Errorf("%s: instruction %s recorded twice in applied", dir, id)
		}
		out[id] = st
	}
	return out
}

// ranRows counts the rows job's step wrote in a target's local database: its real executions.
func ranRows(tb testing.TB, dir, job string) int {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(dir, "local.db")); err != nil {
		return 0
	}
	db := openRO(tb, filepath.Join(dir, "local.db"))
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ran WHERE job = ?`, job).Scan(&n); err != nil {
		return 0 // no table yet: never ran
	}
	return n
}

// ledgerIDs returns the instruction ids of a target's ledger rows and how many rows are not
// downloaded yet.
func ledgerIDs(m *master.Master, tok string) (ids map[string]int, pending int) {
	ids = map[string]int{}
	for _, r := range m.Ledger.List(ledger.Filter{Token: tok}) {
		ids[r.InstructionID]++
		if r.Status == 0 {
			pending++
		}
	}
	return ids, pending
}

// finishedRuns reads MSX_RESULTS and counts finished results per run id, per target token.
func finishedRuns(tb testing.TB, js jetstream.JetStream) (finished map[string]map[string]int, started map[string]map[string]int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	finished, started = map[string]map[string]int{}, map[string]map[string]int{}
	s, err := js.Stream(ctx, bus.StreamResults)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if info.State.Msgs == 0 {
		return
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	var seen uint64
	for seen < info.State.Msgs {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			tb.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			seen++
			tok, err := bus.TargetFromSubject(msg.Subject())
			var r schemas.RunResult
			if err != nil || schemas.Decode(msg.Data(), &r) != nil {
				continue
			}
			into := started
			if r.Phase == schemas.PhaseFinished {
				into = finished
			}
			if into[tok] == nil {
				into[tok] = map[string]int{}
			}
			into[tok][r.RunID]++
		}
		if n == 0 {
			break
		}
	}
	return finished, started
}

// ledgerFunc returns the instruction ids of a target's ledger rows (with how many rows each)
// and how many rows are not downloaded yet.
type ledgerFunc func(tok string) (map[string]int, int)

func masterLedger(m *master.Master) ledgerFunc {
	return func(tok string) (map[string]int, int) { return ledgerIDs(m, tok) }
}

// checkOpts relax checkExact where a scenario makes it so by construction.
type checkOpts struct {
	dupRows bool // messages were stored twice on purpose: the ledger and MSX_RESULTS hold both copies
	garbage bool // garbage instructions were injected: the target records them as failed
}

// counts is what a scenario checks and logs for one target.
type counts struct {
	posted, applied, failed, finished, ran int
}

// checkExact asserts, for every agent, that every ledger row is downloaded, that the applied
// table holds exactly the ledger's instruction ids (each once), that every finished run is
// reported once, and that the job's step ran exactly wantRuns[name] times and as many runs
// finished. It logs the counts and returns their totals.
func checkExact(tb testing.TB, lf ledgerFunc, js jetstream.JetStream, agents []*agent, job string, wantRuns map[string]int, o checkOpts) counts {
	tb.Helper()
	waitFor(tb, patience, "every instruction downloaded", func() bool {
		for _, a := range agents {
			if _, p := lf(a.tok); p > 0 {
				return false
			}
		}
		return true
	})
	// Reports of finished runs may still be on their way from the outboxes.
	var fin map[string]map[string]int
	waitFor(tb, patience, "every run reported", func() bool {
		fin, _ = finishedRuns(tb, js)
		for _, a := range agents {
			if len(fin[a.tok]) < wantRuns[a.cfg.Name] {
				return false
			}
		}
		return true
	})
	var total counts
	for _, a := range agents {
		ids, _ := lf(a.tok)
		app := appliedIDs(tb, a.cfg.DataDir)
		c := counts{posted: len(ids)}
		for id, n := range ids {
			if n != 1 && !o.dupRows {
				tb.Errorf("%s: instruction %s has %d ledger rows", a.cfg.Name, id, n)
			}
			st, ok := app[id]
			if !ok {
				tb.Errorf("%s: instruction %s posted but not in the target's applied table", a.cfg.Name, id)
				continue
			}
			if st == "applied" {
				c.applied++
			} else {
				c.failed++
			}
		}
		for id, st := range app {
			if _, ok := ids[id]; ok {
				continue
			}
			if o.garbage && st == "failed" {
				c.failed++ // injected garbage the master rejected: recorded as failed, never applied
				continue
			}
			tb.Errorf("%s: %s instruction %s that the ledger does not hold", a.cfg.Name, st, id)
		}
		for run, n := range fin[a.tok] {
			if n != 1 && !o.dupRows {
				tb.Errorf("%s: run %s reported finished %d times on MSX_RESULTS", a.cfg.Name, run, n)
			}
		}
		c.finished = len(fin[a.tok])
		if job != "" {
			c.ran = ranRows(tb, a.cfg.DataDir, job)
		}
		if w, ok := wantRuns[a.cfg.Name]; ok && (c.ran != w || c.finished != w) {
			tb.Errorf("%s: job ran %d times and %d runs finished, want %d", a.cfg.Name, c.ran, c.finished, w)
		}
		total.posted += c.posted
		total.applied += c.applied
		total.failed += c.failed
		total.finished += c.finished
		total.ran += c.ran
	}
	tb.Logf("counts: %d targets, instructions posted %d, applied %d, failed %d; runs finished %d, step executions %d",
		len(agents), total.posted, total.applied, total.failed, total.finished, total.ran)
	return total
}

func mustJS(tb testing.TB, nc *nats.Conn) jetstream.JetStream {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// quietLogger logs warnings and errors to stderr (large fleets would flood the test log).
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
