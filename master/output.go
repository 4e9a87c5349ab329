package master

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
)

// Live output relay. A target streams a running step's output on core NATS,
// bus.OutputSubject(token, job_id) (target/liveout.go); FollowOutput subscribes to one
// target's output of one job for one reader (an API stream). Core NATS is cluster-wide, so a
// standby master relays as well as the leader. Nothing is stored: a reader sees what is
// published while it follows, and history keeps the full output.
//
// What the relay trusts: the target is the subject's token (with Auth, only that target's
// account can publish there), never the payload; each message is bounded
// (schemas.MaxOutputChunkBytes), decoded and checked (OutputChunk.Validate), and must name the
// job the subject names. A message that fails is refused and counted, never relayed. The
// relay never blocks the master's connection: each stream has a bounded queue, and what a slow
// reader leaves no room for is counted as missed and said in the next event it gets.

// outputQueue is the most chunks waiting for one reader: at most 1 MiB of text (16 KiB a chunk),
// 16 s of one step's chunks at the target's 250 ms cadence.
const outputQueue = 64

// OutputEvent is one chunk relayed to a reader, with the target and job it came from.
type OutputEvent struct {
	// Server is the target's canonical name (from the subject's token), Job the job's name.
	Server string
	Job    string
	Chunk  schemas.OutputChunk
	// Missed counts the messages before this one that the reader was too slow for, or that
	// were refused (malformed, oversized, another job's): gone for good.
	Missed int64
}

// OutputStream is one reader's subscription to a target's live output of a job.
type OutputStream struct {
	// Server and Job are the canonical server name and the job's name.
	Server, Job string
	// C delivers the chunks in the order they came; it is never closed (Close ends delivery).
	C <-chan OutputEvent

	c       chan OutputEvent
	sub     *nats.Subscription
	jobID   string
	missed  atomic.Int64
	refused atomic.Int64
	once    sync.Once
	onBad   func(why string)
}

// FollowOutput starts relaying the live output of job (by name) on server (by name). Both must
// exist (14262 otherwise). Close the stream when done.
func (m *Master) FollowOutput(server, job string) (*OutputStream, error) {
	t, err := m.Target(server)
	if err != nil {
		return nil, err
	}
	j, err := m.Catalog.Get(job)
	if err != nil {
		return nil, err
	}
	if bus.CheckToken(t.Token) != nil || bus.CheckToken(j.JobID) != nil {
		return nil, fmt.Errorf("%w: job '%s' on %s has no live output subject", ErrInvalid, j.Name, t.ServerName)
	}
	s := &OutputStream{Server: t.ServerName, Job: j.Name, c: make(chan OutputEvent, outputQueue), jobID: j.JobID}
	s.C = s.c
	s.onBad = func(why string) {
		m.log.Warn("live output chunk refused", "server", t.ServerName, "job", j.Name, "reason", why)
	}
	s.sub, err = m.nc.Subscribe(bus.OutputSubject(t.Token, j.JobID), s.deliver)
	if err != nil {
		return nil, fmt.Errorf("follow the output of job '%s' on %s: %w", j.Name, t.ServerName, err)
	}
	// The reader's queue bounds memory; the subscription's own limits stay NATS's defaults.
	if err := m.nc.Flush(); err != nil { // the server knows the subscription before we return
		_ = s.sub.Unsubscribe()
		return nil, fmt.Errorf("follow the output of job '%s' on %s: %w", j.Name, t.ServerName, err)
	}
	return s, nil
}

// deliver checks one message and queues it without ever blocking.
func (s *OutputStream) deliver(msg *nats.Msg) {
	c, err := DecodeOutputChunk(msg.Data)
	if err == nil && c.JobID != s.jobID {
		err = fmt.Errorf("%w: job_id %q is not the subject's %q", schemas.ErrOutputChunk, c.JobID, s.jobID)
	}
	if err != nil {
		s.missed.Add(1)
		if s.refused.Add(1) <= 10 { // enough to diagnose; a flood does not flood the log
			s.onBad(err.Error())
		}
		return
	}
	ev := OutputEvent{Server: s.Server, Job: s.Job, Chunk: c}
	ev.Missed = s.missed.Swap(0)
	select {
	case s.c <- ev:
	default:
		s.missed.Add(ev.Missed + 1)
	}
}

// Close ends the subscription; it is safe to call more than once.
func (s *OutputStream) Close() {
	s.once.Do(func() { _ = s.sub.Unsubscribe() })
}

// ErrChunkTooLarge: a live output message over schemas.MaxOutputChunkBytes.
var ErrChunkTooLarge = errors.New("live output message too large")

// DecodeOutputChunk decodes and checks one live output message: at most
// schemas.MaxOutputChunkBytes, valid against its JSON Schema (schemas.Decode), and
// OutputChunk.Validate (text bounded in bytes, valid UTF-8).
func DecodeOutputChunk(data []byte) (schemas.OutputChunk, error) {
	var c schemas.OutputChunk
	if len(data) > schemas.MaxOutputChunkBytes {
		return c, fmt.Errorf("%w: %d bytes, at most %d", ErrChunkTooLarge, len(data), schemas.MaxOutputChunkBytes)
	}
	if err := schemas.Decode(data, &c); err != nil {
		return c, fmt.Errorf("%w: %w", schemas.ErrOutputChunk, err)
	}
	return c, c.Validate()
}
