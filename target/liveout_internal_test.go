package target

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// liveSub subscribes to the live output of SQL01's job J1 on a real NATS server and returns a
// publisher for a liveRun, and a function that reads the next chunk.
func liveSub(t *testing.T) (func(string, []byte) error, func() schemas.OutputChunk) {
	t.Helper()
	s := bustest.RunServer(t, t.TempDir())
	nc, _ := bustest.Connect(t, s.ClientURL())
	sub, err := nc.SubscribeSync(bus.OutputSubject("SQL01", "J1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	pnc, _ := bustest.Connect(t, s.ClientURL())
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	next := func() schemas.OutputChunk {
		t.Helper()
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no chunk: %v", err)
		}
		var c schemas.OutputChunk
		if err := json.Unmarshal(m.Data, &c); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("chunk %+v: %v", c, err)
		}
		return c
	}
	return func(subj string, b []byte) error { return pnc.Publish(subj, b) }, next
}

// TestLiveRunChunksAndEnds checks a step attempt's chunks: sequence numbers from 1 with no gap,
// the text as written, a step_end with the status, then the run_end.
func TestLiveRunChunksAndEnds(t *testing.T) {
	pub, next := liveSub(t)
	job := jobs.Job{JobID: "J1", Name: "Nightly"}
	l := newLiveRun(pub, nil, "SQL01", job, "R1", liveLimits{flush: 20 * time.Millisecond, chunk: 8, rate: 1 << 20, bufsz: 1 << 10})
	st := l.Step(jobs.Step{StepID: 2, StepName: "two"}, 1)
	_, _ = st.Write([]byte("hello "))
	_, _ = st.Write([]byte("wörld, more than a chunk\n"))
	st.End(jobs.RunFailed)
	l.End(jobs.RunFailed)
	var text strings.Builder
	for seq := uint64(1); ; seq++ {
		c := next()
		if c.Seq != seq {
			t.Fatalf("seq %d, want %d", c.Seq, seq)
		}
		if c.JobName != "Nightly" || c.RunID != "R1" || c.JobID != "J1" {
			t.Fatalf("chunk %+v", c)
		}
		switch c.Kind {
		case schemas.OutputText:
			if len(c.Text) > 8 || c.StepID != 2 || c.StepName != "two" || c.Retry != 1 {
				t.Fatalf("text chunk %+v: over the chunk size or without its step", c)
			}
			text.WriteString(c.Text)
			continue
		case schemas.OutputStepEnd:
			if c.RunStatus != int(jobs.RunFailed) || text.String() != "hello wörld, more than a chunk\n" {
				t.Fatalf("step end %+v after text %q", c, text.String())
			}
			c = next()
			if c.Kind != schemas.OutputRunEnd || c.Seq != seq+1 || c.RunStatus != int(jobs.RunFailed) {
				t.Fatalf("run end %+v", c)
			}
			return
		default:
			t.Fatalf("unexpected %+v", c)
		}
	}
}

// TestLiveStepDropsWhatExceedsItsBounds writes far more than the rate and buffer allow, at
// once: Write never blocks, what is sent stays within the bounds, and every byte is either
// sent or counted as dropped.
func TestLiveStepDropsWhatExceedsItsBounds(t *testing.T) {
	pub, next := liveSub(t)
	lim := liveLimits{flush: 10 * time.Millisecond, chunk: 1 << 10, rate: 4 << 10, bufsz: 8 << 10}
	l := newLiveRun(pub, nil, "SQL01", jobs.Job{JobID: "J1", Name: "flood"}, "R1", lim)
	st := l.Step(jobs.Step{StepID: 1, StepName: "flood"}, 0)
	line := strings.Repeat("x", 99) + "\n"
	const lines = 10_000 // 1 MB
	start := time.Now()
	for range lines {
		_, _ = st.Write([]byte(line))
	}
	st.End(jobs.RunSucceeded)
	// The most the bounds let through: a burst, the rate for the time it took, and the buffer.
	most := int64(lim.chunk+lim.bufsz) + int64(time.Since(start).Seconds()*float64(lim.rate)) + 1
	var sent, dropped int64
	for {
		c := next()
		if c.Kind == schemas.OutputStepEnd {
			break
		}
		if len(c.Text) > lim.chunk {
			t.Fatalf("chunk of %d bytes, bound %d", len(c.Text), lim.chunk)
		}
		sent += int64(len(c.Text))
		dropped += c.Dropped
	}
	if sent+dropped != lines*100 {
		t.Fatalf("sent %d + dropped %d != written %d", sent, dropped, lines*100)
	}
	if dropped == 0 || sent > most {
		t.Fatalf("sent %d (bound %d), dropped %d: the rate and buffer did not bound a flood", sent, most, dropped)
	}
}

// TestLiveRunRefusesBadTokens: a job id that cannot be a subject token gets no live output
// (and no panic from the subject builder).
func TestLiveRunRefusesBadTokens(t *testing.T) {
	pub := func(string, []byte) error { return nil }
	for _, id := range []string{"", "a.b", "a*", "a b", strings.Repeat("x", 200)} {
		if l := newLiveRun(pub, nil, "SQL01", jobs.Job{JobID: id}, "R1", defaultLiveLimits); l != nil {
			t.Fatalf("job id %q got live output", id)
		}
	}
}

// TestLivePublisherDropsWhileOffline: while the agent reconnects, live output is refused at
// once instead of filling the reconnect buffer the reports need.
func TestLivePublisherDropsWhileOffline(t *testing.T) {
	s := bustest.RunServer(t, t.TempDir())
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub := livePublisher(nc)
	if err := pub(bus.OutputSubject("SQL01", "J1"), []byte("{}")); err != nil {
		t.Fatalf("connected: %v", err)
	}
	s.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for nc.IsConnected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := pub(bus.OutputSubject("SQL01", "J1"), []byte("{}")); !errors.Is(err, errLiveOffline) {
		t.Fatalf("offline: %v, want %v", err, errLiveOffline)
	}
	if n, _ := nc.Buffered(); n > 0 {
		t.Fatalf("%d bytes of live output in the reconnect buffer", n)
	}
}
