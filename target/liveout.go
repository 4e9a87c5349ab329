package target

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/runner"
)

// Live output (runner mode): while a step runs, its output goes to the bus in chunks on core NATS,
// bus.OutputSubject(token, job_id), for the master to relay to whoever follows the job (msx job
// tail, the console). It is best effort and bounded, and never slows a step:
//
//   - a chunk is published every liveFlush, or as soon as liveChunk bytes wait;
//   - a step attempt sends at most liveRate bytes a second (bursts of liveChunk); what exceeds
//     it waits in a buffer of liveBuffer bytes, and what does not fit there is dropped, counted,
//     and said in the next chunk's Dropped;
//   - every message of a run has the next Seq, so a reader sees a message the bus lost;
//   - a step attempt's end (step_end) and the run's end (run_end) are messages too.
//
// The text is masked as history is: the runner masks the job's secret variables and the proxy
// executor a proxy's secrets (runner.LiveMask) before it gets here. History keeps the full
// output either way. In msdb mode SQL Server Agent runs the steps and there is no live output.
const (
	liveFlush  = 250 * time.Millisecond
	liveChunk  = schemas.MaxOutputChunkText // 16 KiB
	liveRate   = 32 << 10                   // bytes a second per step attempt
	liveBuffer = 64 << 10
)

// errLiveOffline: the agent is not connected to the bus; live output is not kept for later.
var errLiveOffline = errors.New("not connected to the bus")

// livePublisher publishes live output on nc while it is connected. While it reconnects, nats.go
// would keep what is published in its reconnect buffer, which the reports (results, heartbeats)
// need: live output is dropped instead (its seq shows the gap; history has the output).
func livePublisher(nc *nats.Conn) func(subj string, data []byte) error {
	return func(subj string, data []byte) error {
		if !nc.IsConnected() {
			return errLiveOffline
		}
		return nc.Publish(subj, data)
	}
}

// liveLimits are the bounds of a liveRun; tests make them small.
type liveLimits struct {
	flush              time.Duration
	chunk, rate, bufsz int
}

var defaultLiveLimits = liveLimits{flush: liveFlush, chunk: liveChunk, rate: liveRate, bufsz: liveBuffer}

// liveRun streams the live output of one run; it is the run's runner.LiveOutput.
type liveRun struct {
	publish func(subj string, data []byte) error
	log     *slog.Logger
	subj    string
	job     jobs.Job
	runID   string
	lim     liveLimits

	mu  sync.Mutex // orders seq with publishing
	seq uint64
}

// newLiveRun returns the live output of run runID of job from target token, or nil when publish
// is nil or the job's id cannot be a subject token (then the run has no live output).
func newLiveRun(publish func(string, []byte) error, log *slog.Logger, token string, job jobs.Job, runID string, lim liveLimits) *liveRun {
	if publish == nil || bus.CheckToken(token) != nil || bus.CheckToken(job.JobID) != nil {
		return nil
	}
	return &liveRun{publish: publish, log: log, subj: bus.OutputSubject(token, job.JobID), job: job, runID: runID, lim: lim}
}

// send publishes one message with the run's next Seq. A failed publish is logged and the
// message lost (core NATS; its Seq shows the gap).
func (l *liveRun) send(c schemas.OutputChunk) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	c.Type, c.JobID, c.JobName, c.RunID, c.Seq, c.Sent = schemas.TypeOutputChunk, l.job.JobID, l.job.Name, l.runID, l.seq, time.Now().UTC()
	b, err := json.Marshal(c)
	if err == nil {
		err = l.publish(l.subj, b)
	}
	if err != nil && l.log != nil {
		l.log.Debug("live output chunk not sent", "seq", c.Seq, "err", err)
	}
}

// Step starts the live output of one step attempt.
func (l *liveRun) Step(step jobs.Step, retry int) runner.LiveStep {
	s := &liveStep{run: l, step: step, retry: retry, tokens: float64(l.lim.chunk), last: time.Now(),
		wake: make(chan struct{}, 1), done: make(chan jobs.RunStatus, 1), ended: make(chan struct{})}
	go s.loop()
	return s
}

