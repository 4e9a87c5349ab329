package master_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// idemFixture is a master with targets registered (no agents: what is posted stays pending,
// so the download list's counts change only by what is posted) and a job on each of them.
func idemFixture(tb testing.TB, servers ...string) *fixture {
	tb.Helper()
	f := newFixture(tb)
	for i, name := range servers {
		t := registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), PollInterval: 60}
		if err := f.m.Reg.PutTarget(tb.Context(), t); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

// instrMsgs returns how many messages the instruction stream holds.
func (f *fixture) instrMsgs(tb testing.TB) uint64 {
	tb.Helper()
	s, err := f.js.Stream(tb.Context(), bus.StreamInstr)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Msgs
}

// startWith posts START or STOP of a job and fails the test on an error.
func (f *fixture) startWith(tb testing.TB, job string, o master.StartOptions) []master.Posted {
	tb.Helper()
	p, err := f.m.StartJobWith(tb.Context(), job, o)
	if err != nil {
		tb.Fatalf("start %q with %+v: %v", job, o, err)
	}
	return p
}

// jobRows returns the download list's rows of a job, by operation.
func (f *fixture) jobRows(job jobs.Job) map[schemas.Operation]int {
	out := map[schemas.Operation]int{}
	for _, r := range f.m.Ledger.List(ledger.Filter{}) {
		if r.ObjectID == job.JobID {
			out[r.Operation]++
		}
	}
	return out
}

// A request retried with the same idempotency key stores each target's instruction once and
// answers the first try's rows; another key, another operation, another job or no key posts
// again.
func TestIntegrationStartIdempotencyKey(t *testing.T) {
	f := idemFixture(t, "IDA1", "IDA2", "IDA3")
	job := f.apply(t, cmdJob(t, "Idem", "echo once", "IDA1", "IDA2", "IDA3")).Job
	other := f.apply(t, cmdJob(t, "Idem other", "echo once", "IDA1", "IDA2", "IDA3")).Job

	for _, tt := range []struct {
		name         string
		retryOther   bool // the retry starts the other job
		first, retry master.StartOptions
		wantNew      int // instructions the retry stores
	}{
		{"same key", false, master.StartOptions{IdempotencyKey: "k-same"}, master.StartOptions{IdempotencyKey: "k-same"}, 0},
		{"same key, stop", false, master.StartOptions{Stop: true, IdempotencyKey: "k-stop"}, master.StartOptions{Stop: true, IdempotencyKey: "k-stop"}, 0},
		{"another key", false, master.StartOptions{IdempotencyKey: "k-one"}, master.StartOptions{IdempotencyKey: "k-two"}, 3},
		{"no key", false, master.StartOptions{}, master.StartOptions{}, 3},
		{"key of a start reused for a stop", false, master.StartOptions{IdempotencyKey: "k-op"}, master.StartOptions{Stop: true, IdempotencyKey: "k-op"}, 3},
		{"key reused for another job", true, master.StartOptions{IdempotencyKey: "k-job"}, master.StartOptions{IdempotencyKey: "k-job"}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msgs, pending := f.instrMsgs(t), f.m.JobInstructionCounts()
			first := f.startWith(t, job.Name, tt.first)
			if got := f.instrMsgs(t); got != msgs+3 {
				t.Fatalf("first try stored %d instructions, want 3", got-msgs)
			}
			for _, p := range first {
				if p.Duplicate {
					t.Errorf("first try: %+v marked duplicate", p)
				}
			}
			retryJob := job
			if tt.retryOther {
				retryJob = other
			}
			retry := f.startWith(t, retryJob.Name, tt.retry)
			if got := f.instrMsgs(t); got != msgs+3+uint64(tt.wantNew) {
				t.Fatalf("retry stored %d instructions, want %d", got-msgs-3, tt.wantNew)
			}
			if len(retry) != 3 {
				t.Fatalf("retry answered %d rows, want 3: %+v", len(retry), retry)
			}
			for i, p := range retry {
				dup := tt.wantNew == 0
				if p.Duplicate != dup || (p.InstanceID == first[i].InstanceID) != dup || p.TargetServer != first[i].TargetServer {
					t.Errorf("retry row %d %+v after %+v: want duplicate %v", i, p, first[i], dup)
				}
			}
			now := f.m.JobInstructionCounts()
			want := map[string]int{job.JobID: pending[job.JobID].Pending + 3, other.JobID: pending[other.JobID].Pending}
			want[retryJob.JobID] += tt.wantNew
			for id, n := range want {
				if now[id].Pending != n {
					t.Errorf("job %s: %d pending instructions, want %d", id, now[id].Pending, n)
				}
			}
		})
	}
}

