package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// outputFixture is a fixture with targets SQL01 and SQL02 registered and job Nightly targeting
// both, and a connection to publish live output on as a target would.
type outputFixture struct {
	*fixture
	nc    *nats.Conn
	jobID string
}

func newOutputFixture(t testing.TB) *outputFixture {
	t.Helper()
	f := newFixture(t)
	for i, name := range []string{"SQL01", "SQL02"} {
		if err := f.m.Reg.PutTarget(t.Context(), registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), PollInterval: 60}); err != nil {
			t.Fatal(err)
		}
	}
	f.must(t, f.admin, "POST", "/api/v1/jobs", `{"name":"Nightly","steps":[{"step_name":"one","command":"SELECT 1"}],"targets":{"servers":["SQL01","SQL02"]}}`, nil)
	j, err := f.m.Catalog.Get("Nightly")
	if err != nil {
		t.Fatal(err)
	}
	return &outputFixture{fixture: f, nc: f.js.Conn(), jobID: j.JobID}
}

// chunk publishes a chunk of run R1 as server's target would.
func (f *outputFixture) chunk(t testing.TB, server string, c schemas.OutputChunk) {
	t.Helper()
	c.Type = schemas.TypeOutputChunk
	if c.JobID == "" {
		c.JobID = f.jobID
	}
	if c.RunID == "" {
		c.RunID = "R1"
	}
	if c.Kind == "" {
		c.Kind = schemas.OutputText
	}
	b, _ := json.Marshal(c)
	f.raw(t, server, b)
}

func (f *outputFixture) raw(t testing.TB, server string, b []byte) {
	t.Helper()
	if err := f.nc.Publish(bus.OutputSubject(jobs.ServerToken(server), f.jobID), b); err != nil {
		t.Fatal(err)
	}
}

// follow opens the output stream of Nightly on SQL01 as token and returns its events; it waits
// for the stream's opening comment, so that what is published next is followed.
func (f *outputFixture) follow(t *testing.T, token, server string) (<-chan client.Event, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	events := make(chan client.Event, 1000)
	opened := make(chan struct{})
	done := make(chan error, 1)
	c := &client.Client{Base: f.srv.URL, Token: token}
	go func() {
		done <- c.Stream(ctx, "/api/v1/jobs/Nightly/output?server="+server, func(ev client.Event) error {
			if ev.Comment {
				select {
				case <-opened:
				default:
					close(opened)
				}
				return nil
			}
			events <- ev
			return nil
		})
	}()
	select {
	case <-opened:
	case err := <-done:
		cancel()
		t.Fatalf("stream ended before it opened: %v", err)
	case <-time.After(patience):
		t.Fatal("stream did not open")
	}
	t.Cleanup(cancel)
	return events, cancel, done
}

func next(t *testing.T, events <-chan client.Event) (string, api.OutputEvent) {
	t.Helper()
	select {
	case ev := <-events:
		var o api.OutputEvent
		if err := json.Unmarshal(ev.Data, &o); err != nil {
			t.Fatalf("event %s data %q: %v", ev.Name, ev.Data, err)
		}
		return ev.Name, o
	case <-time.After(patience):
		t.Fatal("no event")
	}
	return "", api.OutputEvent{}
}

// TestOutputStream relays a run's chunks as output events and its end as end events, with the
// server taken from the subject.
func TestOutputStream(t *testing.T) {
	f := newOutputFixture(t)
	events, _, _ := f.follow(t, f.viewer, "sql01")
	f.chunk(t, "SQL01", schemas.OutputChunk{Seq: 1, StepID: 1, StepName: "one", Text: "line 1\n"})
	f.chunk(t, "SQL01", schemas.OutputChunk{Seq: 2, StepID: 1, StepName: "one", Text: "line 2\n", Dropped: 5})
	f.chunk(t, "SQL01", schemas.OutputChunk{Seq: 3, Kind: schemas.OutputStepEnd, StepID: 1, StepName: "one", RunStatus: 1})
	f.chunk(t, "SQL01", schemas.OutputChunk{Seq: 4, Kind: schemas.OutputRunEnd, RunStatus: 1})
	want := []struct {
		name  string
		scope string
		seq   uint64
		text  string
		drop  int64
	}{{"output", "", 1, "line 1\n", 0}, {"output", "", 2, "line 2\n", 5}, {"end", "step", 3, "", 0}, {"end", "run", 4, "", 0}}
	for _, w := range want {
		name, o := next(t, events)
		if name != w.name || o.Scope != w.scope || o.Seq != w.seq || o.Text != w.text || o.Dropped != w.drop ||
			o.Server != "SQL01" || o.Job != "Nightly" || o.RunID != "R1" {
			t.Fatalf("event %s %+v, want %+v", name, o, w)
		}
	}
}