// End says the run ended with status.
func (l *liveRun) End(status jobs.RunStatus) {
	l.send(schemas.OutputChunk{Kind: schemas.OutputRunEnd, RunStatus: int(status)})
}

// liveStep is the live output of one step attempt: Write buffers (never blocks, drops what does
// not fit), loop publishes.
type liveStep struct {
	run   *liveRun
	step  jobs.Step
	retry int

	mu      sync.Mutex
	buf     []byte
	dropped int64
	tokens  float64 // bytes that may be sent now (token bucket of lim.rate, at most lim.chunk)
	last    time.Time

	wake  chan struct{}
	done  chan jobs.RunStatus
	ended chan struct{}
}

// Write keeps what fits in the buffer and counts the rest as dropped; it never fails or blocks.
func (s *liveStep) Write(p []byte) (int, error) {
	s.mu.Lock()
	room := s.run.lim.bufsz - len(s.buf)
	k := min(max(room, 0), len(p))
	s.buf = append(s.buf, p[:k]...)
	s.dropped += int64(len(p) - k)
	full := len(s.buf) >= s.run.lim.chunk
	s.mu.Unlock()
	if full {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// End publishes what is left and the attempt's end, and returns once they are sent.
func (s *liveStep) End(status jobs.RunStatus) {
	s.done <- status
	<-s.ended
}

func (s *liveStep) loop() {
	defer close(s.ended)
	t := time.NewTicker(s.run.lim.flush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flush(false)
		case <-s.wake:
			s.flush(false)
		case status := <-s.done:
			s.flush(true)
			s.run.send(schemas.OutputChunk{Kind: schemas.OutputStepEnd, StepID: s.step.StepID, StepName: s.step.StepName,
				Retry: s.retry, RunStatus: int(status)})
			return
		}
	}
}

// flush publishes what the rate allows (everything when final: at most the buffer), in chunks
// of at most lim.chunk bytes cut between UTF-8 characters. Dropped bytes are said in the first
// chunk after them, which may carry no text.
func (s *liveStep) flush(final bool) {
	lim := s.run.lim
	s.mu.Lock()
	now := time.Now()
	s.tokens = min(s.tokens+now.Sub(s.last).Seconds()*float64(lim.rate), float64(lim.chunk))
	s.last = now
	n := len(s.buf)
	if !final {
		n = min(n, int(s.tokens))
	}
	n = utf8Cut(s.buf, n, final)
	text := string(s.buf[:n])
	s.buf = append(s.buf[:0], s.buf[n:]...)
	s.tokens -= float64(n)
	dropped := s.dropped
	s.dropped = 0
	s.mu.Unlock()

	for first := true; first || text != ""; first = false {
		k := utf8Cut([]byte(text), min(len(text), lim.chunk), len(text) <= lim.chunk)
		if k == 0 && len(text) > 0 {
			k = min(len(text), lim.chunk) // not UTF-8 at all: cut anyway (the reader sees U+FFFD)
		}
		if k == 0 && dropped == 0 {
			return
		}
		s.run.send(schemas.OutputChunk{Kind: schemas.OutputText, StepID: s.step.StepID, StepName: s.step.StepName,
			Retry: s.retry, Text: toValidUTF8(text[:k]), Dropped: dropped})
		text, dropped = text[k:], 0
	}
}

// utf8Cut returns n, or less so that b[:n] does not end inside a UTF-8 character (unless all
// of b is taken, final).
func utf8Cut(b []byte, n int, all bool) int {
	if all && n == len(b) {
		return n
	}
	for i := n; i > 0 && n-i < utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i-1]) {
			if utf8.FullRune(b[i-1 : n]) {
				return n
			}
			return i - 1
		}
	}
	return n
}

// toValidUTF8 replaces each run of invalid bytes (a process may print anything) with '?', which
// never makes the text longer than its bound.
func toValidUTF8(s string) string { return strings.ToValidUTF8(s, "?") }