// A retry after the first try reached only some targets (here: a target joined the job in
// between) stores the missing instruction and none again: each target's START is stored once.
// A row deleted in between (a resync) does not come back.
func TestIntegrationStartIdempotencyKeyPartial(t *testing.T) {
	f := idemFixture(t, "IDB1", "IDB2", "IDB3")
	job := f.apply(t, cmdJob(t, "Idem partial", "echo once", "IDB1", "IDB3")).Job
	key := master.StartOptions{IdempotencyKey: "partial_1"}
	first := f.startWith(t, job.Name, key)
	if _, err := f.m.RetargetJob(t.Context(), job.Name, []string{"IDB2"}, nil, false); err != nil {
		t.Fatal(err)
	}
	msgs := f.instrMsgs(t)
	retry := f.startWith(t, job.Name, key)
	if got := f.instrMsgs(t); got != msgs+1 {
		t.Fatalf("retry stored %d instructions, want 1 (IDB2's)", got-msgs)
	}
	want := []master.Posted{
		{TargetServer: "IDB1", InstanceID: first[0].InstanceID, Operation: "START", Duplicate: true},
		{TargetServer: "IDB2", InstanceID: retry[1].InstanceID, Operation: "START"},
		{TargetServer: "IDB3", InstanceID: first[1].InstanceID, Operation: "START", Duplicate: true},
	}
	if len(retry) != len(want) || retry[0] != want[0] || retry[1] != want[1] || retry[2] != want[2] || retry[1].InstanceID <= first[1].InstanceID {
		t.Fatalf("retry answered %+v, want %+v (IDB2 new)", retry, want)
	}
	for _, name := range []string{"IDB1", "IDB2", "IDB3"} {
		starts := 0
		for _, r := range f.m.Ledger.List(ledger.Filter{Token: jobs.ServerToken(name)}) {
			if r.Operation == schemas.OpStart {
				starts++
			}
		}
		if starts != 1 {
			t.Errorf("%s has %d START rows, want 1", name, starts)
		}
	}
	if got := f.jobRows(job)[schemas.OpStart]; got != 3 {
		t.Errorf("%d START rows for the job, want 3", got)
	}

	if _, err := f.m.Action(t.Context(), "resync", []string{"IDB1"}, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.m.Ledger.Row(first[0].InstanceID); ok {
		t.Fatalf("the resync left IDB1's START row %d", first[0].InstanceID)
	}
	again := f.startWith(t, job.Name, key)
	if !again[0].Duplicate {
		t.Errorf("retry after the resync: %+v, want IDB1's row a duplicate", again[0])
	}
	if _, ok := f.m.Ledger.Row(first[0].InstanceID); ok {
		t.Errorf("a retry brought back row %d, which the resync deleted", first[0].InstanceID)
	}
}

// A bad key is refused, naming what a key may hold, and nothing is posted.
func TestIntegrationStartIdempotencyKeyInvalid(t *testing.T) {
	f := idemFixture(t, "IDC1")
	job := f.apply(t, cmdJob(t, "Idem bad", "echo once", "IDC1")).Job
	msgs := f.instrMsgs(t)
	for _, tt := range []struct{ name, key string }{
		{"too long", strings.Repeat("k", 65)},
		{"space", "two words"},
		{"slash", "a/b"},
		{"dot", "a.b"},
		{"not ascii", "clé"},
		{"nul", "a\x00b"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.m.StartJobWith(t.Context(), job.Name, master.StartOptions{IdempotencyKey: tt.key})
			if !errors.Is(err, master.ErrInvalid) || !strings.Contains(err.Error(), "1 to 64") {
				t.Errorf("key %q: %v, want ErrInvalid saying what a key may hold", tt.key, err)
			}
		})
	}
	if got := f.instrMsgs(t); got != msgs {
		t.Errorf("refused keys stored %d instructions", got-msgs)
	}
	for _, key := range []string{"k", strings.Repeat("A", 64), "0123-abc_XYZ"} {
		if _, err := f.m.StartJobWith(t.Context(), job.Name, master.StartOptions{IdempotencyKey: key}); err != nil {
			t.Errorf("key %q: %v", key, err)
		}
	}
}