// TestOutputStreamErrors: what is refused before a stream opens has the API's error shape.
func TestOutputStreamErrors(t *testing.T) {
	f := newOutputFixture(t)
	enlist, _ := f.token(t, auth.RoleEnlist, time.Hour)
	for _, tc := range []struct {
		name, token, path string
		status, code      int
		words             []string
	}{
		{"unknown job", f.viewer, "/api/v1/jobs/Nope/output?server=SQL01", 404, 14262, []string{"Nope"}},
		{"unknown server", f.viewer, "/api/v1/jobs/Nightly/output?server=SQL99", 404, 14262, []string{"SQL99"}},
		{"no server", f.viewer, "/api/v1/jobs/Nightly/output", 400, master.CodeBadRequest, []string{"?server="}},
		{"no token", "", "/api/v1/jobs/Nightly/output?server=SQL01", 401, master.CodeBadToken, []string{"Bearer"}},
		{"bad token", "msxv_nope", "/api/v1/jobs/Nightly/output?server=SQL01", 401, master.CodeBadToken, nil},
		{"enlistment token", enlist, "/api/v1/jobs/Nightly/output?server=SQL01", 401, master.CodeBadToken, []string{"enlistment token"}},
		{"server with a wildcard", f.viewer, "/api/v1/jobs/Nightly/output?server=SQL*", 404, 14262, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, f.do(t, tc.token, "GET", tc.path, ""), tc.status, tc.code, tc.words...)
		})
	}
}

