package target_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
	"github.com/msx-project/msx/target"
	"github.com/msx-project/msx/target/store"
)

// The target of these tests; its name is its subject token.
const (
	serverName = "SQL01"
	token      = "SQL01"
	masterName = "MSX"
)

// harness is one JetStream server, the master's streams, and one target agent enlisted by
// writing its identity into its store (no master package involved).
type harness struct {
	t        testing.TB
	storeDir string // the server's store
	listen   string // host:port, kept across server restarts
	srv      *bus.Server
	js       jetstream.JetStream
	dataDir  string

	stopAgent func()
	agentErr  chan error

	// The server authenticates as msx runs it: the master's key, the target's key, nothing else.
	masterKey nkeys.KeyPair
	targetKey nkeys.KeyPair
	auth      *bus.Auth

	results  *collector[schemas.RunResult]
	events   *collector[schemas.Event]
	statuses *collector[schemas.InstructionStatus]
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, storeDir: t.TempDir(), listen: fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t)), dataDir: t.TempDir()}
	h.masterKey, _ = nkeys.CreateUser()
	h.targetKey, _ = nkeys.CreateUser()
	mpub, _ := h.masterKey.PublicKey()
	tpub, _ := h.targetKey.PublicKey()
	h.auth = &bus.Auth{MasterKey: mpub, Logger: bustest.Logger(t), Lookup: func(pub string) (string, bool) { return token, pub == tpub }}
	h.startServer()
	nk, err := bus.NkeyOption(h.masterKey)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+h.listen, nk, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h.js, _ = jetstream.New(nc)
	bustest.ServeInstrConsumers(t, nc)
	if err := (bus.Layout{}).Ensure(t.Context(), h.js); err != nil {
		t.Fatal(err)
	}
	h.results = collect[schemas.RunResult](t, h.js, bus.StreamResults, "msx.result."+token+".*")
	h.events = collect[schemas.Event](t, h.js, bus.StreamEvents, "msx.event."+token+".*")
	h.statuses = collect[schemas.InstructionStatus](t, h.js, bus.StreamApplied, bus.AppliedSubject(token))
	h.enlist()
	h.startAgent()
	return h
}

// startServer starts (or restarts) the JetStream server on h.listen and h.storeDir.
func (h *harness) startServer() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := bus.StartServer(ctx, bus.ServerConfig{Listen: h.listen, StoreDir: h.storeDir, Logger: bustest.Logger(h.t), Auth: h.auth})
	if err != nil {
		h.t.Fatalf("start JetStream server: %v", err)
	}
	h.srv = s
	h.t.Cleanup(s.Shutdown)
}

// enlist writes the identity that an enlistment with the master would have saved.
func (h *harness) enlist() {
	h.t.Helper()
	st, err := store.Open(h.t.Context(), filepath.Join(h.dataDir, "target.db"))
	if err != nil {
		h.t.Fatal(err)
	}
	defer st.Close()
	seed, _ := h.targetKey.Seed()
	id := store.Identity{ServerName: serverName, Token: token, ServerID: 1, MasterName: masterName, Seed: string(seed),
		EnlistDate: time.Now().UTC(), PollInterval: 60, Version: target.Version}
	if err := st.SaveIdentity(h.t.Context(), id); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) startAgent() { h.startAgentWith(nil) }

// startAgentWith starts the agent with its configuration changed by mod.
func (h *harness) startAgentWith(mod func(*target.Config)) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.agentErr = make(chan error, 1)
	cfg := target.Config{Name: serverName, NATSURL: "nats://" + h.listen, DataDir: h.dataDir, HeartbeatInterval: time.Second, Encrypt: bus.ModeNone,
		TimeZone: time.UTC, Logger: bustest.Logger(h.t)}
	if mod != nil {
		mod(&cfg)
	}
	go func() { h.agentErr <- target.Run(ctx, cfg) }()
	var once sync.Once
	h.stopAgent = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-h.agentErr:
				if err != nil {
					h.t.Errorf("agent: %v", err)
				}
			case <-time.After(45 * time.Second):
				h.t.Error("agent did not stop")
			}
		})
	}
	h.t.Cleanup(h.stopAgent) // runs before the server's cleanup, registered earlier
}