// TestOutputStreamHostileChunks: a chunk on another target's subject is not this stream's; a
// chunk naming another job, an oversized one, text over the bound, and garbage are refused,
// never relayed, and counted in the next event's missed.
func TestOutputStreamHostileChunks(t *testing.T) {
	f := newOutputFixture(t)
	events, _, _ := f.follow(t, f.viewer, "SQL01")
	// SQL02's output of the same job (what a forged chunk would need to be to reach SQL01's
	// readers; bus.TestOutputSubjectPermissions proves SQL02 cannot publish on SQL01's subject).
	f.chunk(t, "SQL02", schemas.OutputChunk{Seq: 1, Text: "from SQL02"})
	f.chunk(t, "SQL01", schemas.OutputChunk{Seq: 1, Text: "other job", JobID: "another-job"})
	big := schemas.OutputChunk{Type: schemas.TypeOutputChunk, Kind: schemas.OutputText, JobID: f.jobID, RunID: "R1", Seq: 2,
		Text: strings.Repeat("\x01", schemas.MaxOutputChunkText)} // 16 KiB of text, 96 KiB escaped: within the message bound
	b, _ := json.Marshal(big)
	b = append(b[:len(b)-1], []byte(`,"pad":"`+strings.Repeat("x", schemas.MaxOutputChunkBytes)+`"}`)...)
	f.raw(t, "SQL01", b) // oversized message
	f.chunk(t, "SQL01", schemas.OutputChunk{Seq: 3, Text: strings.Repeat("y", schemas.MaxOutputChunkText+1)})
	f.raw(t, "SQL01", []byte(`{"type":"msx.output.chunk.v1","kind":"output","job_id":"`+f.jobID+`","run_id":"R1","seq":4,"text":"a"}{"more":1}`))
	f.raw(t, "SQL01", []byte("\x00\xff not json"))
	f.chunk(t, "SQL01", schemas.OutputChunk{Seq: 5, Kind: "exec", Text: "rm -rf"})
	f.raw(t, "SQL01", []byte(`{"type":"msx.output.chunk.v1","kind":"output","job_id":"`+f.jobID+`","run_id":"R1","seq":0,"text":"no seq"}`))
	f.chunk(t, "SQL01", schemas.OutputChunk{Seq: 6, Text: "real"})
	name, o := next(t, events)
	if name != "output" || o.Text != "real" || o.Seq != 6 || o.Missed != 7 {
		t.Fatalf("first event %s %+v: want the real chunk, seq 6, after 7 refused (SQL02's is not this stream's)", name, o)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %s %s", ev.Name, ev.Data)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestOutputStreamSlowReader: a reader that does not read does not block the master: the API
// answers, a second reader gets the stream with every gap accounted for, and the slow one is
// told what it missed, or dropped.
func TestOutputStreamSlowReader(t *testing.T) {
	f := newOutputFixture(t)
	// The slow reader: a raw request whose body nobody reads.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", f.srv.URL+"/api/v1/jobs/Nightly/output?server=SQL01", nil)
	req.Header.Set("Authorization", "Bearer "+f.viewer)
	slow, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close()
	fast, _, _ := f.follow(t, f.admin, "SQL01")
	const n = 3000
	text := strings.Repeat("z", 4<<10)
	for i := range n {
		f.chunk(t, "SQL01", schemas.OutputChunk{Seq: uint64(i + 1), Text: text})
	}
	if r := f.do(t, f.viewer, "GET", "/api/v1/jobs", ""); r.status != 200 {
		t.Fatalf("API while a reader stalls: %s", r)
	}
	// Then a chunk every 20 ms, as a step would send: a reader that missed the burst's last
	// chunks hears of them in the next one it gets.
	trickle := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		for seq := uint64(n + 1); ; seq++ {
			select {
			case <-trickle:
				return
			case <-time.After(20 * time.Millisecond):
			}
			c := schemas.OutputChunk{Type: schemas.TypeOutputChunk, Kind: schemas.OutputText, JobID: f.jobID, RunID: "R1", Seq: seq, Text: "tick\n"}
			b, _ := json.Marshal(c)
			_ = f.nc.Publish(bus.OutputSubject(jobs.ServerToken("SQL01"), f.jobID), b)
		}
	}()
	defer func() { close(trickle); <-trickled }()
	// The reading one keeps up as far as it can with a burst no target sends (a target sends
	// at most 32 KiB/s per step): every chunk it does not get is counted in missed, exactly.
	var prev uint64
	var fastMissed int64
	for prev < n {
		_, o := next(t, fast)
		if o.Seq != prev+1+uint64(o.Missed) {
			t.Fatalf("reader: event seq %d after %d with %d missed: a gap not accounted for", o.Seq, prev, o.Missed)
		}
		prev, fastMissed = o.Seq, fastMissed+o.Missed
	}
	t.Logf("reading reader missed %d of a burst of %d chunks", fastMissed, n)
	// Now the slow reader reads: it got the start, then either a gap it is told about, or the
	// end of a stream the master gave up writing to (streamWriteTimeout).
	var missed int64
	var last uint64
	idle := time.AfterFunc(time.Second, func() { slow.Body.Close() }) // it has read what there was
	defer idle.Stop()
	_ = client.ReadEvents(slow.Body, func(ev client.Event) error {
		idle.Reset(time.Second)
		if ev.Comment {
			return nil
		}
		var o api.OutputEvent
		if err := json.Unmarshal(ev.Data, &o); err != nil {
			return err
		}
		missed += o.Missed
		last = o.Seq
		if last >= n {
			return client.ErrStop
		}
		return nil
	})
	if last >= n && missed == 0 {
		t.Fatalf("the slow reader got all %d chunks: it was not slow, the test proves nothing", n)
	}
	t.Logf("slow reader: last seq %d, told of %d missed (a stream ended early was dropped by the master)", last, missed)
}

// TestOutputStreamBounds: a token holds at most 8 streams (429 past them); a stream ends its
// subscription when the client goes away, which frees its place.
func TestOutputStreamBounds(t *testing.T) {
	f := newOutputFixture(t)
	subs := f.nc.NumSubscriptions()
	var cancels []context.CancelFunc
	var dones []<-chan error
	for range 8 {
		_, cancel, done := f.follow(t, f.viewer, "SQL01")
		cancels, dones = append(cancels, cancel), append(dones, done)
	}
	if got := f.nc.NumSubscriptions() - subs; got != 8 {
		t.Fatalf("%d subscriptions for 8 streams", got)
	}
	wantErr(t, f.do(t, f.viewer, "GET", "/api/v1/jobs/Nightly/output?server=SQL01", ""), http.StatusTooManyRequests, master.CodeBadRequest, "8")
	// Another token is not held back by this one's streams.
	_, cancelAdmin, _ := f.follow(t, f.admin, "SQL02")
	cancelAdmin()
	cancels[0]()
	if err := <-dones[0]; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled stream ended with %v", err)
	}
	waitFor(t, patience, func() bool { return f.nc.NumSubscriptions()-subs == 7 }, "the closed streams' subscriptions to end")
	f.follow(t, f.viewer, "SQL01") // the place is free again
}

// TestOutputStreamEndsOnShutdown: an open stream does not hold up the API's shutdown (with
// CloseStreams registered, as msx up and msx master do): the client sees the stream end.
func TestOutputStreamEndsOnShutdown(t *testing.T) {
	f := newOutputFixture(t)
	f.srv.Config.RegisterOnShutdown(f.h.CloseStreams)
	_, _, done := f.follow(t, f.viewer, "SQL01")
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	if err := f.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open stream: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the stream ended with %v, want its end (nil)", err)
		}
	case <-time.After(patience):
		t.Fatal("the stream did not end")
	}
}