// post publishes an instruction for the target and returns its stream sequence.
func (h *harness) post(op schemas.Operation, jobID, jobName string, job *jobs.Job) uint64 {
	h.t.Helper()
	in := &schemas.Instruction{ID: rand.Text(), Operation: op, ObjectID: jobID, ObjectName: jobName, Target: serverName,
		Source: masterName, Posted: time.Now().UTC()}
	if job != nil {
		b, err := json.Marshal(job)
		if err != nil {
			h.t.Fatal(err)
		}
		in.Job = b
	}
	data, err := schemas.Encode(in)
	if err != nil {
		h.t.Fatal(err)
	}
	ack, err := h.js.Publish(h.t.Context(), bus.InstrSubject(token), data)
	if err != nil {
		h.t.Fatal(err)
	}
	return ack.Sequence
}

// insert posts an INSERT of job and waits until it is applied.
func (h *harness) insert(j *jobs.Job) {
	h.t.Helper()
	if st := h.status(h.post(schemas.OpInsert, j.JobID, j.Name, j)); st.Status != schemas.StatusApplied {
		h.t.Fatalf("INSERT %s: %+v", j.Name, st.Error)
	}
}

// status waits for the target's report on the instruction at seq.
func (h *harness) status(seq uint64) schemas.InstructionStatus {
	h.t.Helper()
	var out schemas.InstructionStatus
	waitFor(h.t, 10*time.Second, fmt.Sprintf("report of instruction %d", seq), func() bool {
		for _, s := range h.statuses.all() {
			if s.Seq == seq {
				out = s
				return true
			}
		}
		return false
	})
	return out
}

// runs returns the results of job, by phase.
func (h *harness) runs(jobID, phase string) []schemas.RunResult {
	var out []schemas.RunResult
	for _, r := range h.results.all() {
		if r.JobID == jobID && r.Phase == phase {
			out = append(out, r)
		}
	}
	return out
}

// waitRuns waits until job has n results in phase and returns them.
func (h *harness) waitRuns(jobID, phase string, n int, timeout time.Duration) []schemas.RunResult {
	h.t.Helper()
	waitFor(h.t, timeout, fmt.Sprintf("%d %q results of job %s", n, phase, jobID), func() bool {
		return len(h.runs(jobID, phase)) >= n
	})
	return h.runs(jobID, phase)
}

// collector reads a stream's messages on one subject filter, in order, from the start, through
// an ordered consumer (which resumes after a server restart).
type collector[T any] struct {
	mu   sync.Mutex
	msgs []T
	seqs []uint64
}

func collect[T any, PT interface {
	*T
	schemas.Typed
}](t testing.TB, js jetstream.JetStream, stream, filter string) *collector[T] {
	t.Helper()
	c := &collector[T]{}
	cons, err := js.OrderedConsumer(t.Context(), stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		var v T
		if err := schemas.Decode(msg.Data(), PT(&v)); err != nil {
			t.Errorf("%s: %v", msg.Subject(), err)
			return
		}
		meta, _ := msg.Metadata()
		c.mu.Lock()
		c.msgs = append(c.msgs, v)
		if meta != nil {
			c.seqs = append(c.seqs, meta.Sequence.Stream)
		}
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return c
}

func (c *collector[T]) all() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.msgs...)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newJob returns a job of one step with a fresh id.
func newJob(name, subsystem, command string) *jobs.Job {
	return &jobs.Job{JobID: rand.Text(), VersionNumber: 1, Name: name,
		Steps: []jobs.Step{{StepID: 1, StepName: "step one", Subsystem: subsystem, Command: command}}}
}

// every10s is a schedule that fires every 10 seconds all day.
func every10s() schedule.Schedule {
	return schedule.Schedule{Name: "every 10 s", FreqType: schedule.FreqDaily, FreqInterval: 1,
		FreqSubdayType: schedule.SubdaySeconds, FreqSubdayInterval: 10, ActiveStartDate: 20000101}
}

// rows decodes a result's history rows.
func rows(t *testing.T, r schemas.RunResult) []jobs.HistoryRow {
	t.Helper()
	out := make([]jobs.HistoryRow, len(r.Rows))
	for i, raw := range r.Rows {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// errCode returns the error code of a failed instruction report, 0 when it was applied.
func errCode(st schemas.InstructionStatus) int {
	if st.Error == nil {
		return 0
	}
	return st.Error.Code
}
